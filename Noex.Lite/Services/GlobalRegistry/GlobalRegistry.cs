using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace Noex.Lite;

/// <summary>A cluster-wide name as one node sees it.</summary>
/// <param name="Name">The name.</param>
/// <param name="Target">The process it names (on any node).</param>
/// <param name="RegisteredBy">The node whose <see cref="GlobalRegistry.Register"/> made it (it owns the registration).</param>
public readonly record struct GlobalRegistration(string Name, ProcessRef Target, NodeId RegisteredBy);

/// <summary>
/// Cluster-wide process names: a name registered on one node is found on every node, goes when its process ends or its
/// node goes down, and a name claimed twice at once resolves to the same winner everywhere (protocol.md §5.4).
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
/// When a node goes down, its names (those it registered and those naming its processes) are gone from the node-down
/// event on: <see cref="Whereis"/> no longer finds them and another node may take them. They leave the table, with an
/// <see cref="Unregistered"/> event each, after the node-down event and the monitors' down messages, a chunk at a time
/// on the thread pool, so that a node with a million names does not hold those notices back.
/// </para>
/// <para>
/// Thread-safe. <see cref="Whereis"/> is a lock-free local read that allocates nothing. Events are raised synchronously
/// after the table changed, outside the registry's lock; handlers must be quick and their exceptions are swallowed.
/// </para>
/// </remarks>
public sealed partial class GlobalRegistry : IClusterService
{
    /// <summary>The first message type this layer owns (protocol.md §5.4).</summary>
    internal const byte FirstType = MessageTypes.FirstRegistry;

    /// <summary>The last of them.</summary>
    internal const byte LastType = MessageTypes.LastRegistry;

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

    private readonly INodeContext _node;
    private readonly ProcessRuntime _runtime;
    private readonly string _self;
    private readonly Lock _lock = new();
    // The winning claim of each name. The default comparer for string keys is ordinal and takes the runtime's
    // non-randomized hashing fast path.
    private readonly ConcurrentDictionary<string, Entry> _visible = new();
    private readonly Dictionary<string, List<Entry>> _claims = new(StringComparer.Ordinal);
    private readonly Dictionary<ProcessRef, List<Entry>> _byTarget = new();
    private readonly Dictionary<string, SetDigest> _digests = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<Entry>> _syncing = new(StringComparer.Ordinal);
    private readonly HashSet<Connection> _syncedFrom = new(); // connections whose peer's full set has arrived (HasSyncedWith)
    // The full syncs being streamed, one per connection at most (GlobalRegistry.Sync.cs).
    private readonly Dictionary<Connection, SyncStream> _streams = new(ReferenceEqualityComparer.Instance);
    private long _clock;

    /// <summary>How far a claim's stamp may lie outside what its registrar could have made: below its start, or ahead of
    /// this node's clock (protocol.md §5.4).</summary>
    internal static readonly TimeSpan MaxStampSkew = TimeSpan.FromSeconds(60);
    private int _ticks;
    private long _conflicts;
    private long _syncRequests;
    private long _syncPeakQueuedBytes;
    private long _syncRequestsCoalesced;

    internal GlobalRegistry(INodeContext node)
    {
        _node = node;
        _runtime = node.Runtime;
        _self = node.Id.ToString();
        // Stamps start at this run's start, so that none falls below it even if the wall clock steps back (§5.4).
        _clock = (long)(node.Incarnation >> 16);
        _runtime.Events.Subscribe(OnLifecycle);
    }

    /// <summary>A name became visible on this node: registered here, or learned from a peer.</summary>
    public event Action<string, ProcessRef>? Registered;

    /// <summary>A name went away on this node: unregistered, its process ended, or a node involved went down (then
    /// after that node's down event, from the thread pool).</summary>
    public event Action<string, ProcessRef>? Unregistered;

    /// <summary>Two processes claimed one name: (name, winner, loser). Raised on every node that sees both claims.</summary>
    public event Action<string, ProcessRef, ProcessRef>? ConflictResolved;

    /// <summary>A peer's full set of registrations arrived: (from node, its entry count).</summary>
    public event Action<NodeId, int>? Synced;

    /// <summary>The number of names visible on this node.</summary>
    /// <remarks>The names of a node that went down are not counted from its node-down event on, although the table lets
    /// go of them a chunk at a time afterwards.</remarks>
    public int Count => Math.Max(0, _visible.Count - Volatile.Read(ref _deadShown));

    /// <summary>Conflicts this node has resolved (claims that lost to another claim of the same name).</summary>
    public long ConflictsResolved => Interlocked.Read(ref _conflicts);

    /// <summary>Full syncs this node asked for because a peer's digest differed from its copy (anti-entropy repairs).</summary>
    internal long SyncRequests => Interlocked.Read(ref _syncRequests);

    /// <summary>The most bytes a connection's outbound queue held right after a sync part went into it (for tests: a
    /// streamed sync stays within the queue's bound).</summary>
    internal long SyncPeakQueuedBytes => Interlocked.Read(ref _syncPeakQueuedBytes);

    /// <summary>Sync requests answered by the stream already running to their sender (for tests).</summary>
    internal long SyncRequestsCoalesced => Interlocked.Read(ref _syncRequestsCoalesced);

    /// <summary>The full syncs being streamed now (for tests: a closed connection leaves none behind).</summary>
    internal int SyncStreams
    {
        get
        {
            lock (_lock)
            {
                return _streams.Count;
            }
        }
    }

    /// <summary>The hybrid logical clock: the last stamp made or seen here (for tests).</summary>
    internal long Clock
    {
        get
        {
            lock (_lock)
            {
                return _clock;
            }
        }
    }

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
        Connection? host = null;
        var local = target.Node == _self;
        if (local)
        {
            if (!_runtime.IsAlive(target))
            {
                throw new ServerNotRunningException(target);
            }
            hostIncarnation = _node.Incarnation;
        }
        else if (_node.Connections.TryGetConnection(target.Node, out host))
        {
            hostIncarnation = host.PeerIncarnation;
        }
        else
        {
            throw NotConnected(target.Node);
        }
        var events = new EventList();
        ProcessRef? holder = null;
        lock (_lock)
        {
            if (host is { IsClosed: true })
            {
                // It closed since it was looked up: its run's departure may have passed (it takes the lock), and a claim
                // for a process of a run that went would outlive it. A close after this check departs the claim with it.
                throw NotConnected(target.Node);
            }
            // The claims of a node that went down lose the name at once, whatever is left of them in the table.
            SettleDead(name, events);
            if (_visible.TryGetValue(name, out var shown))
            {
                holder = shown.Target;
            }
            else
            {
                _clock = NextStamp(_clock, _node.Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
                var entry = new Entry(name, target, hostIncarnation, _clock, _node.Id, _self, _node.Incarnation);
                Add(entry, events);
                Broadcast(new RegisterMessage(entry.Name, entry.Target, entry.HostIncarnation, entry.Stamp));
            }
        }
        // Raised whatever the outcome: the settling above may have changed the table.
        Raise(events);
        if (holder is { } existing)
        {
            if (existing == target)
            {
                return;
            }
            throw new GlobalNameConflictException(name, existing);
        }
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
            if (OwnClaim(name) is not { } mine)
            {
                return false;
            }
            Remove(mine, events);
            Broadcast(new UnregisterMessage(name));
        }
        Raise(events);
        return true;
    }

    private static NodeNotReachableException NotConnected(string node) =>
        new(node, "a global name can only be registered for a process of a connected node");

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
        if (!_visible.TryGetValue(name, out var shown))
        {
            return null;
        }
        // A claim of a node that went down is dead from its node-down event on, though still in the table until the
        // cleanup reaches it (GlobalRegistry.Departures.cs). Only a dead winner costs the lock: a losing claim its
        // registrar has not withdrawn yet may be the name's winner now.
        return !shown.IsDead ? shown.Target : LiveWinner(name)?.Target;
    }

    /// <summary>Whether <paramref name="name"/> is registered.</summary>
    /// <param name="name">The name.</param>
    public bool IsRegistered(string name) => Whereis(name) is not null;

    /// <summary>Every registered name, in ordinal order (a snapshot).</summary>
    public IReadOnlyList<string> GetNames()
    {
        var names = new List<string>(_visible.Count);
        List<string>? dead = null;
        foreach (var (name, shown) in _visible)
        {
            (shown.IsDead ? dead ??= [] : names).Add(name);
        }
        if (dead is not null)
        {
            // Names whose winner's node went down, which a waiting claim may hold still: looked at under one hold of the lock.
            lock (_lock)
            {
                names.AddRange(dead.Where(n => LiveWinner(n) is not null));
            }
        }
        names.Sort(StringComparer.Ordinal);
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
                if (LiveWinner(claims) is { } winner)
                {
                    result.Add(new GlobalRegistration(name, winner.Target, winner.Registrar));
                }
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
                return _claims.Values.Sum(c => c.Count(e => !e.IsDead));
            }
        }
    }

    // ---- events: gathered under the lock while the table changes, raised after it ----------------------------------

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
