using System.Threading.Channels;

namespace Noex.Lite;

/// <summary>
/// A supervisor whose children run anywhere in the cluster: it places each child on a node chosen by a selector,
/// watches it, restarts it by strategy and restart type when it ends, and moves it to a surviving node when its node is
/// lost.
/// </summary>
/// <remarks>
/// <para>
/// Every change (a start, a stop, a child's end, a node lost or back) is handled one at a time, in order, by the
/// supervisor's own loop, so that each ended instance is acted on exactly once: a notice about an instance that has
/// already been replaced is ignored. That is what makes a node loss, reported both by the node's down event and by the
/// monitors of its children, restart each child exactly once.
/// </para>
/// <para>
/// Partitions: a node that vanishes may have crashed or may be cut off with its children still running. With
/// <see cref="PartitionPolicy.Majority"/> (the default) the supervisor restarts a lost node's children elsewhere only
/// while its node sees a quorum: <see cref="NodeOptions.QuorumSize"/> nodes when set, otherwise a strict majority of the
/// nodes that have been up and were not removed by a majority (DESIGN.md, "Quorum"); otherwise it waits. Either way it remembers
/// the instances it replaced, and when their node comes back it stops them and reclaims the children's global names, so
/// that after the partition heals exactly one instance of each child is alive. Under the majority policy a node it cannot
/// reach counts as lost only when none of the nodes it reaches can reach it either (one cut link is not a dead node).
/// </para>
/// <para>
/// An unnamed supervisor lives on its node: if the node dies, its children keep running unsupervised. A named one
/// (<see cref="DistributedSupervisorOptions.Name"/>) runs as a group of members, one active and the others standing by,
/// and fails over to a standby that adopts the children where they run (DESIGN.md, "Supervisor failover").
/// </para>
/// <para>Thread-safe. Events are raised on the supervisor's loop, one at a time; handlers must be quick.</para>
/// </remarks>
public sealed partial class DistributedSupervisor : IAsyncDisposable
{
    private static int s_nextId;

    private readonly Node _node;
    private readonly IChildHost _host;
    private readonly bool _ownsHost;
    private readonly DistributedSupervisorOptions _options;
    private readonly Channel<Func<Task>> _work = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<Child> _children = new();                 // the loop's alone
    private readonly Queue<long> _restartTimes = new();              // the loop's alone
    private readonly List<(NodeId Node, ProcessRef Ref)> _stale = new(); // the loop's alone: replaced instances that may still run
    private readonly TaskCompletionSource<string> _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Random _random = new();
    private readonly long _startedTimestamp;
    private volatile DistributedChildInfo[] _published = [];
    private volatile bool _running = true;
    private int _roundRobin;
    private int _templateChildren;
    private int _totalRestarts;
    private int _nodeFailureRestarts;
    private int _retryScheduled;
    private Task _loop = Task.CompletedTask;
    private IDisposable? _reporting;

    private DistributedSupervisor(Node node, IChildHost host, bool ownsHost, DistributedSupervisorOptions options, string id)
    {
        _node = node;
        _host = host;
        _ownsHost = ownsHost;
        _options = options;
        Id = id;
        _startedTimestamp = node.Options.TimeProvider.GetTimestamp();
        StartedAt = node.Options.TimeProvider.GetUtcNow();
    }

    /// <summary>The supervisor's id, <c>dsup_&lt;n&gt;_&lt;base36 time&gt;</c>.</summary>
    public string Id { get; }

    /// <summary>The node the supervisor runs on.</summary>
    public NodeId NodeId => _node.Id;

    /// <summary>When it started.</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>Whether it is running (false once stopped, by request, auto-shutdown or exceeded intensity).</summary>
    public bool IsRunning => _running;

    /// <summary>Completes with the stop reason (<c>normal</c>, <c>shutdown</c>, <c>max_restarts_exceeded</c>) once the supervisor has stopped.</summary>
    public Task<string> Completion => _stopped.Task;

    /// <summary>Lifecycle events of this supervisor and its children.</summary>
    public event Action<DistributedSupervisorEvent>? LifecycleEvent;

    /// <summary>
    /// Starts a supervisor on <paramref name="node"/> and its children, in order. Children run where their selectors say,
    /// spawned through the node's behaviour registry (<c>node.Behaviors</c> on every node).
    /// </summary>
    /// <param name="node">The supervisor's node.</param>
    /// <param name="options">Strategy, children, selector, intensity, auto-shutdown, partition policy.</param>
    /// <param name="cancellationToken">Cancels the start; children already started are stopped.</param>
    /// <returns>The running supervisor.</returns>
    /// <exception cref="DistributedMissingChildTemplateException">simple_one_for_one without a template.</exception>
    /// <exception cref="DistributedInvalidSimpleOneForOneException">simple_one_for_one with static children.</exception>
    /// <exception cref="ArgumentException">An option is out of range, or two children share an id.</exception>
    /// <exception cref="NoexException">A child could not be started (the supervisor stops what it started, then rethrows).</exception>
    public static async Task<DistributedSupervisor> StartAsync(Node node, DistributedSupervisorOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var host = await ClusterChildHost.StartAsync(node, cancellationToken).ConfigureAwait(false);
        return await StartAsync(node, options, host, ownsHost: true, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<DistributedSupervisor> StartAsync(Node node, DistributedSupervisorOptions options, IChildHost host, bool ownsHost, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var id = $"dsup_{Interlocked.Increment(ref s_nextId)}_{ToBase36(node.Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds())}";
        try
        {
            Validate(options, id);
        }
        catch
        {
            if (ownsHost)
            {
                await host.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
        var supervisor = new DistributedSupervisor(node, host, ownsHost, options, id);
        supervisor._loop = Task.Run(supervisor.LoopAsync, CancellationToken.None); // it ends when the supervisor stops, not on the start's token
        node.NodeDown += supervisor.OnNodeDown;
        node.NodeUp += supervisor.OnNodeUp;
        // In its node's stats, so that a cluster snapshot (and the dashboard) shows it, wherever it is asked.
        supervisor._reporting = node.Observer.AddSupervisor(supervisor.Report);
        try
        {
            if (options.Name is not null)
            {
                await supervisor.JoinGroupAsync(cancellationToken).ConfigureAwait(false);
            }
            await supervisor.RunAsync(async () =>
            {
                if (options.Name is null)
                {
                    foreach (var spec in options.Children)
                    {
                        await supervisor.AddChildAsync(spec, cancellationToken).ConfigureAwait(false);
                    }
                }
                supervisor.Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.SupervisorStarted, id, Node: node.Id));
                return true;
            }).ConfigureAwait(false);
        }
        catch
        {
            await supervisor.StopAsync("shutdown").ConfigureAwait(false);
            throw;
        }
        return supervisor;
    }

    /// <summary>
    /// Stops the children (in reverse start order) and the supervisor. Idempotent. A member of a named supervisor stops
    /// alone: if it is the active one and others stand by, its children keep running and a standby takes them over (a
    /// node leaving hands its supervision over); <see cref="DistributedSupervisorRef.StopAsync"/> stops the whole group.
    /// </summary>
    /// <param name="reason">The reason the stop event carries; default <c>normal</c>.</param>
    public async Task StopAsync(string reason = "normal")
    {
        try
        {
            await RunAsync(async () =>
            {
                await ShutdownAsync(reason, handOver: true).ConfigureAwait(false);
                return true;
            }).ConfigureAwait(false);
        }
        catch (DistributedSupervisorException)
        {
            // Already stopped.
        }
        await _stopped.Task.ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
    }

    /// <summary>Stops the supervisor (<see cref="StopAsync"/>).</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>Starts one more child.</summary>
    /// <param name="spec">The child.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running child.</returns>
    /// <exception cref="DistributedInvalidSimpleOneForOneException">The supervisor is simple_one_for_one (use <see cref="StartChildFromTemplateAsync"/>).</exception>
    /// <exception cref="DistributedDuplicateChildException">The id is taken.</exception>
    /// <exception cref="DistributedBehaviorNotFoundException">The behaviour is not registered on this node.</exception>
    /// <exception cref="NoAvailableNodeException">The selector found no node.</exception>
    /// <exception cref="DistributedSupervisorException">The supervisor has stopped.</exception>
    public Task<DistributedChildInfo> StartChildAsync(DistributedChildSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (_options.Strategy == SupervisorStrategy.SimpleOneForOne)
        {
            return Task.FromException<DistributedChildInfo>(new DistributedInvalidSimpleOneForOneException(Id, "startChild requires template arguments for simple_one_for_one (use StartChildFromTemplateAsync)"));
        }
        if (Forwarded is { } group)
        {
            return group.StartChildAsync(spec, cancellationToken);
        }
        return RunActiveAsync(() => AddChildAsync(spec, cancellationToken));
    }

    /// <summary>Starts a simple_one_for_one child from the template, with id <c>child_&lt;n&gt;</c>.</summary>
    /// <param name="args">Its init arguments.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running child.</returns>
    /// <exception cref="DistributedInvalidSimpleOneForOneException">The supervisor is not simple_one_for_one.</exception>
    /// <exception cref="DistributedSupervisorException">The supervisor has stopped.</exception>
    public Task<DistributedChildInfo> StartChildFromTemplateAsync(Value args = default, CancellationToken cancellationToken = default)
    {
        if (_options.Strategy != SupervisorStrategy.SimpleOneForOne || _options.ChildTemplate is not { } template)
        {
            return Task.FromException<DistributedChildInfo>(new DistributedInvalidSimpleOneForOneException(Id, "startChildFromTemplate requires a simple_one_for_one supervisor"));
        }
        if (Forwarded is { } group)
        {
            return group.StartChildFromTemplateAsync(args, cancellationToken);
        }
        return RunActiveAsync(() => AddChildAsync(new DistributedChildSpec($"child_{++_templateChildren}", template.Behavior)
        {
            Args = args,
            Restart = template.Restart,
            NodeSelector = template.NodeSelector,
            ShutdownTimeout = template.ShutdownTimeout,
            Significant = template.Significant,
        }, cancellationToken));
    }

    /// <summary>Stops a child and forgets it (it is not restarted).</summary>
    /// <param name="childId">The child.</param>
    /// <exception cref="DistributedChildNotFoundException">No such child.</exception>
    /// <exception cref="DistributedSupervisorException">The supervisor has stopped.</exception>
    public Task TerminateChildAsync(string childId) => Forwarded is { } group ? group.TerminateChildAsync(childId) : RunActiveAsync(async () =>
    {
        var child = Find(childId);
        Unwatch(child);
        await _host.StopAsync(child.Ref, child.Spec.ShutdownTimeout).ConfigureAwait(false);
        await RemoveAsync(child, "shutdown").ConfigureAwait(false);
        return true;
    });

    /// <summary>Stops a child and starts it again, on the node its selector picks now. Not counted against the intensity.</summary>
    /// <param name="childId">The child.</param>
    /// <param name="cancellationToken">Cancels the start of the new instance.</param>
    /// <returns>The new instance.</returns>
    /// <exception cref="DistributedChildNotFoundException">No such child.</exception>
    /// <exception cref="DistributedSupervisorException">The supervisor has stopped.</exception>
    public Task<ProcessRef> RestartChildAsync(string childId, CancellationToken cancellationToken = default) => Forwarded is { } group
        ? group.RestartChildAsync(childId, cancellationToken)
        : RunActiveAsync(async () =>
    {
        var child = Find(childId);
        Unwatch(child);
        await _host.StopAsync(child.Ref, child.Spec.ShutdownTimeout).ConfigureAwait(false);
        await StartInstanceAsync(child, exclude: null, cancellationToken).ConfigureAwait(false);
        child.RestartCount++;
        Interlocked.Increment(ref _totalRestarts);
        Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.ChildRestarted, Id, child.Spec.Id, child.Node, Attempt: child.RestartCount));
        return child.Ref;
    });

    /// <summary>The children, in start order.</summary>
    public IReadOnlyList<DistributedChildInfo> GetChildren() => _published;

    /// <summary>One child, or null.</summary>
    /// <param name="childId">Its id.</param>
    public DistributedChildInfo? GetChild(string childId) => Array.Find(_published, c => c.Id == childId);

    /// <summary>How many children there are.</summary>
    public int CountChildren() => _published.Length;

    /// <summary>The supervisor's figures.</summary>
    public DistributedSupervisorStats GetStats()
    {
        var children = _published;
        return new DistributedSupervisorStats(Id, _options.Strategy, children.Length,
            children.GroupBy(c => c.Node).ToDictionary(g => g.Key, g => g.Count()),
            Volatile.Read(ref _totalRestarts), Volatile.Read(ref _nodeFailureRestarts), StartedAt,
            _node.Options.TimeProvider.GetElapsedTime(_startedTimestamp));
    }

    /// <summary>This supervisor as its node reports it (<see cref="NodeStats.Supervisors"/>).</summary>
    private SupervisorReport? Report()
    {
        if (!_active)
        {
            return null;
        }
        var stats = GetStats();
        return new SupervisorReport(Id, Snake(stats.Strategy), stats.TotalRestarts, stats.NodeFailureRestarts, stats.StartedAt,
            [.. GetChildren().Select(c => new SupervisedChildReport(c.Id, c.Spec.Behavior, c.Ref, c.RestartCount, c.StartedAt, c.Spec.GlobalName))]);
    }

    private static string Snake(SupervisorStrategy strategy) => strategy switch
    {
        SupervisorStrategy.OneForAll => "one_for_all",
        SupervisorStrategy.RestForOne => "rest_for_one",
        SupervisorStrategy.SimpleOneForOne => "simple_one_for_one",
        _ => "one_for_one",
    };

    // ---- the loop --------------------------------------------------------------------------------

    private async Task LoopAsync()
    {
        await foreach (var item in _work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await item().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Items catch their own failures; this keeps the loop alive should one slip through.
            }
            Publish();
            Replicate();
        }
    }

    /// <summary>Runs <paramref name="operation"/> on the loop, after everything queued before it.</summary>
    private Task<T> RunAsync<T>(Func<Task<T>> operation)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queued = _work.Writer.TryWrite(async () =>
        {
            if (!_running)
            {
                result.TrySetException(NotRunning());
                return;
            }
            try
            {
                var value = await operation().ConfigureAwait(false);
                // The caller sees the children as the operation left them.
                Publish();
                result.TrySetResult(value);
            }
            catch (Exception e)
            {
                Publish();
                result.TrySetException(e);
            }
        });
        if (!queued)
        {
            result.TrySetException(NotRunning());
        }
        return result.Task;
    }

    /// <summary>Queues a notice (a child ended, a node went or came); its failures end the supervisor rather than vanish.</summary>
    private void Post(Func<Task> notice) => _work.Writer.TryWrite(async () =>
    {
        if (!_running)
        {
            return;
        }
        try
        {
            await notice().ConfigureAwait(false);
        }
        catch (Exception)
        {
            await ShutdownAsync("shutdown").ConfigureAwait(false);
        }
    });

    private DistributedSupervisorException NotRunning() => new(Id, "Supervisor not found (it has stopped)");

    private void Publish() => _published = _children.Where(c => !c.Ref.IsEmpty).Select(c => c.ToInfo()).ToArray();

    // ---- children --------------------------------------------------------------------------------

    private async Task<DistributedChildInfo> AddChildAsync(DistributedChildSpec spec, CancellationToken cancellationToken)
    {
        if (_children.Any(c => c.Spec.Id == spec.Id))
        {
            throw new DistributedDuplicateChildException(Id, spec.Id);
        }
        if (!_host.HasBehavior(spec.Behavior))
        {
            throw new DistributedBehaviorNotFoundException(spec.Behavior, _node.Id);
        }
        var child = new Child(spec);
        await StartInstanceAsync(child, exclude: null, cancellationToken).ConfigureAwait(false);
        _children.Add(child);
        Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.ChildStarted, Id, spec.Id, child.Node));
        return child.ToInfo();
    }

    /// <summary>Places and spawns a new instance of <paramref name="child"/> and watches it.</summary>
    private async Task StartInstanceAsync(Child child, NodeId? exclude, CancellationToken cancellationToken)
    {
        var selector = child.Spec.NodeSelector ?? _options.NodeSelector;
        var target = SelectNode(selector, child.Spec.Id, exclude);
        var process = await _host.SpawnAsync(target, child.Spec.Behavior, child.Spec.Args, child.Spec.GlobalName, _options.SpawnTimeout, cancellationToken).ConfigureAwait(false);
        child.Ref = process;
        child.Node = target;
        child.Orphaned = false;
        child.StartedAt = _node.Options.TimeProvider.GetUtcNow();
        Watch(child);
    }

    private void Watch(Child child)
    {
        var instance = ++child.Instance;
        child.Watch = _host.Watch(child.Ref, reason => Post(() => OnChildDownAsync(child, instance, reason)));
    }

    /// <summary>Stops listening to the current instance: any notice about it still in flight is now stale.</summary>
    private static void Unwatch(Child child)
    {
        child.Instance++;
        child.Watch?.Dispose();
        child.Watch = null;
    }

    private Child Find(string childId) => _children.Find(c => c.Spec.Id == childId) ?? throw new DistributedChildNotFoundException(Id, childId);

    private async Task OnChildDownAsync(Child child, long instance, ExitReason reason)
    {
        if (child.Instance != instance || !_children.Contains(child))
        {
            return; // an instance already replaced or removed: acted on once already
        }
        Unwatch(child);
        var rewatched = child.Rewatched;
        child.Rewatched = false;
        if (reason.Kind == ExitReasonKind.NoConnection)
        {
            if (_node.IsConnected(child.Node))
            {
                // Its node is back already (a quick reconnect or a restart): ask again; a lost instance answers noproc.
                child.Rewatched = true;
                Watch(child);
                return;
            }
            // One path for this notice and the node's own down event, whichever comes first.
            await OnNodeLostAsync(child.Node).ConfigureAwait(false);
            return;
        }
        if (reason.Kind == ExitReasonKind.NoProc && rewatched)
        {
            // Its node came back without it (it restarted): the node's failure, not the child's own exit.
            child.Orphaned = true;
            await MigrateAsync([child], mayStillRun: false).ConfigureAwait(false);
            return;
        }
        await OnChildExitAsync(child, reason).ConfigureAwait(false);
    }

    private async Task OnChildExitAsync(Child child, ExitReason reason)
    {
        if (!ShouldRestart(child.Spec.Restart, reason))
        {
            await RemoveAsync(child, ReasonText(reason)).ConfigureAwait(false);
            return;
        }
        if (!RecordRestart())
        {
            await ExceededAsync().ConfigureAwait(false);
            return;
        }
        var group = _options.Strategy switch
        {
            SupervisorStrategy.OneForAll => _children.ToList(),
            SupervisorStrategy.RestForOne => _children.Skip(_children.IndexOf(child)).ToList(),
            _ => [child],
        };
        // Stop the rest of the group in reverse start order, then start the group again in order (OTP).
        for (var i = group.Count - 1; i >= 0; i--)
        {
            if (group[i] != child)
            {
                Unwatch(group[i]);
                await _host.StopAsync(group[i].Ref, group[i].Spec.ShutdownTimeout).ConfigureAwait(false);
            }
        }
        foreach (var member in group)
        {
            if (member != child && member.Spec.Restart == RestartType.Temporary)
            {
                await RemoveAsync(member, "shutdown").ConfigureAwait(false);
                continue;
            }
            try
            {
                await StartInstanceAsync(member, exclude: null, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NoexException or OperationCanceledException)
            {
                // A failed restart is another failure of the child: it counts against the intensity, as in OTP.
                Unwatch(member);
                var failed = member.Instance;
                Post(() => OnChildDownAsync(member, failed, ExitReason.Error(e)));
                continue;
            }
            if (member == child)
            {
                member.RestartCount++;
            }
            Interlocked.Increment(ref _totalRestarts);
            Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.ChildRestarted, Id, member.Spec.Id, member.Node, Attempt: member.RestartCount));
        }
    }

    private static bool ShouldRestart(RestartType restart, ExitReason reason) => restart switch
    {
        RestartType.Permanent => true,
        RestartType.Transient => reason.IsAbnormal,
        _ => false,
    };

    private static string ReasonText(ExitReason reason) => reason.Kind switch
    {
        ExitReasonKind.Normal => "normal",
        ExitReasonKind.Shutdown => "shutdown",
        ExitReasonKind.Killed => "killed",
        ExitReasonKind.NoProc => "noproc",
        ExitReasonKind.NoConnection => "node_down",
        _ => reason.Message ?? "error",
    };

    /// <summary>Forgets a child that is not restarted, then applies auto-shutdown.</summary>
    private async Task RemoveAsync(Child child, string reason)
    {
        Unwatch(child);
        _children.Remove(child);
        Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.ChildStopped, Id, child.Spec.Id, child.Node, Reason: reason));
        if (child.Spec.Significant && (_options.AutoShutdown == AutoShutdown.AnySignificant
            || (_options.AutoShutdown == AutoShutdown.AllSignificant && !_children.Any(c => c.Spec.Significant))))
        {
            await ShutdownAsync("shutdown").ConfigureAwait(false);
        }
    }

    /// <summary>Sliding-window intensity: true (and recorded) when one more restart is allowed now.</summary>
    private bool RecordRestart()
    {
        var time = _node.Options.TimeProvider;
        var now = time.GetTimestamp();
        while (_restartTimes.Count > 0 && time.GetElapsedTime(_restartTimes.Peek(), now) > _options.Within)
        {
            _restartTimes.Dequeue();
        }
        if (_restartTimes.Count >= _options.MaxRestarts)
        {
            return false;
        }
        _restartTimes.Enqueue(now);
        return true;
    }

    /// <summary>Takes back the restart recorded last (it did not happen).</summary>
    private void RefundRestart()
    {
        var kept = _restartTimes.Take(_restartTimes.Count - 1).ToArray();
        _restartTimes.Clear();
        foreach (var time in kept)
        {
            _restartTimes.Enqueue(time);
        }
    }

    private async Task ExceededAsync()
    {
        await ShutdownAsync("max_restarts_exceeded").ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the supervisor. The active member stops its children, unless it hands them over (<paramref name="handOver"/>,
    /// a named supervisor with members standing by); a standby's children are the active member's and are left alone.
    /// A named group's active member that stops them tells its standbys to stop too.
    /// </summary>
    private async Task ShutdownAsync(string reason, bool handOver = false)
    {
        if (!_running)
        {
            return;
        }
        handOver &= _options.Name is not null && _active && _standbys.Values.Any(s => _node.IsConnected(NodeId.Parse(s.Node)));
        var stopsChildren = _active && !handOver;
        if (stopsChildren && _options.Name is not null)
        {
            foreach (var standby in _standbys.Values)
            {
                _node.Runtime.Cast(standby, Value.Object(("op", "stopped"), ("reason", reason)));
            }
        }
        _running = false;
        _node.NodeDown -= OnNodeDown;
        _node.NodeUp -= OnNodeUp;
        _reporting?.Dispose();
        if (_options.Name is not null)
        {
            LeaveGroup();
        }
        try
        {
            for (var i = _children.Count - 1; i >= 0; i--)
            {
                var child = _children[i];
                Unwatch(child);
                if (stopsChildren)
                {
                    await _host.StopAsync(child.Ref, child.Spec.ShutdownTimeout).ConfigureAwait(false);
                }
            }
            if (_ownsHost)
            {
                await _host.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Stops never throw by contract; whatever slips through must not keep the supervisor from ending.
        }
        _children.Clear();
        Publish();
        Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.SupervisorStopped, Id, Node: _node.Id, Reason: reason));
        _work.Writer.TryComplete();
        _stopped.TrySetResult(reason);
    }

    // ---- nodes -----------------------------------------------------------------------------------

    private void OnNodeDown(NodeDownEvent down) => Post(async () =>
    {
        _reachableNoted.Clear();
        if (_options.Name is not null)
        {
            OnMemberNodeDown(down.Node);
            if (_active && _options.PartitionPolicy == PartitionPolicy.Majority && !SeesMajority())
            {
                // On the minority side of a partition the majority side takes over: stop acting, leave the children be.
                await StandDownAsync("no_quorum").ConfigureAwait(false);
                return;
            }
        }
        await OnNodeLostAsync(down.Node).ConfigureAwait(false);
    });

    private void OnNodeUp(NodeInfo info) => Post(() =>
    {
        _reachableNoted.Clear();
        if (_options.Name is not null)
        {
            OnPeerUp(info.Id);
        }
        return OnNodeBackAsync(info.Id);
    });

    /// <summary>A node with children on it is out of sight: restart them elsewhere once, or wait until the lost-node rule allows it.</summary>
    private async Task OnNodeLostAsync(NodeId lost)
    {
        if (lost == _node.Id || !_active)
        {
            return;
        }
        if (_node.IsConnected(lost))
        {
            return; // back already: each child's monitor decides (see OnChildDownAsync)
        }
        var affected = _children.Where(c => c.Node == lost && !c.Orphaned).ToList();
        if (affected.Count == 0)
        {
            return;
        }
        Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.NodeFailureDetected, Id, Node: lost,
            AffectedChildren: affected.Select(c => c.Spec.Id).ToArray()));
        foreach (var child in affected)
        {
            Unwatch(child);
            child.Orphaned = true;
        }
        if (_options.PartitionPolicy == PartitionPolicy.Majority && !await MayConcludeLostAsync(lost).ConfigureAwait(false))
        {
            // A minority side, or a node others still reach: the children may well be running. Asked again every second.
            ScheduleRetry();
            return;
        }
        await MigrateAsync(affected, mayStillRun: true).ConfigureAwait(false);
    }

    /// <summary>
    /// Restarts orphaned children away from their lost nodes (or removes them, by restart type). One node failure is one
    /// failure for the intensity, however many children it takes: otherwise losing a node with more children than
    /// <see cref="DistributedSupervisorOptions.MaxRestarts"/> would always end the supervisor.
    /// </summary>
    /// <param name="children">The children, all orphaned.</param>
    /// <param name="mayStillRun">Whether the old instances may still run on the other side of a partition (stop them on heal).</param>
    private async Task MigrateAsync(IReadOnlyList<Child> children, bool mayStillRun)
    {
        var movers = new List<Child>();
        foreach (var child in children)
        {
            if (mayStillRun && !_stale.Contains((child.Node, child.Ref)))
            {
                _stale.Add((child.Node, child.Ref));
            }
            if (ShouldRestart(child.Spec.Restart, ExitReason.NoConnection))
            {
                movers.Add(child);
            }
            else
            {
                await RemoveAsync(child, "node_down").ConfigureAwait(false);
            }
        }
        if (movers.Count == 0 || !_running)
        {
            return;
        }
        if (!RecordRestart())
        {
            await ExceededAsync().ConfigureAwait(false);
            return;
        }
        var moved = 0;
        foreach (var child in movers)
        {
            var from = child.Node;
            try
            {
                // A child with no instance (none could be placed before a takeover) has no node to avoid.
                await StartInstanceAsync(child, exclude: child.Ref.IsEmpty ? null : from, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NoexException or OperationCanceledException)
            {
                // Nowhere to go now (no node, or the spawn failed): it stays orphaned and is tried again in a second,
                // or when a node comes up.
                ScheduleRetry();
                continue;
            }
            moved++;
            child.RestartCount++;
            Interlocked.Increment(ref _totalRestarts);
            Interlocked.Increment(ref _nodeFailureRestarts);
            Raise(new DistributedSupervisorEvent(DistributedSupervisorEventKind.ChildMigrated, Id, child.Spec.Id, child.Node, FromNode: from, Attempt: child.RestartCount));
        }
        if (moved == 0)
        {
            // Waiting for a place is not a restart.
            RefundRestart();
        }
    }

    private void ScheduleRetry()
    {
        if (Interlocked.Exchange(ref _retryScheduled, 1) == 0)
        {
            _ = Task.Delay(TimeSpan.FromSeconds(1), _node.Options.TimeProvider).ContinueWith(
                _ => Post(RetryOrphansAsync), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Tries again to place children whose node is lost and that found no new one yet (a standby: to take over).</summary>
    private async Task RetryOrphansAsync()
    {
        Volatile.Write(ref _retryScheduled, 0);
        if (!_active)
        {
            await CheckSuccessionAsync().ConfigureAwait(false);
            return;
        }
        await SettleOrphansAsync().ConfigureAwait(false);
    }

    /// <summary>Restarts the orphans whose node the lost-node rule lets this node give up; asks again in a second for the rest.</summary>
    private async Task SettleOrphansAsync()
    {
        var orphans = _children.Where(c => c.Orphaned && (c.Ref.IsEmpty || !_node.IsConnected(c.Node))).ToList();
        foreach (var group in orphans.GroupBy(c => c.Ref.IsEmpty ? null : c.Node))
        {
            if (_options.PartitionPolicy == PartitionPolicy.Always || await MayConcludeLostAsync(group.Key).ConfigureAwait(false))
            {
                await MigrateAsync(group.ToList(), mayStillRun: group.Key is not null).ConfigureAwait(false);
            }
        }
        if (_children.Any(c => c.Orphaned))
        {
            ScheduleRetry();
        }
    }

    /// <summary>A node is (back) in sight: stop the instances replaced while it was away, then settle orphaned children.</summary>
    private async Task OnNodeBackAsync(NodeId back)
    {
        if (!_active)
        {
            if (_knownActive.Node == back.ToString())
            {
                StandBy(_knownActive); // the active member's node is back: it may have missed this member
            }
            await CheckSuccessionAsync().ConfigureAwait(false);
            return;
        }
        // An orphan whose move failed is still the current instance: it is watched again below, not stopped.
        var stale = _stale.Where(s => s.Node == back && !_children.Any(c => c.Orphaned && c.Ref == s.Ref)).ToList();
        _stale.RemoveAll(s => s.Node == back);
        foreach (var (_, process) in stale)
        {
            await _host.StopAsync(process, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        if (stale.Count > 0)
        {
            _changes++; // the stale list shrank without an event
            // The old instance may have held (or, on its side, re-won) a global name: the current one owns it.
            foreach (var child in _children.Where(c => c.Spec.GlobalName is not null && !c.Orphaned))
            {
                _host.ReclaimName(child.Spec.GlobalName!, child.Ref);
            }
        }
        var elsewhere = new List<Child>();
        foreach (var child in _children.Where(c => c.Orphaned))
        {
            if (child.Node == back)
            {
                // Its own node is back: the instance may have run all along (a partition). Watch it again; if it is
                // gone, the answer (noproc) restarts it.
                child.Orphaned = false;
                child.Rewatched = true;
                Watch(child);
            }
            else if (!_node.IsConnected(child.Node))
            {
                elsewhere.Add(child);
            }
        }
        if (elsewhere.Count > 0)
        {
            await SettleOrphansAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether this node sees a quorum: a majority of the cluster that no partition can give both sides.</summary>
    private bool SeesMajority() => _node.HasQuorum;

    // ---- placement -------------------------------------------------------------------------------

    /// <summary>Chooses a node for <paramref name="childId"/>: candidates are this node and the connected nodes, minus <paramref name="exclude"/>.</summary>
    internal NodeId SelectNode(NodeSelector selector, string childId, NodeId? exclude)
    {
        var candidates = new List<NodeInfo>();
        if (_node.Id != exclude)
        {
            candidates.Add(new NodeInfo(_node.Id, NodeStatus.Connected, _node.Incarnation, _node.Runtime.ProcessCount, _node.Uptime, _node.Options.TimeProvider.GetUtcNow()));
        }
        candidates.AddRange(_node.GetNodes().Where(n => n.Status == NodeStatus.Connected && n.Id != exclude && _node.IsConnected(n.Id)));
        NodeId? chosen = selector.Kind switch
        {
            NodeSelectorKind.LocalFirst => candidates.FirstOrDefault()?.Id,
            NodeSelectorKind.RoundRobin => candidates.Count == 0 ? null : candidates[(int)((uint)_roundRobin++ % (uint)candidates.Count)].Id,
            NodeSelectorKind.LeastLoaded => candidates.Count == 0 ? null : candidates.MinBy(n => n.ProcessCount)!.Id,
            NodeSelectorKind.Random => candidates.Count == 0 ? null : candidates[_random.Next(candidates.Count)].Id,
            NodeSelectorKind.Specific => candidates.Any(c => c.Id == selector.Node) ? selector.Node : null,
            _ => selector.Function!(candidates, childId) is { } picked && candidates.Any(c => c.Id == picked) ? picked : null,
        };
        return chosen ?? throw new NoAvailableNodeException(childId, selector);
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static void Validate(DistributedSupervisorOptions options, string id)
    {
        if (options.Strategy == SupervisorStrategy.SimpleOneForOne)
        {
            if (options.ChildTemplate is null)
            {
                throw new DistributedMissingChildTemplateException(id);
            }
            if (options.Children.Count > 0)
            {
                throw new DistributedInvalidSimpleOneForOneException(id, "static children are not allowed");
            }
        }
        if (options.MaxRestarts < 0)
        {
            throw new ArgumentException($"{nameof(DistributedSupervisorOptions.MaxRestarts)} must be 0 or more, not {options.MaxRestarts}.", nameof(options));
        }
        if (options.Within <= TimeSpan.Zero || options.SpawnTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(DistributedSupervisorOptions.Within)} and {nameof(DistributedSupervisorOptions.SpawnTimeout)} must be positive.", nameof(options));
        }
        ArgumentNullException.ThrowIfNull(options.NodeSelector);
    }

    private void Raise(DistributedSupervisorEvent e)
    {
        // Every change of what a standby needs comes with an event: the loop replicates after an item that raised one,
        // not after each retry that changed nothing.
        _changes++;
        // What a handler reads (GetChildren) agrees with the event it is handling.
        Publish();
        foreach (var handler in LifecycleEvent?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action<DistributedSupervisorEvent>)handler)(e);
            }
            catch (Exception)
            {
                // A handler's failure is its own: it stops neither the loop nor the other handlers.
            }
        }
    }

    private static string ToBase36(long value)
    {
        const string Digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        var text = new System.Text.StringBuilder();
        do
        {
            text.Insert(0, Digits[(int)(value % 36)]);
            value /= 36;
        }
        while (value > 0);
        return text.ToString();
    }

    /// <summary>A child and its current instance; touched only by the loop.</summary>
    private sealed class Child(DistributedChildSpec spec)
    {
        public DistributedChildSpec Spec { get; } = spec;

        public ProcessRef Ref { get; set; }

        public NodeId Node { get; set; } = null!;

        public int RestartCount { get; set; }

        public DateTimeOffset StartedAt { get; set; }

        /// <summary>Bumped on every watch and unwatch: a notice carrying an older number is about a replaced instance.</summary>
        public long Instance { get; set; }

        public IDisposable? Watch { get; set; }

        /// <summary>Its node is out of sight and it was not restarted yet (no majority, or nowhere to go).</summary>
        public bool Orphaned { get; set; }

        /// <summary>Watched again after its node came back: noproc then means the node lost it.</summary>
        public bool Rewatched { get; set; }

        public DistributedChildInfo ToInfo() => new(Spec.Id, Ref, Spec, Node, RestartCount, StartedAt);
    }
}
