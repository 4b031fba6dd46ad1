using System.Diagnostics.CodeAnalysis;

namespace Noex.Lite;

/// <summary>What a <see cref="RequestTable{TEntry}"/> needs to know of a request waiting for its answer.</summary>
internal interface IPendingRequest
{
    /// <summary>The connection the request went out on: when it closes, the request fails at once.</summary>
    Connection Connection { get; }

    /// <summary>Whether the request ended without its answer (its timeout or cancellation), so its entry can go.</summary>
    bool IsFinished { get; }
}

/// <summary>
/// The requests of one protocol layer that wait for an answer from a peer, by request id: remote calls (§5.2), spawns
/// and stops (§5.3), snapshot requests (§5.6). A plain dictionary under a short lock.
/// </summary>
/// <remarks>
/// <para>
/// Whoever takes an entry out completes it: the answer (<see cref="TryTake(long, out TEntry)"/>), the connection's close
/// (<see cref="TakeAll"/>), or the entry's own timeout or cancellation. Taking is atomic, so each request completes once.
/// Entries whose timeout ended them without taking them out (a remote call's waiter times out by itself) are dropped by
/// <see cref="SweepFinished"/> on the node's tick, so the table cannot grow without bound.
/// </para>
/// <para>
/// Not a ConcurrentDictionary: that allocates a node for every entry added (64 bytes for a remote call), i.e. for every
/// request, while a Dictionary reuses its freed entries, so a warm table allocates nothing; with a struct
/// <typeparamref name="TEntry"/> the interface calls are constrained calls, without boxing. Each operation holds the
/// lock for a hash lookup; the requests of one node contend little, and a read loop takes it once per answer.
/// </para>
/// <para>
/// Request ids are chosen by this node, unique among its requests in flight (a counter), so an id names one entry for
/// its whole life. Monitors (§5.5) keep their own table: a monitor is not a request that ends with its answer but lives
/// until its down or demonitor, is found by watcher too, and changes under the lock that orders its messages on the wire.
/// </para>
/// </remarks>
/// <typeparam name="TEntry">What is kept per request.</typeparam>
internal sealed class RequestTable<TEntry>
    where TEntry : IPendingRequest
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, TEntry> _entries = new();

    /// <summary>How many requests wait.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Files a request under its id.</summary>
    public void Add(long id, TEntry entry)
    {
        lock (_lock)
        {
            _entries.Add(id, entry);
        }
    }

    /// <summary>Takes the request <paramref name="id"/> out; false if it is not (or no longer) waiting.</summary>
    public bool TryTake(long id, [MaybeNullWhen(false)] out TEntry entry)
    {
        lock (_lock)
        {
            return _entries.Remove(id, out entry);
        }
    }

    /// <summary>
    /// Takes the request <paramref name="id"/> out if it went out on <paramref name="connection"/>: an answer counts only
    /// on the connection its request was sent on.
    /// </summary>
    public bool TryTake(long id, Connection connection, [MaybeNullWhen(false)] out TEntry entry)
    {
        lock (_lock)
        {
            // One lookup on the hot path (every reply): take it out, and put it back in the rare case of another connection.
            if (!_entries.Remove(id, out entry))
            {
                return false;
            }
            if (ReferenceEquals(entry.Connection, connection))
            {
                return true;
            }
            _entries.Add(id, entry);
        }
        entry = default;
        return false;
    }

    /// <summary>Takes out every request that went out on <paramref name="connection"/> (it closed), for the caller to fail.</summary>
    public List<TEntry> TakeAll(Connection connection)
    {
        var taken = new List<TEntry>();
        lock (_lock)
        {
            foreach (var (id, entry) in _entries)
            {
                if (ReferenceEquals(entry.Connection, connection))
                {
                    taken.Add(entry);
                    // Removing the current entry while enumerating is allowed for Dictionary (it does not bump the version).
                    _entries.Remove(id);
                }
            }
        }
        return taken;
    }

    /// <summary>Drops the requests that ended without their answer (timed out or canceled); run on every tick.</summary>
    public void SweepFinished()
    {
        lock (_lock)
        {
            foreach (var (id, entry) in _entries)
            {
                if (entry.IsFinished)
                {
                    _entries.Remove(id);
                }
            }
        }
    }
}
