using System.Buffers;

namespace Noex.Lite;

/// <summary>
/// Who is in the cluster as this node sees it: known nodes, their status and info, and the reconnect backoff of each.
/// </summary>
/// <remarks>Thread-safe; transitions happen under one lock so that up and down events of a node never cross.</remarks>
internal sealed class Membership
{
    private readonly Lock _lock = new();
    private readonly Dictionary<NodeId, Entry> _nodes = new();
    private readonly NodeId _self;
    private readonly TimeProvider _time;

    public Membership(NodeId self, TimeProvider time)
    {
        _self = self;
        _time = time;
    }

    /// <summary>Every known node but this one.</summary>
    public NodeInfo[] GetNodes()
    {
        lock (_lock)
        {
            return _nodes.Values.Select(e => e.Info).ToArray();
        }
    }

    /// <summary>The ids of every known node (for gossip), this one included.</summary>
    public List<NodeId> GetKnownIds()
    {
        lock (_lock)
        {
            var ids = new List<NodeId>(_nodes.Count + 1) { _self };
            ids.AddRange(_nodes.Keys);
            return ids;
        }
    }

    /// <summary>The node's info, if known.</summary>
    public NodeInfo? GetNode(NodeId id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var entry) ? entry.Info : null;
        }
    }

    /// <summary>Learns of a node (a seed, or gossip). Returns true if it was new.</summary>
    public bool Learn(NodeId id)
    {
        if (id == _self)
        {
            return false;
        }
        lock (_lock)
        {
            if (_nodes.ContainsKey(id))
            {
                return false;
            }
            _nodes[id] = new Entry(new NodeInfo(id, NodeStatus.Disconnected, 0, 0, TimeSpan.Zero, DateTimeOffset.MinValue));
            return true;
        }
    }

    /// <summary>Forgets a node that said goodbye, so it is not redialled.</summary>
    public void Forget(NodeId id)
    {
        lock (_lock)
        {
            _nodes.Remove(id);
        }
    }

    /// <summary>
    /// Marks a node connected through <paramref name="session"/>, its connection from now on; returns its info for the
    /// node-up event, or null if it already was up in that incarnation.
    /// </summary>
    public NodeInfo? MarkUp(NodeId id, ulong incarnation, Connection session)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry))
            {
                entry = new Entry(new NodeInfo(id, NodeStatus.Disconnected, 0, 0, TimeSpan.Zero, DateTimeOffset.MinValue));
                _nodes[id] = entry;
            }
            var wasUp = entry.Info.Status == NodeStatus.Connected && entry.Info.Incarnation == incarnation;
            entry.Info = entry.Info with { Status = NodeStatus.Connected, Incarnation = incarnation, LastSeen = _time.GetUtcNow() };
            entry.Session = session;
            entry.Attempt = 0;
            return wasUp ? null : entry.Info;
        }
    }

    /// <summary>The connection a connected node is up through, or null.</summary>
    public Connection? SessionOf(NodeId id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var entry) ? entry.Session : null;
        }
    }

    /// <summary>
    /// Ends the session of <paramref name="id"/> through <paramref name="session"/> and marks the node disconnected
    /// (unless <paramref name="stillUp"/>: a newer incarnation is taking over); returns false if that connection was
    /// not its session (it never counted as up, or its end was reported already), so no second node-down is raised.
    /// </summary>
    public bool EndSession(NodeId id, Connection session, bool stillUp = false)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry) || !ReferenceEquals(entry.Session, session))
            {
                return false;
            }
            entry.Session = null;
            if (!stillUp)
            {
                entry.Info = entry.Info with { Status = NodeStatus.Disconnected };
            }
            return true;
        }
    }

    /// <summary>Records a node's gossip.</summary>
    public void Update(NodeId id, TimeSpan uptime, int processCount)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(id, out var entry))
            {
                entry.Info = entry.Info with { Uptime = uptime, ProcessCount = processCount, LastSeen = _time.GetUtcNow() };
            }
        }
    }

    /// <summary>
    /// The next reconnect delay for <paramref name="id"/>: base·2^attempt capped at the maximum, times a random factor in
    /// [1 − jitter, 1 + jitter] (<see cref="NodeOptions.ReconnectJitter"/>).
    /// </summary>
    public TimeSpan NextBackoff(NodeId id, NodeOptions options)
    {
        int attempt;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry))
            {
                return options.ReconnectBaseDelay;
            }
            attempt = entry.Attempt++;
        }
        var delay = Math.Min(options.ReconnectBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)), options.ReconnectMaxDelay.TotalMilliseconds);
        var factor = 1 - options.ReconnectJitter + (2 * options.ReconnectJitter * Random.Shared.NextDouble());
        return TimeSpan.FromMilliseconds(delay * factor);
    }

    private sealed class Entry(NodeInfo info)
    {
        public NodeInfo Info = info;
        public Connection? Session;
        public int Attempt;
    }
}
