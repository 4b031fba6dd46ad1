namespace Noex.Lite;

/// <summary>
/// The remote calls waiting for a reply, by call id: a plain dictionary under a short lock.
/// </summary>
/// <remarks>
/// Not a ConcurrentDictionary: that allocates a node (64 bytes here) for every entry added, i.e. for every call, while a
/// Dictionary reuses its freed entries, so a warm table allocates nothing. Each operation holds the lock for a hash
/// lookup; the calls of one node contend little, and the read loop takes it once per reply.
/// </remarks>
internal sealed class PendingCalls
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, PendingCall> _calls = new();

    /// <summary>How many calls wait.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _calls.Count;
            }
        }
    }

    public void Add(long callId, in PendingCall call)
    {
        lock (_lock)
        {
            _calls.Add(callId, call);
        }
    }

    public bool TryRemove(long callId, out PendingCall call)
    {
        lock (_lock)
        {
            return _calls.Remove(callId, out call);
        }
    }

    /// <summary>Removes and returns every call waiting on <paramref name="connection"/> (its node went down).</summary>
    public List<PendingCall> RemoveAll(Connection connection)
    {
        var removed = new List<PendingCall>();
        lock (_lock)
        {
            foreach (var (id, call) in _calls)
            {
                if (ReferenceEquals(call.Connection, connection))
                {
                    removed.Add(call);
                    // Removing the current entry while enumerating is allowed for Dictionary (it does not bump the version).
                    _calls.Remove(id);
                }
            }
        }
        return removed;
    }

    /// <summary>Removes the calls whose waiter already ended (timed out or canceled).</summary>
    public void RemoveFinished()
    {
        lock (_lock)
        {
            foreach (var (id, call) in _calls)
            {
                if (!call.Waiter.IsPending(call.Token))
                {
                    _calls.Remove(id);
                }
            }
        }
    }
}

/// <summary>One call waiting for its reply: the waiter and its token, and the connection the request went out on.</summary>
internal readonly record struct PendingCall(CallWaiter Waiter, long Token, Connection Connection);
