namespace Noex.Lite;

// The full sync of protocol.md §5.4, streamed: a registrar's own claims go to one peer a part at a time, each part built
// from the table as it is at the moment the part is queued, and queued only while the connection's outbound queue has
// room. A million names cost one part of memory and one part of lock time at a time, not the table at once.
public sealed partial class GlobalRegistry
{
    /// <summary>Names a stream looks at per hold of the lock when few of them are this node's own: bounds the lock time
    /// of one step (a few hundred µs) on a node that holds a large table of other nodes' names.</summary>
    private const int ScanPerStep = 16 * EntriesPerSync;

    /// <summary>The share of a connection's outbound queue a sync may fill: a sync is background traffic, and calls and
    /// casts must find room while a large one streams. 1 MiB keeps the write loop's batches full (a 1M-name table is
    /// about 60 MB), and half the bound leaves the other half to the rest on a node configured with a small queue.</summary>
    private static long SyncQueueShare(NodeOptions options) => Math.Min(1024 * 1024, options.MaxOutboundQueueBytes / 2);

    /// <summary>
    /// Starts a full sync of this node's own claims to <paramref name="connection"/>, unless one is being streamed to it
    /// already. Under <see cref="_lock"/>; queues the first part now (so that it precedes every later change on the
    /// connection), and streams the rest from the thread pool.
    /// </summary>
    /// <remarks>
    /// A sync_request that arrives while a stream to its sender runs is answered by that stream. The requester sends one
    /// only when its copy differs and no sync of this node's is in progress at its end (<see cref="OnDigest"/>), and it
    /// reads this connection in order: it sent the request before it read the running stream's first part. That part
    /// starts its copy afresh, and the stream's last part leaves it equal to this node's set as it then is, which is
    /// what the request asks for; a second stream would only send the table again.
    /// </remarks>
    private void StartSync(Connection connection)
    {
        if (_streams.ContainsKey(connection))
        {
            // Under the lock, like every other write of the counter: no lost update.
            Interlocked.Increment(ref _syncRequestsCoalesced);
            return;
        }
        if (connection.IsClosed)
        {
            return;
        }
        var stream = new SyncStream(this, connection);
        _streams.Add(connection, stream);
        if (stream.Step() != SyncStep.Done)
        {
            _ = Task.Run(stream.RunAsync);
        }
    }

    /// <summary>Ends the stream to a connection that closed (under <see cref="_lock"/>); its task sees it and stops.</summary>
    private void EndSync(Connection connection)
    {
        if (_streams.TryGetValue(connection, out var stream))
        {
            stream.End();
        }
    }

    /// <summary>This node's own live claim of <paramref name="name"/>, or null (under <see cref="_lock"/>): a claim whose
    /// host departed is gone, though the cleanup may not have taken it out yet.</summary>
    private Entry? OwnClaim(string name)
    {
        if (_claims.TryGetValue(name, out var claims))
        {
            foreach (var entry in claims)
            {
                if (entry.RegistrarText == _self && !entry.IsDead)
                {
                    return entry;
                }
            }
        }
        return null;
    }

    private enum SyncStep : byte
    {
        /// <summary>A part was queued, or names were looked at: step again.</summary>
        More,

        /// <summary>The queue holds its share: wait until the write loop takes a batch.</summary>
        Full,

        /// <summary>The last part was queued, or the connection closed.</summary>
        Done,
    }

    /// <summary>
    /// One full sync to one connection (protocol.md §5.4), a part per step. Each step runs under the registry's lock and
    /// holds it for one part at most: up to <see cref="ScanPerStep"/> names looked at and one part queued.
    /// </summary>
    /// <remarks>
    /// <para>
    /// <b>Why the receiver ends with the registrar's set.</b> Registrations, withdrawals and process ends are broadcast
    /// under the lock, so this connection carries them and the parts in the order the table changed. The receiver sets
    /// aside, at the first part, every claim of this node it holds (its <c>unconfirmed</c> set), takes each part's claims,
    /// and at the last part drops what stayed unconfirmed. Three things make that right while the table changes:
    /// </para>
    /// <list type="number">
    /// <item>A part carries a claim as the table holds it when the part is queued: it names claims, and each is looked up
    /// again in the step that queues it. A claim a broadcast removed or replaced before that step is gone from the table,
    /// so the part never brings back what the receiver was told is gone.</item>
    /// <item>The receiver's unconfirmed set holds only claims the table held when the first part was queued (claims made
    /// later reach the receiver after that part, as registers, and are never unconfirmed). The walk over the names starts
    /// in the step that queues the first part (a first part that finds no room starts it again), so every claim of that
    /// set still held at the end was held for the whole walk and is named by some part: the walk is
    /// <see cref="System.Collections.Concurrent.ConcurrentDictionary{TKey,TValue}"/>'s enumerator over the visible names,
    /// which yields every key present throughout (keys added meanwhile may or may not come, keys removed meanwhile may
    /// come and are then not found). An own claim is always the visible winner (a losing one is withdrawn at once), so its
    /// name is visible for as long as the claim is held.</item>
    /// <item>One stream per connection: a sync_request meanwhile is answered by the running stream
    /// (<see cref="StartSync"/>), so two streams' first and last parts never interleave on one connection. A reconnect
    /// is another connection: the old one closed and its stream with it.</item>
    /// </list>
    /// <para>
    /// Memory: one part (the names picked and their entries) and the enumerator. A stream queues only while the outbound
    /// queue holds less than its share (<see cref="SyncQueueShare"/>) and never forces past the bound; it waits for room
    /// with the queue's own signal (<see cref="Connection.WaitForSpaceAsync(long, CancellationToken)"/>, which a closing connection completes too).
    /// </para>
    /// </remarks>
    private sealed class SyncStream(GlobalRegistry registry, Connection connection)
    {
        private readonly long _share = SyncQueueShare(registry._node.Options);
        private readonly List<string> _names = new(EntriesPerSync);
        private readonly List<WireEntry> _part = new(EntriesPerSync);
        private IEnumerator<KeyValuePair<string, Entry>>? _walk;
        private bool _walked;
        private bool _started;
        private bool _ended;

        /// <summary>Streams the parts after the first, waiting for room between them; on the thread pool.</summary>
        public async Task RunAsync()
        {
            try
            {
                while (true)
                {
                    // Completes at once while the queue is below its share; otherwise when the write loop takes a batch,
                    // or the connection closes (the step then finds it closed).
                    await connection.WaitForSpaceAsync(_share, CancellationToken.None).ConfigureAwait(false);
                    lock (registry._lock)
                    {
                        if (Step() == SyncStep.Done)
                        {
                            return;
                        }
                    }
                }
            }
            catch (Exception e)
            {
                // Not expected (an encoder's failure): the peer's copy is left incomplete, so the link goes rather than
                // staying up with a copy that no digest comparison would repair while it counts as syncing.
                lock (registry._lock)
                {
                    End();
                }
                connection.Close(NodeDownReason.ProtocolError, e);
            }
        }

        /// <summary>Queues the next part if there is room (under the registry's lock).</summary>
        public SyncStep Step()
        {
            if (_ended)
            {
                return SyncStep.Done;
            }
            if (connection.QueuedBytes >= _share)
            {
                return SyncStep.Full;
            }
            if (!_started)
            {
                // The walk starts in the step that queues the first part (point 2 of the remarks).
                _walk?.Dispose();
                _walk = registry._visible.GetEnumerator();
                _walked = false;
                _names.Clear();
            }
            for (var budget = ScanPerStep; _names.Count < EntriesPerSync && !_walked && budget > 0; budget--)
            {
                if (!_walk!.MoveNext())
                {
                    _walked = true;
                    break;
                }
                var name = _walk.Current.Key;
                if (registry.OwnClaim(name) is not null)
                {
                    _names.Add(name);
                }
            }
            if (_started && _names.Count < EntriesPerSync && !_walked)
            {
                // The budget ran out among other nodes' names: let go of the lock and go on; the names picked are looked
                // up again when their part is queued.
                return SyncStep.More;
            }
            _part.Clear();
            foreach (var name in _names)
            {
                if (registry.OwnClaim(name) is { } entry)
                {
                    _part.Add(new WireEntry(entry.Name, entry.Target, entry.HostIncarnation, entry.Stamp));
                }
            }
            var flags = (byte)((_started ? 0 : SyncFirst) | (_walked ? SyncLast : 0));
            switch (connection.TryEnqueue(new SyncMessage(flags, _part, 0, _part.Count)))
            {
                case EnqueueResult.Queued:
                    break;
                case EnqueueResult.Full:
                    // Filled by others since the check above: the names wait for the next step (a first part starts over).
                    return SyncStep.Full;
                default:
                    End();
                    return SyncStep.Done;
            }
            _started = true;
            _names.Clear();
            var queued = connection.QueuedBytes;
            if (queued > Interlocked.Read(ref registry._syncPeakQueuedBytes))
            {
                // Only under the lock: no lost update.
                Interlocked.Exchange(ref registry._syncPeakQueuedBytes, queued);
            }
            if (_walked)
            {
                End();
                return SyncStep.Done;
            }
            return SyncStep.More;
        }

        /// <summary>Stops the stream and forgets it (under the registry's lock); a no-op once ended.</summary>
        public void End()
        {
            if (_ended)
            {
                return;
            }
            _ended = true;
            _walk?.Dispose();
            _walk = null;
            _names.Clear();
            _part.Clear();
            if (registry._streams.TryGetValue(connection, out var current) && ReferenceEquals(current, this))
            {
                registry._streams.Remove(connection);
            }
        }
    }
}
