using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Text;

namespace Noex.Lite;

/// <summary>A cluster-wide name as one node sees it.</summary>
/// <param name="Name">The name.</param>
/// <param name="Target">The process it names (on any node).</param>
/// <param name="RegisteredBy">The node whose <see cref="GlobalRegistry.Register"/> made it (it owns the registration).</param>
public readonly record struct GlobalRegistration(string Name, ProcessRef Target, NodeId RegisteredBy);

/// <summary>
/// Cluster-wide process names (the seeds' <c>GlobalRegistry</c>): a name registered on one node is found on every node,
/// goes when its process ends or its node goes down, and a name claimed twice at once resolves to the same winner
/// everywhere (protocol.md §5.4).
/// </summary>
/// <remarks>
/// <para>
/// Every node keeps the whole table. Each registration is owned by the node that made it (its <em>registrar</em>), which
/// replicates its own registrations to every peer: one at a time as they happen, all at once when a connection comes up
/// or when a periodic digest shows that a peer's copy differs. A peer's copy of a registrar's set changes only by that
/// registrar's messages, by the process's own node saying the process ended, or by either node going down, so every
/// node computes the same table from the same sets.
/// </para>
/// <para>
/// When two registrars claim one name, every node keeps both claims and shows the winner of a fixed total order
/// (earlier hybrid logical stamp, then registrar id, registrar incarnation, process node, process id). The losing
/// registrar drops its claim as soon as it sees the winner, raises <see cref="ConflictResolved"/> and, with
/// <see cref="NodeOptions.StopGlobalNameLoser"/>, stops its process.
/// </para>
/// <para>
/// Thread-safe. <see cref="Whereis"/> is a lock-free local read that allocates nothing. Events are raised synchronously
/// after the table changed, outside the registry's lock; handlers must be quick and their exceptions are swallowed.
/// </para>
/// </remarks>
public sealed partial class GlobalRegistry : IClusterService
{
    /// <summary>The message types this layer owns (protocol.md §5.4).</summary>
    internal const byte FirstType = 0x20;

    /// <summary>The last of them.</summary>
    internal const byte LastType = 0x27;

    internal const byte TypeRegister = 0x20;
    internal const byte TypeUnregister = 0x21;
    internal const byte TypeProcessEnded = 0x22;
    internal const byte TypeSync = 0x23;
    internal const byte TypeDigest = 0x24;
    internal const byte TypeSyncRequest = 0x25;

    /// <summary>Sync flag: the first part of a sync; the receiver starts replacing the sender's set.</summary>
    internal const byte SyncFirst = 1;

    /// <summary>Sync flag: the last part; the receiver drops what the sync did not confirm.</summary>
    internal const byte SyncLast = 2;

    /// <summary>The longest name, in UTF-8 bytes: names travel as str8.</summary>
    public const int MaxNameBytes = 255;

    // An entry is at most 24 + 2 × 256 bytes, so 48 of them stay under 26 KiB: well inside the 64 KiB minimum frame.
    private const int EntriesPerSync = 48;

    // Digests go out every fourth tick, that is once per heartbeat interval.
    private const int DigestEveryTicks = 4;

    private readonly Node _node;
    private readonly ProcessRuntime _runtime;
    private readonly string _self;
    private readonly Lock _lock = new();
    // The default comparer for string keys is ordinal and takes the runtime's non-randomized hashing fast path.
    private readonly ConcurrentDictionary<string, ProcessRef> _visible = new();
    private readonly Dictionary<string, List<Entry>> _claims = new(StringComparer.Ordinal);
    private readonly Dictionary<ProcessRef, List<Entry>> _byTarget = new();
    private readonly Dictionary<string, SetDigest> _digests = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<Entry>> _syncing = new(StringComparer.Ordinal);
    private long _clock;
    private int _ticks;
    private long _conflicts;
    private long _syncRequests;

    internal GlobalRegistry(Node node, ProcessRuntime runtime)
    {
        _node = node;
        _runtime = runtime;
        _self = node.Id.ToString();
        runtime.Events.Subscribe(OnLifecycle);
    }

    /// <summary>A name became visible on this node: registered here, or learned from a peer.</summary>
    public event Action<string, ProcessRef>? Registered;

    /// <summary>A name went away on this node: unregistered, its process ended, or a node involved went down.</summary>
    public event Action<string, ProcessRef>? Unregistered;

    /// <summary>Two processes claimed one name: (name, winner, loser). Raised on every node that sees both claims.</summary>
    public event Action<string, ProcessRef, ProcessRef>? ConflictResolved;

    /// <summary>A peer's full set of registrations arrived: (from node, its entry count).</summary>
    public event Action<NodeId, int>? Synced;

    /// <summary>The number of names visible on this node.</summary>
    public int Count => _visible.Count;

    /// <summary>Conflicts this node has resolved (claims that lost to another claim of the same name).</summary>
    public long ConflictsResolved => Interlocked.Read(ref _conflicts);

    /// <summary>Full syncs this node asked for because a peer's digest differed from its copy (anti-entropy repairs).</summary>
    internal long SyncRequests => Interlocked.Read(ref _syncRequests);

    /// <summary>
    /// Registers <paramref name="name"/> for <paramref name="target"/> across the cluster: at once on this node, then on
    /// every peer.
    /// </summary>
    /// <param name="name">The name: 1 to 255 UTF-8 bytes.</param>
    /// <param name="target">A live process of this node, or of a node this node is connected to.</param>
    /// <remarks>
    /// Registering the same name for the same process again does nothing. If another node registers the name at the
    /// same moment, both calls succeed and the conflict resolves on every node to one winner (protocol.md §5.4).
    /// </remarks>
    /// <exception cref="ArgumentException">The name is empty or longer than <see cref="MaxNameBytes"/>, or the ref is empty.</exception>
    /// <exception cref="GlobalNameConflictException">The name is registered for another process.</exception>
    /// <exception cref="ServerNotRunningException"><paramref name="target"/> is a process of this node that is not running.</exception>
    /// <exception cref="NodeNotReachableException"><paramref name="target"/>'s node is not connected.</exception>
    public void Register(string name, ProcessRef target)
    {
        CheckName(name);
        if (target.IsEmpty)
        {
            throw new ArgumentException("The process ref is empty.", nameof(target));
        }
        ulong hostIncarnation;
        var local = target.Node == _self;
        if (local)
        {
            if (!_runtime.IsAlive(target))
            {
                throw new ServerNotRunningException(target);
            }
            hostIncarnation = _node.Incarnation;
        }
        else if (_node.TryGetConnection(target.Node, out var connection))
        {
            hostIncarnation = connection.PeerIncarnation;
        }
        else
        {
            throw new NodeNotReachableException(target.Node, "a global name can only be registered for a process of a connected node");
        }
        var events = new EventList();
        lock (_lock)
        {
            if (_visible.TryGetValue(name, out var existing))
            {
                if (existing == target)
                {
                    return;
                }
                throw new GlobalNameConflictException(name, existing);
            }
            _clock = Math.Max(_clock + 1, _node.Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
            var entry = new Entry(name, target, hostIncarnation, _clock, _node.Id, _self, _node.Incarnation);
            Add(entry, events);
            Broadcast(new RegisterMessage(entry.Name, entry.Target, entry.HostIncarnation, entry.Stamp));
        }
        Raise(events);
        // The process may have ended between the check above and the insert, after its terminated event looked for
        // names: the process's own record says so now, and the name must not outlive it.
        if (local && !_runtime.IsAlive(target))
        {
            OnLocalProcessEnded(target);
            throw new ServerNotRunningException(target);
        }
    }

    /// <summary>Removes a name that this node registered, here and on every peer.</summary>
    /// <param name="name">The name.</param>
    /// <returns>True if this node had registered it; false otherwise (a name registered by another node is left alone:
    /// only its registrar removes it, or its process ending, or either node going down).</returns>
    public bool Unregister(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var events = new EventList();
        lock (_lock)
        {
            if (!_claims.TryGetValue(name, out var claims) || claims.Find(e => e.RegistrarText == _self) is not { } mine)
            {
                return false;
            }
            Remove(mine, events);
            Broadcast(new UnregisterMessage(name));
        }
        Raise(events);
        return true;
    }

    /// <summary>The process registered under <paramref name="name"/>.</summary>
    /// <param name="name">The name.</param>
    /// <returns>Its ref (on any node).</returns>
    /// <exception cref="GlobalNameNotFoundException">The name is not registered.</exception>
    public ProcessRef Lookup(string name) =>
        Whereis(name) ?? throw new GlobalNameNotFoundException(name);

    /// <summary>The process registered under <paramref name="name"/>, or null: a local read, no network, no allocation.</summary>
    /// <param name="name">The name.</param>
    public ProcessRef? Whereis(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _visible.TryGetValue(name, out var target) ? target : null;
    }

    /// <summary>Whether <paramref name="name"/> is registered.</summary>
    /// <param name="name">The name.</param>
    public bool IsRegistered(string name) => Whereis(name) is not null;

    /// <summary>Every registered name, in ordinal order (a snapshot).</summary>
    public IReadOnlyList<string> GetNames()
    {
        var names = _visible.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }

    /// <summary>The registrations whose process lives on <paramref name="node"/> (a snapshot, by name).</summary>
    /// <param name="node">The node.</param>
    public IReadOnlyList<GlobalRegistration> GetEntriesForNode(NodeId node)
    {
        var text = node.ToString();
        return GetEntries().Where(e => e.Target.Node == text).ToArray();
    }

    /// <summary>Every registration this node shows, by name (a snapshot): identical on every node once they agree.</summary>
    public IReadOnlyList<GlobalRegistration> GetEntries()
    {
        lock (_lock)
        {
            var result = new List<GlobalRegistration>(_claims.Count);
            foreach (var (name, claims) in _claims)
            {
                var winner = Winner(claims);
                result.Add(new GlobalRegistration(name, winner.Target, winner.Registrar));
            }
            result.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            return result;
        }
    }

    /// <summary>Every claim held (winners and losers not yet withdrawn), for tests that check convergence.</summary>
    internal int ClaimCount
    {
        get
        {
            lock (_lock)
            {
                return _claims.Values.Sum(c => c.Count);
            }
        }
    }

    // ---- the table (every method below runs under _lock) ---------------------------------------------------------

    /// <summary>Adds (or replaces the registrar's earlier claim with) <paramref name="entry"/> and settles the name.</summary>
    private void Add(Entry entry, EventList events)
    {
        if (!_claims.TryGetValue(entry.Name, out var claims))
        {
            _claims[entry.Name] = claims = new List<Entry>(1);
        }
        var before = claims.Count == 0 ? null : Winner(claims);
        Entry? replaced = null;
        var index = claims.FindIndex(e => e.RegistrarText == entry.RegistrarText);
        if (index >= 0)
        {
            replaced = claims[index];
            Unindex(replaced);
            claims.RemoveAt(index);
        }
        claims.Add(entry);
        Index(entry);
        var winner = Winner(claims);
        if (before is null)
        {
            events.Add(EventKind.Registered, entry.Name, winner.Target, default);
        }
        else if (ReferenceEquals(before, replaced))
        {
            // The registrar replaced its own winning claim (a sync after it re-registered the name).
            if (before.Target != winner.Target)
            {
                events.Add(EventKind.Unregistered, entry.Name, before.Target, default);
                events.Add(EventKind.Registered, entry.Name, winner.Target, default);
            }
        }
        else if (before.Target != entry.Target)
        {
            // Two processes claim the name: every node that sees both reports the same winner.
            var loser = ReferenceEquals(winner, entry) ? before.Target : entry.Target;
            Interlocked.Increment(ref _conflicts);
            events.Add(EventKind.Conflict, entry.Name, winner.Target, loser);
        }
        _visible[entry.Name] = winner.Target;
        WithdrawLosingClaim(claims, winner, events);
    }

    /// <summary>This node's own claim lost (or duplicates the winner): withdraw it everywhere, and stop its process if asked.</summary>
    private void WithdrawLosingClaim(List<Entry> claims, Entry winner, EventList events)
    {
        if (winner.RegistrarText == _self || claims.Find(e => e.RegistrarText == _self) is not { } mine)
        {
            return;
        }
        Unindex(mine);
        claims.Remove(mine);
        Broadcast(new UnregisterMessage(mine.Name));
        // The loser may live on a third node: the runtime's stop reaches it there (protocol.md §5.3).
        if (mine.Target != winner.Target && _node.Options.StopGlobalNameLoser)
        {
            events.Add(EventKind.StopLoser, mine.Name, winner.Target, mine.Target);
        }
    }

    private void Remove(Entry entry, EventList events)
    {
        if (!_claims.TryGetValue(entry.Name, out var claims))
        {
            return;
        }
        var before = Winner(claims);
        if (!claims.Remove(entry))
        {
            return;
        }
        Unindex(entry);
        if (claims.Count == 0)
        {
            _claims.Remove(entry.Name);
            _visible.TryRemove(entry.Name, out _);
            events.Add(EventKind.Unregistered, entry.Name, entry.Target, default);
            return;
        }
        var winner = Winner(claims);
        _visible[entry.Name] = winner.Target;
        if (before.Target != winner.Target)
        {
            // The winner went and a waiting claim takes its place (a loser its registrar has not withdrawn yet).
            events.Add(EventKind.Unregistered, entry.Name, before.Target, default);
            events.Add(EventKind.Registered, entry.Name, winner.Target, default);
        }
        WithdrawLosingClaim(claims, winner, events);
    }

    private void RemoveWhere(Func<Entry, bool> predicate, EventList events)
    {
        var doomed = new List<Entry>();
        foreach (var claims in _claims.Values)
        {
            foreach (var entry in claims)
            {
                if (predicate(entry))
                {
                    doomed.Add(entry);
                }
            }
        }
        foreach (var entry in doomed)
        {
            Remove(entry, events);
        }
    }

    /// <summary>The claim every node shows: the least in the order of protocol.md §5.4.</summary>
    private static Entry Winner(List<Entry> claims)
    {
        var best = claims[0];
        for (var i = 1; i < claims.Count; i++)
        {
            if (Entry.Compare(claims[i], best) < 0)
            {
                best = claims[i];
            }
        }
        return best;
    }

    private void Index(Entry entry)
    {
        if (!_byTarget.TryGetValue(entry.Target, out var list))
        {
            _byTarget[entry.Target] = list = new List<Entry>(1);
        }
        list.Add(entry);
        ref var digest = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_digests, entry.RegistrarText, out _);
        digest = new SetDigest(digest.Count + 1, digest.Sum + entry.Hash);
    }

    private void Unindex(Entry entry)
    {
        if (_byTarget.TryGetValue(entry.Target, out var list) && list.Remove(entry) && list.Count == 0)
        {
            _byTarget.Remove(entry.Target);
        }
        if (_digests.TryGetValue(entry.RegistrarText, out var digest))
        {
            if (digest.Count <= 1)
            {
                _digests.Remove(entry.RegistrarText);
            }
            else
            {
                _digests[entry.RegistrarText] = new SetDigest(digest.Count - 1, digest.Sum - entry.Hash);
            }
        }
    }

    private void Broadcast<TMessage>(in TMessage message)
        where TMessage : struct, IOutboundMessage
    {
        // Under _lock, so that every peer receives one registrar's changes in the order its table made them. Forced past
        // the queue bound: registry messages are few and small, and a dropped one would leave a peer's copy stale
        // until the next digest.
        foreach (var connection in _node.GetLiveConnections())
        {
            connection.TryEnqueue(message, force: true);
        }
    }

    /// <summary>Sends this node's own registrations to <paramref name="connection"/>, in parts (protocol.md §5.4).</summary>
    private void SendSync(Connection connection)
    {
        var mine = new List<Entry>();
        foreach (var claims in _claims.Values)
        {
            if (claims.Find(e => e.RegistrarText == _self) is { } entry)
            {
                mine.Add(entry);
            }
        }
        var offset = 0;
        do
        {
            var count = Math.Min(EntriesPerSync, mine.Count - offset);
            var flags = (byte)((offset == 0 ? SyncFirst : 0) | (offset + count == mine.Count ? SyncLast : 0));
            connection.TryEnqueue(new SyncMessage(flags, mine, offset, count), force: true);
            offset += count;
        }
        while (offset < mine.Count);
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
        var events = new EventList();
        var peer = connection.PeerText;
        var incarnation = connection.PeerIncarnation;
        lock (_lock)
        {
            // Claims of the peer's earlier runs (registered by it, or naming its processes) died with them.
            RemoveWhere(e => (e.RegistrarText == peer && e.RegistrarIncarnation != incarnation)
                || (e.Target.Node == peer && e.HostIncarnation != incarnation), events);
            SendSync(connection);
        }
        Raise(events);
    }

    void IClusterService.OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        var events = new EventList();
        var peer = connection.PeerText;
        var incarnation = connection.PeerIncarnation;
        lock (_lock)
        {
            _syncing.Remove(peer);
            // A replaced duplicate connection to the same run of the peer is no loss: the other one carries on.
            if (_node.TryGetConnection(peer, out var other) && other.PeerIncarnation == incarnation)
            {
                return;
            }
            RemoveWhere(e => (e.RegistrarText == peer && e.RegistrarIncarnation == incarnation)
                || (e.Target.Node == peer && e.HostIncarnation == incarnation), events);
        }
        Raise(events);
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
            var digest = _digests.GetValueOrDefault(_self);
            Broadcast(new DigestMessage(digest.Count, digest.Sum));
        }
    }

    // ---- messages from peers (protocol.md §5.4) -------------------------------------------------------------------

    bool IClusterService.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        var body = message[1..];
        switch (message[0])
        {
            case TypeRegister:
                if (!WireEntry.TryRead(ref body, out var wire) || !body.IsEmpty)
                {
                    return false;
                }
                Apply(connection, [wire], sync: 0);
                return true;
            case TypeUnregister:
                if (!TryReadStr8(ref body, out var name) || !body.IsEmpty)
                {
                    return false;
                }
                OnUnregister(connection.PeerText, name);
                return true;
            case TypeProcessEnded:
                if (body.Length != 16)
                {
                    return false;
                }
                OnRemoteProcessEnded(new ProcessRef(connection.PeerText, BinaryPrimitives.ReadInt64LittleEndian(body)), BinaryPrimitives.ReadUInt64LittleEndian(body[8..]));
                return true;
            case TypeSync:
                if (body.Length < 3)
                {
                    return false;
                }
                var flags = body[0];
                int count = BinaryPrimitives.ReadUInt16LittleEndian(body[1..]);
                body = body[3..];
                // Each entry takes at least 26 bytes: a count the rest cannot hold is a lie, refused before allocating.
                if ((flags & ~(SyncFirst | SyncLast)) != 0 || count > EntriesPerSync * 4 || count * WireEntry.MinLength > body.Length)
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
                if (!body.IsEmpty)
                {
                    return false;
                }
                Apply(connection, entries, flags == 0 ? (byte)4 : flags);
                return true;
            case TypeDigest:
                if (body.Length != 12)
                {
                    return false;
                }
                OnDigest(connection, new SetDigest((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(body), int.MaxValue), BinaryPrimitives.ReadUInt64LittleEndian(body[4..])));
                return true;
            case TypeSyncRequest:
                if (!body.IsEmpty)
                {
                    return false;
                }
                lock (_lock)
                {
                    SendSync(connection);
                }
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Applies claims from the registrar at the other end of <paramref name="connection"/>: one registration
    /// (<paramref name="sync"/> 0) or a part of a full sync (its flags; 4 for a middle part).
    /// </summary>
    private void Apply(Connection connection, WireEntry[] wires, byte sync)
    {
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
                foreach (var claims in _claims.Values)
                {
                    foreach (var e in claims)
                    {
                        if (e.RegistrarText == peer)
                        {
                            unconfirmed.Add(e);
                        }
                    }
                }
                _syncing[peer] = unconfirmed;
            }
            else if (sync != 0)
            {
                _syncing.TryGetValue(peer, out unconfirmed);
            }
            foreach (var wire in wires)
            {
                if (wire.Stamp > _clock && wire.Stamp < long.MaxValue / 2)
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
                syncedCount = _digests.GetValueOrDefault(peer).Count;
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
            if (_syncing.ContainsKey(connection.PeerText) || _digests.GetValueOrDefault(connection.PeerText) == theirs)
            {
                return;
            }
        }
        Interlocked.Increment(ref _syncRequests);
        connection.TryEnqueue(new SyncRequestMessage(), force: true);
    }

    // ---- events --------------------------------------------------------------------------------------------------

    private void Raise(EventList events)
    {
        if (events.Items is not { } items)
        {
            return;
        }
        foreach (var e in items)
        {
            switch (e.Kind)
            {
                case EventKind.Registered:
                    RaiseEach(Registered, e, static (h, a) => h(a.Name, a.Target));
                    break;
                case EventKind.Unregistered:
                    RaiseEach(Unregistered, e, static (h, a) => h(a.Name, a.Target));
                    break;
                case EventKind.Conflict:
                    RaiseEach(ConflictResolved, e, static (h, a) => h(a.Name, a.Target, a.Other));
                    break;
                case EventKind.StopLoser:
                    _ = StopLoserAsync(e.Name, e.Target, e.Other);
                    break;
            }
        }
    }

    private async Task StopLoserAsync(string name, ProcessRef winner, ProcessRef loser)
    {
        try
        {
            await _runtime.StopAsync(loser, ExitReason.Error($"lost the global name '{name}' to {winner}", nameof(GlobalNameConflictException))).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // It ended by itself meanwhile, or the node is stopping: either way it no longer holds the name.
        }
    }

    private static void RaiseEach<THandler, TArgs>(THandler? handlers, TArgs arguments, Action<THandler, TArgs> invoke)
        where THandler : Delegate
    {
        if (handlers is null)
        {
            return;
        }
        foreach (var handler in handlers.GetInvocationList())
        {
            try
            {
                invoke((THandler)handler, arguments);
            }
            catch (Exception)
            {
                // A handler's failure is its own; the registry goes on.
            }
        }
    }

    private static void CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            throw new ArgumentException($"A global name must be 1 to {MaxNameBytes} UTF-8 bytes long.", nameof(name));
        }
    }

    // ---- types ---------------------------------------------------------------------------------------------------

    /// <summary>One registrar's claim of one name, as this node holds it.</summary>
    private sealed class Entry
    {
        public Entry(string name, ProcessRef target, ulong hostIncarnation, long stamp, NodeId registrar, string registrarText, ulong registrarIncarnation)
        {
            Name = name;
            Target = target;
            HostIncarnation = hostIncarnation;
            Stamp = stamp;
            Registrar = registrar;
            RegistrarText = registrarText;
            RegistrarIncarnation = registrarIncarnation;
            Hash = HashOf(name, target, hostIncarnation, stamp, registrarIncarnation);
        }

        public string Name { get; }

        public ProcessRef Target { get; }

        public ulong HostIncarnation { get; }

        public long Stamp { get; }

        public NodeId Registrar { get; }

        public string RegistrarText { get; }

        public ulong RegistrarIncarnation { get; }

        /// <summary>The entry's share of its registrar's set digest (protocol.md §5.4).</summary>
        public ulong Hash { get; }

        public bool Matches(in WireEntry wire, ulong registrarIncarnation) =>
            wire.Stamp == Stamp && wire.HostIncarnation == HostIncarnation && wire.Target == Target && registrarIncarnation == RegistrarIncarnation;

        /// <summary>The order of protocol.md §5.4: negative when <paramref name="a"/> wins over <paramref name="b"/>.</summary>
        public static int Compare(Entry a, Entry b)
        {
            var c = a.Stamp.CompareTo(b.Stamp);
            if (c == 0)
            {
                c = string.CompareOrdinal(a.RegistrarText, b.RegistrarText);
            }
            if (c == 0)
            {
                c = a.RegistrarIncarnation.CompareTo(b.RegistrarIncarnation);
            }
            if (c == 0)
            {
                c = string.CompareOrdinal(a.Target.Node, b.Target.Node);
            }
            if (c == 0)
            {
                c = a.Target.Id.CompareTo(b.Target.Id);
            }
            return c;
        }

        /// <summary>XxHash64 of the entry as it travels (protocol.md §5.4), so that every node hashes a claim alike.</summary>
        public static ulong HashOf(string name, ProcessRef target, ulong hostIncarnation, long stamp, ulong registrarIncarnation)
        {
            var writer = new ArrayBufferWriter<byte>(64);
            new WireEntry(name, target, hostIncarnation, stamp).Write(writer);
            var tail = writer.GetSpan(8);
            BinaryPrimitives.WriteUInt64LittleEndian(tail, registrarIncarnation);
            writer.Advance(8);
            return XxHash64.HashToUInt64(writer.WrittenSpan);
        }
    }

    /// <summary>A registrar's set in brief: how many claims, and the sum of their hashes (order does not matter).</summary>
    private readonly record struct SetDigest(int Count, ulong Sum);

    private enum EventKind : byte
    {
        Registered,
        Unregistered,
        Conflict,
        StopLoser,
    }

    private readonly record struct PendingEvent(EventKind Kind, string Name, ProcessRef Target, ProcessRef Other);

    /// <summary>Events gathered under the lock and raised after it; allocates only when something happened.</summary>
    private sealed class EventList
    {
        public List<PendingEvent>? Items { get; private set; }

        public void Add(EventKind kind, string name, ProcessRef target, ProcessRef other) =>
            (Items ??= new List<PendingEvent>(2)).Add(new PendingEvent(kind, name, target, other));
    }
}

/// <summary>A global name is already registered for another process (the seeds' <c>GlobalNameConflictError</c>).</summary>
public sealed class GlobalNameConflictException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="registryName">The name.</param>
    /// <param name="existing">The process that holds it.</param>
    public GlobalNameConflictException(string registryName, ProcessRef existing)
        : base($"The global name '{registryName}' is already registered on node {existing.Node} (process {existing}).")
    {
        RegistryName = registryName;
        Existing = existing;
    }

    /// <summary>The name.</summary>
    public string RegistryName { get; }

    /// <summary>The process that holds it.</summary>
    public ProcessRef Existing { get; }

    /// <summary>The node of the process that holds it, as <c>name@host:port</c>.</summary>
    public string ExistingNodeId => Existing.Node;
}

/// <summary>No process is registered under a global name (the seeds' <c>GlobalNameNotFoundError</c>).</summary>
public sealed class GlobalNameNotFoundException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="registryName">The name.</param>
    public GlobalNameNotFoundException(string registryName)
        : base($"The global name '{registryName}' is not registered.")
    {
        RegistryName = registryName;
    }

    /// <summary>The name.</summary>
    public string RegistryName { get; }
}
