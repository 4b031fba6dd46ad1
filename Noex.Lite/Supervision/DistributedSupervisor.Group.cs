namespace Noex.Lite;

/// <summary>
/// A named supervisor's membership: one active member holds the name and acts, the others stand by with its replicated
/// state and take over when its node is lost (DESIGN.md, "Supervisor failover"; protocol.md §5.6).
/// </summary>
public sealed partial class DistributedSupervisor
{
    /// <summary>How long a member that is not the first in line waits for the first to take over before it tries itself.</summary>
    internal static readonly TimeSpan SuccessionGrace = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, ProcessRef> _standbys = new(); // the active member's: node id → standby member
    private ProcessRef _member;                // this member's process (named supervisors only)
    private volatile bool _active = true;      // an unnamed supervisor is always active
    private ProcessRef _knownActive;           // a standby's: the active member as last seen
    private IReadOnlyList<ProcessRef> _members = [];
    private long _version;
    private long _replicatedVersion = -1;
    private long _changes;
    private long _noActiveSince;               // when this standby first saw the name unheld; 0 while it is held
    private HashSet<ProcessRef>? _ranWhenActive; // the instances this member ran when it stood down
    private readonly Dictionary<NodeId, long> _upAt = new();     // when each peer last came up (the registry sync follows)
    private readonly HashSet<NodeId> _reachableNoted = new();   // lost nodes reported reachable by others since the links last changed

    /// <summary>How long a member waits for a newly connected peer's registry sync before it decides without it.</summary>
    internal static readonly TimeSpan SyncWait = TimeSpan.FromSeconds(3);

    /// <summary>The cluster-wide name, or null for an unnamed supervisor.</summary>
    public string? Name => _options.Name;

    /// <summary>
    /// Whether this member acts: always for an unnamed supervisor; for a named one, while it holds the name. A standby's
    /// <see cref="GetChildren"/> shows the active member's children as last replicated.
    /// </summary>
    public bool IsActive => _active;

    /// <summary>A standby's operations go to the active member by name; null when this member acts itself.</summary>
    private DistributedSupervisorRef? Forwarded => _options.Name is { } name && !_active ? new DistributedSupervisorRef(_node, name) : null;

    /// <summary>Runs a user operation on the loop, refused (so that a caller by name looks again) once this member stands by.</summary>
    private Task<T> RunActiveAsync<T>(Func<Task<T>> operation) => RunAsync(() =>
        _active ? operation() : Task.FromException<T>(new SupervisorErrors.StandbyException(_options.Name ?? Id)));

    /// <summary>A call to this member's process (<see cref="DistributedSupervisorRef"/>), answered from the loop.</summary>
    internal Task<Value> AnswerCallAsync(Value request)
    {
        var op = request.TryGetProperty("op", out var o) && o.TryGetString(out var text) ? text : "";
        string Id() => request.TryGetProperty("id", out var id) && id.TryGetString(out var childId) ? childId : throw new FormatException("The request needs a string id.");
        return op switch
        {
            "children" => RunActiveAsync(() => Task.FromResult(Value.Array(_children.Where(c => !c.Ref.IsEmpty).Select(c => DistributedSupervisorRef.ChildValue(c.ToInfo()))))),
            "start_child" => _options.Strategy == SupervisorStrategy.SimpleOneForOne
                ? Task.FromException<Value>(new DistributedInvalidSimpleOneForOneException(_options.Name!, "startChild requires template arguments for simple_one_for_one (use StartChildFromTemplateAsync)"))
                : RunActiveAsync(async () => DistributedSupervisorRef.ChildValue(await AddChildAsync(SupervisorReplica.SpecFromValue(request["spec"]), CancellationToken.None).ConfigureAwait(false))),
            "start_template" => StartTemplateByNameAsync(request.TryGetProperty("args", out var args) ? args : Value.Null),
            "terminate" => TerminateChildAsync(Id()).ContinueWith(t => t.IsCompletedSuccessfully ? Value.True : throw t.Exception!.InnerException!, TaskScheduler.Default),
            "restart" => RestartChildAsync(Id()).ContinueWith(t => SupervisorReplica.RefValue(t.GetAwaiter().GetResult()), TaskScheduler.Default),
            // Answered before the stop (which ends this member's process): SupervisorMember stops the group after replying.
            "stop" => RunActiveAsync(() => Task.FromResult(Value.True)),
            _ => Task.FromException<Value>(new FormatException($"Unknown operation '{op}'.")),
        };
    }

    /// <summary>Stops the whole group (a stop by name, once answered).</summary>
    internal void StopGroup() => Post(() => _active ? ShutdownAsync("shutdown") : Task.CompletedTask);

    private async Task<Value> StartTemplateByNameAsync(Value args) =>
        DistributedSupervisorRef.ChildValue(await StartChildFromTemplateAsync(args).ConfigureAwait(false));

    /// <summary>A cast to this member's process: a standby joining (to the active member), or the active member's state or stop (to a standby).</summary>
    internal void OnMemberCast(Value message)
    {
        var op = message.TryGetProperty("op", out var o) && o.TryGetString(out var text) ? text : "";
        switch (op)
        {
            case "join" when message.TryGetProperty("member", out var member):
                ProcessRef joining;
                try
                {
                    joining = SupervisorReplica.RefFromValue(member);
                }
                catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException or InvalidNodeIdException)
                {
                    return;
                }
                Post(() =>
                {
                    OnJoin(joining);
                    return Task.CompletedTask;
                });
                break;
            case "state" when SupervisorReplica.FromValue(message) is { } replica:
                Post(() =>
                {
                    OnState(replica);
                    return Task.CompletedTask;
                });
                break;
            case "stopped":
                var reason = message.TryGetProperty("reason", out var r) && r.TryGetString(out var why) ? why : "shutdown";
                Post(() => _active ? Task.CompletedTask : ShutdownAsync(reason));
                break;
        }
    }

    /// <summary>Becomes the first active member, or a standby of the one holding the name.</summary>
    private async Task JoinGroupAsync(CancellationToken cancellationToken)
    {
        var registry = _node.GlobalRegistry;
        registry.Registered += OnNameRegistered;
        registry.Unregistered += OnNameUnregistered;
        registry.ConflictResolved += OnNameConflict;
        _node.NodeRemoved += OnNodeRemoved;
        _member = await _node.Runtime.StartAsync(new SupervisorMember(this), cancellationToken: cancellationToken).ConfigureAwait(false);
        await RunAsync(async () =>
        {
            if (registry.Whereis(_options.Name!) is { } holder)
            {
                StandBy(holder);
                return true;
            }
            try
            {
                registry.Register(_options.Name!, _member);
            }
            catch (GlobalNameConflictException)
            {
                StandBy(registry.Whereis(_options.Name!) ?? default);
                return true;
            }
            foreach (var spec in _options.Children)
            {
                await AddChildAsync(spec, cancellationToken).ConfigureAwait(false);
            }
            return true;
        }).ConfigureAwait(false);
    }

    private void LeaveGroup()
    {
        var registry = _node.GlobalRegistry;
        registry.Registered -= OnNameRegistered;
        registry.Unregistered -= OnNameUnregistered;
        registry.ConflictResolved -= OnNameConflict;
        _node.NodeRemoved -= OnNodeRemoved;
        if (_active && registry.Whereis(_options.Name!) == _member)
        {
            registry.Unregister(_options.Name!);
        }
        if (!_member.IsEmpty)
        {
            _node.Runtime.Kill(_member);
        }
    }

    /// <summary>Stands by for <paramref name="active"/> (empty: none known yet) and asks it for its state.</summary>
    private void StandBy(ProcessRef active)
    {
        _active = false;
        _knownActive = active;
        if (!active.IsEmpty)
        {
            _noActiveSince = 0;
            _node.Runtime.Cast(active, Value.Object(("op", "join"), ("member", SupervisorReplica.RefValue(_member))));
        }
    }

    private void OnNameRegistered(string name, ProcessRef holder)
    {
        if (name == _options.Name && holder != _member)
        {
            Post(() =>
            {
                if (_node.GlobalRegistry.Whereis(name) != holder)
                {
                    return Task.CompletedTask;
                }
                if (_active)
                {
                    // Another member's claim is shown: it won (the loser's conflict event may come late, or not at all
                    // when the claims met on a third node first).
                    return StandDownAsync("conflict", holder);
                }
                if (holder != _knownActive)
                {
                    StandBy(holder);
                }
                return Task.CompletedTask;
            });
        }
    }

    /// <summary>A peer came up: until its registry sync arrives, this node may not know that another member holds the name.</summary>
    private void OnPeerUp(NodeId peer) => _upAt[peer] = _node.Options.TimeProvider.GetTimestamp();

    /// <summary>Whether a connected peer's registry sync is still awaited (at most <see cref="SyncWait"/> from its coming up).</summary>
    private bool AwaitsSync()
    {
        var time = _node.Options.TimeProvider;
        return _node.GetConnectedNodes().Any(p => !_node.GlobalRegistry.HasSyncedWith(p.Id)
            && (!_upAt.TryGetValue(p.Id, out var up) || time.GetElapsedTime(up) < SyncWait));
    }

    private void OnNameUnregistered(string name, ProcessRef holder)
    {
        if (name == _options.Name && holder != _member)
        {
            Post(CheckSuccessionAsync);
        }
    }

    private void OnNameConflict(string name, ProcessRef winner, ProcessRef loser)
    {
        if (name != _options.Name)
        {
            return;
        }
        if (loser == _member)
        {
            Post(() => StandDownAsync("conflict", winner));
        }
        else if (winner == _member)
        {
            // The loser stops what it ran that this member does not list, and with it the children's names it held.
            Post(() =>
            {
                ReclaimChildNames();
                return Task.CompletedTask;
            });
        }
    }

    /// <summary>Stops acting, leaving every child running: the member that holds the name now (or will) adopts them.</summary>
    private Task StandDownAsync(string reason, ProcessRef winner = default)
    {
        if (!_active || _options.Name is null)
        {
            return Task.CompletedTask;
        }
        _ranWhenActive = _children.Where(c => !c.Ref.IsEmpty).Select(c => c.Ref).ToHashSet();
        _members = [_member, .. _standbys.Values];
        foreach (var child in _children)
        {
            Unwatch(child);
        }
        if (_node.GlobalRegistry.Whereis(_options.Name) == _member)
        {
            _node.GlobalRegistry.Unregister(_options.Name);
        }
        _standbys.Clear();
        StandBy(winner);
        Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.SupervisorStoodDown, Id, Node: _node.Id, Reason: reason));
        ScheduleRetry();
        return Task.CompletedTask;
    }

    /// <summary>
    /// A standby's check, on every change that may matter (the name unheld, a node down or up) and every second while no
    /// member holds the name: take over when the active member's node is gone by the lost-node rule and this member is
    /// first in line, or when the first in line has not taken over within <see cref="SuccessionGrace"/>.
    /// </summary>
    private async Task CheckSuccessionAsync()
    {
        if (_active || _options.Name is null)
        {
            return;
        }
        var time = _node.Options.TimeProvider;
        if (_node.GlobalRegistry.Whereis(_options.Name) is { } holder)
        {
            if (holder != _knownActive)
            {
                StandBy(holder);
            }
            return;
        }
        if (_noActiveSince == 0)
        {
            _noActiveSince = time.GetTimestamp();
        }
        ScheduleRetry();
        NodeId? lost = _knownActive.IsEmpty || _knownActive.Node == _node.Id.ToString() ? null : NodeId.Parse(_knownActive.Node);
        if (lost is not null && _node.IsConnected(lost))
        {
            lost = null; // it stood down, or left: nothing is lost, the name is free
        }
        if (_options.PartitionPolicy == PartitionPolicy.Majority)
        {
            // Every member out of this node's sight must be lost to all it reaches: one still reached by others may hold
            // the name on their side (a healed partition reconnects one node at a time, and a member learns a claim only
            // from its registrar).
            var unseen = _members.Select(m => m.Node).Append(_knownActive.Node)
                .Where(n => n is not null && n != _node.Id.ToString() && !_node.IsConnected(NodeId.Parse(n)))
                .Distinct().Select(NodeId.Parse).ToList();
            if (!await MayConcludeLostAsync(null).ConfigureAwait(false))
            {
                return;
            }
            foreach (var node in unseen)
            {
                if (!await MayConcludeLostAsync(node).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        // First in line: the least node id among the members this node reaches, the one that held the name excluded (its
        // node is lost, or its member stopped or stood down).
        var me = _node.Id.ToString();
        var first = _members.Select(m => m.Node).Append(me)
            .Where(n => n != _knownActive.Node && (n == me || _node.IsConnected(NodeId.Parse(n))))
            .Min(StringComparer.Ordinal);
        if ((first != me && time.GetElapsedTime(_noActiveSince) < SuccessionGrace) || AwaitsSync())
        {
            return; // the first in line goes first; and a peer just back may hold the name (a healed partition)
        }
        await TakeOverAsync(lost).ConfigureAwait(false);
    }

    /// <summary>
    /// Under <see cref="PartitionPolicy.Majority"/>: whether this node may conclude that <paramref name="lost"/> (null: no
    /// node, only the quorum matters) is gone: it sees a quorum, and every peer it can ask answers that it cannot reach
    /// the node either (one cut link is not a dead node).
    /// </summary>
    private async Task<bool> MayConcludeLostAsync(NodeId? lost)
    {
        if (!SeesMajority())
        {
            return false;
        }
        if (lost is null)
        {
            return true;
        }
        // Every node this one counts towards its quorum is asked: one whose connection is already closing is no answer.
        var verdict = await _node.Reach.AskAsync(lost, _node.GetConnectedNodes().Select(n => n.Id), ReachTimeout).ConfigureAwait(false);
        if (!SeesMajority())
        {
            return false; // lost meanwhile (a peer's connection that closed during the question is no answer)
        }
        if (verdict.Reachable > 0 && _reachableNoted.Add(lost))
        {
            Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.NodeReachableByOthers, Id, Node: lost,
                Reason: $"{verdict.Reachable} of {verdict.Asked} peers reach it"));
        }
        return verdict.LostToAll && !_node.IsConnected(lost);
    }

    /// <summary>How long a reach query waits for each peer.</summary>
    private static readonly TimeSpan ReachTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Claims the name and acts on the replicated state: adopt the live children, restart the lost ones.</summary>
    private async Task TakeOverAsync(NodeId? from)
    {
        try
        {
            _node.GlobalRegistry.Register(_options.Name!, _member);
        }
        catch (NoexException)
        {
            // Another member claimed it first (or the name is held again): stand by for it.
            StandBy(_node.GlobalRegistry.Whereis(_options.Name!) ?? default);
            return;
        }
        _noActiveSince = 0;
        _ranWhenActive = null;
        _knownActive = _member;
        foreach (var member in _members.Where(m => m != _member && m.Node != from?.ToString()))
        {
            _standbys[member.Node] = member;
        }
        var lostByNode = new Dictionary<NodeId, List<Child>>();
        foreach (var child in _children.ToList())
        {
            if (child.Ref.IsEmpty)
            {
                child.Orphaned = true;
                ScheduleRetry();
                continue;
            }
            if (child.Node != _node.Id && !_node.IsConnected(child.Node))
            {
                child.Orphaned = true;
                if (!lostByNode.TryGetValue(child.Node, out var list))
                {
                    lostByNode[child.Node] = list = [];
                }
                list.Add(child);
                continue;
            }
            // Adopted where it runs: if it ended while nobody watched, the answer is noproc and it is restarted.
            child.Orphaned = false;
            child.Rewatched = true;
            Watch(child);
        }
        // Active once every live child is watched again: from here on a crash is this member's to restart.
        _active = true;
        Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.SupervisorTookOver, Id, Node: _node.Id, FromNode: from));
        foreach (var (node, children) in lostByNode)
        {
            Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.NodeFailureDetected, Id, Node: node,
                AffectedChildren: children.Select(c => c.Spec.Id).ToArray()));
            if (_options.PartitionPolicy == PartitionPolicy.Always || await MayConcludeLostAsync(node).ConfigureAwait(false))
            {
                await MigrateAsync(children, mayStillRun: true).ConfigureAwait(false);
            }
            else
            {
                ScheduleRetry();
            }
        }
        Replicate(force: true);
    }

    /// <summary>A standby's copy of the active member's state.</summary>
    private void OnState(SupervisorReplica replica)
    {
        if (_active || (replica.Version <= _version && replica.Active == _knownActive))
        {
            return;
        }
        var holder = _node.GlobalRegistry.Whereis(_options.Name!);
        if (holder is not null && holder != replica.Active)
        {
            return; // from a member that no longer holds the name
        }
        _knownActive = replica.Active;
        _version = replica.Version;
        _members = replica.Members;
        if (!replica.Members.Contains(_member))
        {
            StandBy(replica.Active); // it does not know this member (it took over since): join again
        }
        _children.Clear();
        foreach (var entry in replica.Children)
        {
            var spec = _options.Children.FirstOrDefault(s => s.Id == entry.Spec.Id)
                ?? (_options.ChildTemplate is { } template && entry.Spec.NodeSelector is null ? entry.Spec with { NodeSelector = template.NodeSelector } : entry.Spec);
            _children.Add(new Child(spec)
            {
                Ref = entry.Ref,
                Node = entry.Ref.IsEmpty ? _node.Id : NodeId.Parse(entry.Ref.Node),
                RestartCount = entry.RestartCount,
                StartedAt = entry.StartedAt,
                Orphaned = entry.Orphaned,
            });
        }
        var now = _node.Options.TimeProvider.GetTimestamp();
        _restartTimes.Clear();
        foreach (var age in replica.RestartAgesMs)
        {
            _restartTimes.Enqueue(now - (long)(age / 1000.0 * _node.Options.TimeProvider.TimestampFrequency));
        }
        _stale.Clear();
        _stale.AddRange(replica.Stale.Select(s => (NodeId.Parse(s.Node), s)));
        _templateChildren = replica.TemplateSequence;
        Volatile.Write(ref _totalRestarts, replica.TotalRestarts);
        Volatile.Write(ref _nodeFailureRestarts, replica.NodeFailureRestarts);
        if (_ranWhenActive is { } ran)
        {
            // What this member ran as the active one and the new active one does not list was started on this side of a
            // partition (or replaced by the other side): one instance of each child stays, the new active one's.
            _ranWhenActive = null;
            var listed = replica.Children.Select(c => c.Ref).ToHashSet();
            foreach (var process in ran.Where(r => !listed.Contains(r)))
            {
                _ = _host.StopAsync(process, TimeSpan.FromSeconds(5));
            }
        }
    }

    private void OnJoin(ProcessRef member)
    {
        if (!_active || member.IsEmpty)
        {
            return;
        }
        _standbys[member.Node] = member;
        Replicate(force: true);
    }

    /// <summary>Sends the state to every standby when it changed since the last send (the active member's loop, after each item).</summary>
    private void Replicate(bool force = false)
    {
        if (!_active || _options.Name is null || !_running)
        {
            return;
        }
        if (!force && _replicatedVersion == _changes)
        {
            return;
        }
        _replicatedVersion = _changes;
        var replica = ToReplica(++_version);
        var state = replica.ToValue();
        foreach (var standby in _standbys.Values)
        {
            _node.Runtime.Cast(standby, state);
        }
    }

    private SupervisorReplica ToReplica(long version)
    {
        var time = _node.Options.TimeProvider;
        var now = time.GetTimestamp();
        return new SupervisorReplica(version, _member, [_member, .. _standbys.Values],
            [.. _children.Select(c => new ReplicaChild(c.Spec, c.Ref, c.RestartCount, c.StartedAt, c.Orphaned))],
            [.. _restartTimes.Select(t => (long)time.GetElapsedTime(t, now).TotalMilliseconds)],
            [.. _stale.Select(s => s.Ref)], _templateChildren, Volatile.Read(ref _totalRestarts), Volatile.Read(ref _nodeFailureRestarts));
    }

    /// <summary>
    /// A node went down: a standby whose active member ran there checks the succession. The active member keeps the
    /// node's standby in its list (replicated to all): until the node is removed from the cluster, a member may be
    /// active on the far side of a partition, and the succession rule asks about every member out of sight.
    /// </summary>
    private void OnMemberNodeDown(NodeId node)
    {
        if (_knownActive.Node == node.ToString() && !_active)
        {
            Post(CheckSuccessionAsync);
        }
    }

    /// <summary>A node removed from the cluster (left, or unreachable past the bound) is no member any more.</summary>
    private void OnNodeRemoved(NodeRemovedEvent removed) => Post(() =>
    {
        var node = removed.Node.ToString();
        if (_standbys.Remove(node) || _members.Any(m => m.Node == node))
        {
            _members = [.. _members.Where(m => m.Node != node)];
        }
        return Task.CompletedTask;
    });

    private void ReclaimChildNames()
    {
        foreach (var child in _children.Where(c => c.Spec.GlobalName is not null && !c.Orphaned && !c.Ref.IsEmpty))
        {
            _host.ReclaimName(child.Spec.GlobalName!, child.Ref);
        }
    }
}
