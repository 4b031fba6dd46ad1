using System.Buffers;

namespace Noex.Lite;

// Replication (protocol.md §5.4): each registrar sends its own claims to its peers, one by one and as full syncs when a
// connection comes up; connections and process ends prune the table; periodic digests find stale copies and repair them.
public sealed partial class GlobalRegistry
{
    /// <summary>The cause a connection closes with when a register's stamp is refused (<see cref="ConnectionCause"/>).</summary>
    private const string StampInRegister = ConnectionCause.StampKind + ":register";

    /// <summary>The cause when a stamp in a sync is refused.</summary>
    private const string StampInSync = ConnectionCause.StampKind + ":sync";

    private void Broadcast<TMessage>(in TMessage message)
        where TMessage : struct, IOutboundMessage
    {
        // Under _lock, so that every peer receives one registrar's changes in the order its table made them. Forced past
        // the queue bound: registry messages are few and small, and a dropped one would leave a peer's copy stale
        // until the next digest.
        foreach (var connection in _node.Connections.GetConnections())
        {
            connection.TryEnqueue(message, force: true);
        }
    }

    // ---- lifecycle and connections -------------------------------------------------------------------------------

    private void OnLifecycle(LifecycleEvent e)
    {
        if (e.Kind == LifecycleEventKind.Terminated && e.Process.Node == _self)
        {
            OnLocalProcessEnded(e.Process);
        }
    }

    /// <summary>A process of this node ended: its names go here, and every peer is told (this node speaks for its processes).</summary>
    private void OnLocalProcessEnded(ProcessRef process)
    {
        var events = new EventList();
        lock (_lock)
        {
            if (!_byTarget.TryGetValue(process, out var entries))
            {
                return;
            }
            foreach (var entry in entries.ToArray())
            {
                Remove(entry, events);
            }
            Broadcast(new ProcessEndedMessage(process.Id, _node.Incarnation));
        }
        Raise(events);
    }

    void IClusterService.OnConnectionUp(Connection connection)
    {
        var peer = connection.PeerText;
        var incarnation = connection.PeerIncarnation;
        lock (_lock)
        {
            // Claims of the peer's earlier runs (registered by it, or naming its processes) died with them: they depart
            // now, in O(runs of the peer), and the cleanup takes them out after the node-up event.
            Depart(peer, incarnation, only: false);
            // Rare (the close of the older run departs it already, unless this node never heard of it): no notice to
            // wait for here.
            StartCleanup();
            // The first part now, the rest streamed from the pool: O(part) here (GlobalRegistry.Sync.cs).
            StartSync(connection);
        }
    }

    /// <summary>
    /// Whether the live connection to <paramref name="peer"/> has delivered the peer's full set (its first sync's last
    /// part): until then this node may not show a name the peer holds. A named distributed supervisor waits for it before
    /// it claims its name after a heal.
    /// </summary>
    internal bool HasSyncedWith(NodeId peer)
    {
        if (!_node.Connections.TryGetConnection(peer, out var connection))
        {
            return false;
        }
        lock (_lock)
        {
            return _syncedFrom.Contains(connection);
        }
    }

    void IClusterService.OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        var peer = connection.PeerText;
        var incarnation = connection.PeerIncarnation;
        lock (_lock)
        {
            EndSync(connection);
            _syncing.Remove(peer);
            _syncedFrom.Remove(connection);
            // A replaced duplicate connection to the same run of the peer is no loss: the other one carries on.
            if (_node.Connections.TryGetConnection(peer, out var other) && other.PeerIncarnation == incarnation)
            {
                return;
            }
            // The node-down event and the monitors' down messages come after this: the run's claims die here in O(1)
            // and leave the table afterwards (GlobalRegistry.Departures.cs).
            Depart(peer, incarnation, only: true);
        }
    }

    void IClusterService.AfterConnectionClosed(Connection connection)
    {
        lock (_lock)
        {
            // The node-down event is out: the departed run's claims may leave the table now.
            StartCleanup();
        }
    }

    void IClusterService.OnTick()
    {
        // Timer callbacks may overlap on a stalled machine: the count must not lose a tick.
        if (Interlocked.Increment(ref _ticks) % DigestEveryTicks != 0)
        {
            return;
        }
        lock (_lock)
        {
            if (_departing.Count != 0)
            {
                // The digests count the dead claims still in the table, which the peers may have taken out already: a
                // comparison now would ask for a full sync for nothing. The next tick after the cleanup sends it.
                return;
            }
            var digest = _digests.GetValueOrDefault(_self);
            Broadcast(new DigestMessage(digest.Count, digest.Sum));
        }
    }

    // ---- messages from peers (protocol.md §5.4) -------------------------------------------------------------------

    bool IClusterService.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        var body = new WireReader(message[1..]);
        switch (message[0])
        {
            case MessageTypes.Register when WireEntry.TryRead(ref body, out var wire) && body.End:
                Apply(connection, [wire], sync: 0);
                return true;
            case MessageTypes.Unregister when body.TryReadStr8(out var name) && name.Length != 0 && body.End:
                OnUnregister(connection.PeerText, name);
                return true;
            case MessageTypes.ProcessEnded when body.TryReadInt64(out var processId) && body.TryReadUInt64(out var incarnation) && body.End:
                OnRemoteProcessEnded(new ProcessRef(connection.PeerText, processId), incarnation);
                return true;
            case MessageTypes.Sync when body.TryReadByte(out var flags) && body.TryReadUInt16(out var count):
                return OnSync(connection, ref body, flags, count);
            case MessageTypes.Digest when body.TryReadUInt32(out var claims) && body.TryReadUInt64(out var sum) && body.End:
                OnDigest(connection, new SetDigest((int)Math.Min(claims, int.MaxValue), sum));
                return true;
            case MessageTypes.SyncRequest when body.End:
                lock (_lock)
                {
                    StartSync(connection);
                }
                return true;
            default:
                // A wrong length, a malformed entry, or 0x26-0x27 (reserved).
                return false;
        }
    }

    /// <summary>Reads a sync's entries and applies them; false when the sync is malformed.</summary>
    private bool OnSync(Connection connection, ref WireReader body, byte flags, int count)
    {
        // Each entry takes at least 28 bytes: a count the rest cannot hold is a lie, refused before allocating.
        if ((flags & ~(SyncFirst | SyncLast)) != 0 || count > EntriesPerSync * 4 || count * WireEntry.MinLength > body.Remaining)
        {
            return false;
        }
        var entries = new WireEntry[count];
        for (var i = 0; i < count; i++)
        {
            if (!WireEntry.TryRead(ref body, out entries[i]))
            {
                return false;
            }
        }
        if (!body.End)
        {
            return false;
        }
        Apply(connection, entries, flags == 0 ? (byte)4 : flags);
        return true;
    }

    /// <summary>
    /// The stamp of a claim made now (protocol.md §5.4): the hybrid logical clock's <paramref name="last"/> stamp (made or
    /// seen here) or the wall clock <paramref name="now"/>, whichever is later.
    /// </summary>
    /// <remarks>
    /// Not <c>last + 1</c>: that ran the clock one millisecond ahead of the wall clock per claim above one claim a
    /// millisecond (a million names registered in a minute put it 16 minutes ahead), and peers refuse stamps more than
    /// <see cref="MaxStampSkew"/> ahead of their own clocks (issue #21). Stamps need not be unique: the order of §5.4 goes
    /// on to the registrar's id and incarnation, and a registrar run holds at most one claim of a name, so two claims of a
    /// name never tie. A sub-millisecond counter in the stamp would buy nothing the order could use: a peer of an earlier
    /// build cannot see it, so claims of one millisecond must be ordered by registrar for every node to pick one winner.
    /// </remarks>
    internal static long NextStamp(long last, long now) => Math.Max(last, now);

    /// <summary>
    /// Why a claim's <paramref name="stamp"/> is not one its registrar could have made (protocol.md §5.4), or null. A
    /// registrar stamps with its own clock, never below its start (the high 48 bits of
    /// <paramref name="registrarIncarnation"/>), and no honest clock runs more than <see cref="MaxStampSkew"/> ahead of
    /// <paramref name="now"/>, this node's clock. A register (<paramref name="register"/>) is sent as it is made, so its
    /// stamp is also no older than <paramref name="now"/> less the skew; only a sync carries claims made earlier.
    /// </summary>
    internal static string? StampError(long stamp, ulong registrarIncarnation, long now, bool register)
    {
        var skew = (long)MaxStampSkew.TotalMilliseconds;
        var start = (long)(registrarIncarnation >> 16) - skew;
        var latest = now + skew;
        return stamp < start ? $"with stamp {stamp}, before the registrar could have stamped anything ({start}: its start less the skew)"
            : register && stamp < now - skew ? $"with stamp {stamp} in a register, {now - skew - stamp} ms older than a new claim can be ({now - skew}: this node's clock less the skew)"
            : stamp > latest ? $"with stamp {stamp}, {stamp - latest} ms past the latest this node accepts ({latest}: its clock plus the skew)"
            : null;
    }

    /// <summary>
    /// Applies claims from the registrar at the other end of <paramref name="connection"/>: one registration
    /// (<paramref name="sync"/> 0) or a part of a full sync (its flags; 4 for a middle part).
    /// </summary>
    private void Apply(Connection connection, WireEntry[] wires, byte sync)
    {
        var now = _node.Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var wire in wires)
        {
            if (StampError(wire.Stamp, connection.PeerIncarnation, now, register: sync == 0) is { } error)
            {
                // Not a claim its registrar could have made: refused before it can win a name or move this node's clock.
                Telemetry.Count(Telemetry.ClaimsRefused, 1, "cause", "stamp");
                connection.Close(NodeDownReason.ProtocolError, new NoexException($"Global name '{wire.Name}' claimed by {connection.Peer} {error}"),
                    cause: sync == 0 ? StampInRegister : StampInSync);
                return;
            }
        }
        var events = new EventList();
        var peer = connection.PeerText;
        var syncedCount = -1;
        lock (_lock)
        {
            HashSet<Entry>? unconfirmed = null;
            if ((sync & SyncFirst) != 0)
            {
                // Everything the peer had is unconfirmed until the sync names it again; the rest goes at the last part.
                unconfirmed = new HashSet<Entry>(ReferenceEqualityComparer.Instance);
                // The peer's live claims are those of its runs in the index (older runs departed when it connected): found
                // through their pairs, in O(its claims), not by a walk over the table.
                foreach (var e in ClaimsRegisteredBy(peer))
                {
                    unconfirmed.Add(e);
                }
                _syncing[peer] = unconfirmed;
            }
            else if (sync != 0)
            {
                _syncing.TryGetValue(peer, out unconfirmed);
            }
            foreach (var wire in wires)
            {
                if (wire.Stamp > _clock)
                {
                    // The hybrid logical clock: a later registration here is stamped after every one seen.
                    _clock = wire.Stamp;
                }
                if (wire.Target.Node == _self && (wire.HostIncarnation != _node.Incarnation || !_runtime.IsAlive(wire.Target)))
                {
                    // A claim for a process of this node that is not running: this node speaks for its processes, so it
                    // tells everyone, and the registrar withdraws it.
                    Broadcast(new ProcessEndedMessage(wire.Target.Id, wire.HostIncarnation));
                    continue;
                }
                // A dead claim of the peer's (an earlier connection's) is not the one this claim replaces or confirms.
                SettleDead(wire.Name, events);
                var existing = _claims.TryGetValue(wire.Name, out var claims) ? claims.Find(e => e.RegistrarText == peer) : null;
                if (existing is not null && existing.Matches(wire, connection.PeerIncarnation))
                {
                    unconfirmed?.Remove(existing);
                    continue;
                }
                var entry = new Entry(wire.Name, wire.Target, wire.HostIncarnation, wire.Stamp, connection.Peer, peer, connection.PeerIncarnation);
                if (existing is not null)
                {
                    unconfirmed?.Remove(existing);
                }
                Add(entry, events);
            }
            if ((sync & SyncLast) != 0 && unconfirmed is not null)
            {
                foreach (var stale in unconfirmed)
                {
                    Remove(stale, events);
                }
                _syncing.Remove(peer);
                _syncedFrom.Add(connection);
                syncedCount = LiveClaimCount(peer);
            }
        }
        Raise(events);
        if (syncedCount >= 0)
        {
            RaiseEach(Synced, (connection.Peer, syncedCount), static (h, a) => h(a.Peer, a.syncedCount));
        }
    }

    private void OnUnregister(string peer, string name)
    {
        var events = new EventList();
        lock (_lock)
        {
            // Only a live claim is the sender's: a dead one of the same node is an earlier connection's.
            SettleDead(name, events);
            if (_claims.TryGetValue(name, out var claims) && claims.Find(e => e.RegistrarText == peer) is { } entry)
            {
                Remove(entry, events);
            }
        }
        Raise(events);
    }

    private void OnRemoteProcessEnded(ProcessRef process, ulong incarnation)
    {
        var events = new EventList();
        lock (_lock)
        {
            if (_byTarget.TryGetValue(process, out var entries))
            {
                // Only claims of that run: a process of the node's next run may have the same id.
                foreach (var entry in entries.Where(e => e.HostIncarnation == incarnation).ToArray())
                {
                    Remove(entry, events);
                }
            }
        }
        Raise(events);
    }

    private void OnDigest(Connection connection, SetDigest theirs)
    {
        lock (_lock)
        {
            // A sync in progress is not yet comparable; otherwise a copy that differs from the registrar's own set is
            // repaired by a full sync of that set.
            // Nor while dead claims wait for their cleanup (OnTick).
            if (_syncing.ContainsKey(connection.PeerText) || _departing.Count != 0 || _digests.GetValueOrDefault(connection.PeerText) == theirs)
            {
                return;
            }
        }
        Interlocked.Increment(ref _syncRequests);
        connection.TryEnqueue(new SyncRequestMessage(), force: true);
    }
}
