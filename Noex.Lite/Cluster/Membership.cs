namespace Noex.Lite;

/// <summary>
/// Who is in the cluster as this node sees it: each member's lifecycle (DESIGN.md, "Membership"), its info and
/// reconnect backoff, the cap on members, and the quorum base that a majority is counted against.
/// </summary>
/// <remarks>
/// <para>
/// A member is <em>learned</em> (from a seed or gossip; not yet connected), <em>up</em> (a session exists), or
/// <em>unreachable</em> (it was up and was lost without a goodbye). An unreachable member, and a learned one that never
/// came up, is removed once <see cref="NodeOptions.RemoveUnreachableAfter"/> has passed; a member that says goodbye is
/// removed at once. A removed node is a stranger again: nothing redials or gossips it, and its next connection is a
/// fresh join.
/// </para>
/// <para>
/// The quorum base is every node that has been up and was not removed by a side that held a majority: a node removed
/// while this node sees no majority stays in the base (a ghost) until it does. Both sides of a partition start from the
/// same base, and a minority side can never shrink its base, so they cannot both count a majority, however long the
/// partition lasts.
/// </para>
/// <para>Thread-safe; transitions happen under one lock so that up and down events of a node never cross.</para>
/// </remarks>
internal sealed class Membership
{
    private readonly Lock _lock = new();
    private readonly Dictionary<NodeId, Entry> _nodes = new();
    private readonly HashSet<NodeId> _quorumBase = new();
    private readonly NodeId _self;
    private readonly NodeOptions _options;
    private readonly TimeProvider _time;

    public Membership(NodeId self, NodeOptions options)
    {
        _self = self;
        _options = options;
        _time = options.TimeProvider;
    }

    /// <summary>What <see cref="Learn"/> made of an id.</summary>
    public enum Learned
    {
        /// <summary>A new member, to dial.</summary>
        New,
        /// <summary>Known already.</summary>
        Known,
        /// <summary>This node's own id, or an address found to be this node's own.</summary>
        Self,
        /// <summary>Refused: the membership is at <see cref="NodeOptions.MaxMembers"/>.</summary>
        Full,
    }

    /// <summary>Every known node but this one.</summary>
    public NodeInfo[] GetNodes()
    {
        lock (_lock)
        {
            return _nodes.Values.Select(e => e.Info).ToArray();
        }
    }

    /// <summary>
    /// The ids gossip carries: this node, the members connected now, and those lost within the removal bound. Members only
    /// learned of (never up here) are not passed on, so an id nobody could reach does not spread.
    /// </summary>
    public List<NodeId> GetGossipIds()
    {
        lock (_lock)
        {
            var ids = new List<NodeId>(_nodes.Count + 1) { _self };
            foreach (var (id, entry) in _nodes)
            {
                if (entry.EverUp)
                {
                    ids.Add(id);
                }
            }
            return ids;
        }
    }

    /// <summary>The members (every known node but this one), those connected now, and how many of
    /// <paramref name="seeds"/> are connected, all as of one moment.</summary>
    public (int Members, int Connected, int SeedsConnected) Count(IReadOnlyCollection<NodeId> seeds)
    {
        lock (_lock)
        {
            var connected = 0;
            foreach (var entry in _nodes.Values)
            {
                connected += entry.Info.Status == NodeStatus.Connected ? 1 : 0;
            }
            var seedsConnected = 0;
            foreach (var seed in seeds)
            {
                seedsConnected += _nodes.TryGetValue(seed, out var entry) && entry.Info.Status == NodeStatus.Connected ? 1 : 0;
            }
            return (_nodes.Count, connected, seedsConnected);
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

    /// <summary>Learns of a node (a seed, or gossip).</summary>
    public Learned Learn(NodeId id)
    {
        if (id == _self)
        {
            return Learned.Self;
        }
        lock (_lock)
        {
            if (_nodes.ContainsKey(id))
            {
                return Learned.Known;
            }
            if (_nodes.Count >= _options.MaxMembers)
            {
                return Learned.Full;
            }
            _nodes[id] = new Entry(new NodeInfo(id, NodeStatus.Disconnected, 0, 0, TimeSpan.Zero, DateTimeOffset.MinValue), _time.GetTimestamp());
            return Learned.New;
        }
    }

    /// <summary>
    /// Removes a member that is not connected now: it said goodbye, its address answers as another node, the bound
    /// passed, or an operator said so. Returns false if it is unknown or connected.
    /// </summary>
    /// <param name="id">The member.</param>
    /// <param name="fromQuorum">Whether it also leaves the quorum base at once (it left, or an operator said so);
    /// otherwise it leaves the base only while this node sees a majority.</param>
    public bool Remove(NodeId id, bool fromQuorum)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry) || entry.Info.Status == NodeStatus.Connected)
            {
                return false;
            }
            _nodes.Remove(id);
            if (fromQuorum || HasQuorumLocked())
            {
                _quorumBase.Remove(id);
            }
            return true;
        }
    }

    /// <summary>
    /// Removes the members whose bound has passed (unreachable, or learned and never up, for longer than
    /// <see cref="NodeOptions.RemoveUnreachableAfter"/>), and drops ghosts from the quorum base while a majority is in
    /// sight. Returns the removed ids.
    /// </summary>
    public IReadOnlyList<NodeId> RemoveExpired()
    {
        List<NodeId>? removed = null; // run on every tick: nothing allocated when nothing expired
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            foreach (var (id, entry) in _nodes)
            {
                if (entry.Session is null && entry.Info.Status == NodeStatus.Disconnected && _time.GetElapsedTime(entry.Since, now) >= _options.RemoveUnreachableAfter)
                {
                    // Removing the current entry while enumerating is allowed for Dictionary.
                    _nodes.Remove(id);
                    (removed ??= []).Add(id);
                }
            }
            if (_quorumBase.Count > 0 && HasQuorumLocked())
            {
                _quorumBase.RemoveWhere(id => !_nodes.ContainsKey(id));
            }
        }
        return removed ?? (IReadOnlyList<NodeId>)[];
    }

    /// <summary>
    /// Whether this node sees a quorum: at least <see cref="NodeOptions.QuorumSize"/> nodes when that is set, otherwise a
    /// strict majority of its quorum base (itself included).
    /// </summary>
    public bool HasQuorum()
    {
        lock (_lock)
        {
            return HasQuorumLocked();
        }
    }

    /// <summary>The size of the quorum base, this node included (the nodes a majority is counted against).</summary>
    public int QuorumBaseSize
    {
        get
        {
            lock (_lock)
            {
                return _quorumBase.Count + 1;
            }
        }
    }

    /// <summary>
    /// Marks a node connected through <paramref name="session"/>, its connection from now on; returns its info for the
    /// node-up event (null if it already was up in that incarnation), and whether it is a new member (not up before
    /// since it was last learned or removed), which the node then tells its peers at once.
    /// </summary>
    public (NodeInfo? Up, bool NewMember) MarkUp(NodeId id, ulong incarnation, Connection session)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry))
            {
                // A connection from a node not known here (or removed) is a fresh join: admitted past the cap, which bounds
                // what gossip can add, because it is a live authenticated peer.
                entry = new Entry(new NodeInfo(id, NodeStatus.Disconnected, 0, 0, TimeSpan.Zero, DateTimeOffset.MinValue), _time.GetTimestamp());
                _nodes[id] = entry;
            }
            var wasUp = entry.Info.Status == NodeStatus.Connected && entry.Info.Incarnation == incarnation;
            var newMember = !entry.EverUp;
            entry.Info = entry.Info with { Status = NodeStatus.Connected, Incarnation = incarnation, LastSeen = _time.GetUtcNow() };
            entry.Session = session;
            entry.Attempt = 0;
            entry.EverUp = true;
            _quorumBase.Add(id);
            return (wasUp ? null : entry.Info, newMember);
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
    /// Ends the session of <paramref name="id"/> through <paramref name="session"/> and marks the node unreachable from
    /// now (unless <paramref name="stillUp"/>: a newer incarnation is taking over); returns false if that connection was
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
                entry.Since = _time.GetTimestamp();
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
    public TimeSpan NextBackoff(NodeId id)
    {
        int attempt;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry))
            {
                return _options.ReconnectBaseDelay;
            }
            attempt = entry.Attempt++;
        }
        var delay = Math.Min(_options.ReconnectBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)), _options.ReconnectMaxDelay.TotalMilliseconds);
        var factor = 1 - _options.ReconnectJitter + (2 * _options.ReconnectJitter * Random.Shared.NextDouble());
        return TimeSpan.FromMilliseconds(delay * factor);
    }

    private bool HasQuorumLocked()
    {
        var seen = 1;
        foreach (var entry in _nodes.Values)
        {
            if (entry.Info.Status == NodeStatus.Connected)
            {
                seen++;
            }
        }
        return _options.QuorumSize is { } size ? seen >= size : seen * 2 > _quorumBase.Count + 1;
    }

    private sealed class Entry(NodeInfo info, long since)
    {
        public NodeInfo Info = info;
        public Connection? Session;
        public int Attempt;
        /// <summary>Whether it has been up since it was learned; only such members are gossiped and counted.</summary>
        public bool EverUp;
        /// <summary>When it was learned or lost (a timestamp): the removal bound runs from here.</summary>
        public long Since = since;
    }
}
