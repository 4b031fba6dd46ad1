namespace Noex.Lite;

/// <summary>How a supervisor restarts children when one ends.</summary>
public enum SupervisorStrategy
{
    /// <summary><c>one_for_one</c>: only the child that ended is restarted.</summary>
    OneForOne = 0,
    /// <summary><c>one_for_all</c>: all children are stopped (in reverse order) and started again (in order).</summary>
    OneForAll,
    /// <summary><c>rest_for_one</c>: the child that ended and every child started after it are restarted.</summary>
    RestForOne,
    /// <summary><c>simple_one_for_one</c>: children are started on demand from one template, each restarted alone.</summary>
    SimpleOneForOne,
}

/// <summary>When a child is restarted.</summary>
public enum RestartType
{
    /// <summary><c>permanent</c>: always.</summary>
    Permanent = 0,
    /// <summary><c>transient</c>: only after an abnormal exit (not normal, shutdown or noproc).</summary>
    Transient,
    /// <summary><c>temporary</c>: never; the child is forgotten when it ends.</summary>
    Temporary,
}

/// <summary>How to start, restart and stop one child.</summary>
/// <param name="Id">The child id, unique in its supervisor (ignored for simple_one_for_one templates).</param>
/// <param name="Create">Makes a fresh behaviour instance; called for the first start and every restart.</param>
public sealed record ChildSpec(string Id, Func<GenServer> Create)
{
    /// <summary>Arguments passed to init. Default null.</summary>
    public Value Args { get; init; }

    /// <summary>When the child is restarted. Default <see cref="RestartType.Permanent"/>.</summary>
    public RestartType Restart { get; init; }

    /// <summary>How long the child may take to stop before it is killed. Default 5000 ms.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromMilliseconds(5000);

    /// <summary>Other start options (name, init timeout, mailbox); the link to the supervisor is added. Default none.</summary>
    public StartOptions? StartOptions { get; init; }
}

/// <summary>The configuration of a supervisor.</summary>
public sealed record SupervisorOptions
{
    /// <summary>The restart strategy. Default <see cref="SupervisorStrategy.OneForOne"/>.</summary>
    public SupervisorStrategy Strategy { get; init; }

    /// <summary>The children, started in this order and stopped in reverse. Must be empty for simple_one_for_one. Default none.</summary>
    public IReadOnlyList<ChildSpec> Children { get; init; } = [];

    /// <summary>For simple_one_for_one: the template of every child. Default null.</summary>
    public ChildSpec? ChildTemplate { get; init; }

    /// <summary>More restarts than this within <see cref="Within"/> stop the supervisor. Default 3.</summary>
    public int MaxRestarts { get; init; } = 3;

    /// <summary>The window restarts are counted in. Default 5000 ms.</summary>
    public TimeSpan Within { get; init; } = TimeSpan.FromMilliseconds(5000);
}

/// <summary>One child of a supervisor, as reported by <see cref="Supervisor.GetChildrenAsync"/>.</summary>
/// <param name="Id">The child id.</param>
/// <param name="Process">The running process, or empty if it is not running (terminated, or between restarts).</param>
/// <param name="Restart">Its restart type.</param>
public readonly record struct ChildInfo(string Id, ProcessRef Process, RestartType Restart);

/// <summary>
/// Supervisors: processes that start children, restart them by strategy when they end, and stop them in
/// reverse order when the supervisor stops.
/// </summary>
/// <remarks>
/// A supervisor is a process that traps exits and links to its children, so it learns of a child's end
/// from the child's exit signal, at once, without polling. More than <see cref="SupervisorOptions.MaxRestarts"/>
/// restarts within <see cref="SupervisorOptions.Within"/> stop the supervisor (and its children) with an
/// error reason carrying <see cref="MaxRestartsExceededException"/>.
/// </remarks>
public static class Supervisor
{
    /// <summary>Starts a supervisor and its children, in order. If a child fails to start, the ones started are stopped and the start fails.</summary>
    /// <param name="runtime">The runtime.</param>
    /// <param name="options">Strategy, children, intensity.</param>
    /// <param name="startOptions">The supervisor's own start options (name, link); null for none.</param>
    /// <param name="cancellationToken">Abandons the start.</param>
    /// <returns>The supervisor's reference.</returns>
    public static Task<ProcessRef> StartSupervisorAsync(this ProcessRuntime runtime, SupervisorOptions options, StartOptions? startOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Strategy == SupervisorStrategy.SimpleOneForOne)
        {
            if (options.ChildTemplate is null)
            {
                throw new ArgumentException("A simple_one_for_one supervisor needs SupervisorOptions.ChildTemplate.", nameof(options));
            }

            if (options.Children.Count != 0)
            {
                throw new ArgumentException("A simple_one_for_one supervisor takes no static SupervisorOptions.Children; start them with StartChildAsync.", nameof(options));
            }
        }

        if (options.MaxRestarts < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxRestarts, "SupervisorOptions.MaxRestarts must not be negative.");
        }

        HashSet<string> ids = new(StringComparer.Ordinal);
        foreach (ChildSpec spec in options.Children)
        {
            if (!ids.Add(spec.Id))
            {
                throw new ArgumentException($"Duplicate child id '{spec.Id}' in SupervisorOptions.Children.", nameof(options));
            }
        }

        // Init starts the children; give it the longest time they may need, not the 5 s default.
        StartOptions start = (startOptions ?? StartOptions.Default) with { TrapExit = true, InitTimeout = Timeout.InfiniteTimeSpan };
        return runtime.StartAsync(new SupervisorServer(options, start.LinkTo), default, start, cancellationToken);
    }

    /// <summary>Adds and starts a child (for simple_one_for_one, use the overload with arguments).</summary>
    /// <param name="runtime">The runtime.</param>
    /// <param name="supervisor">The supervisor.</param>
    /// <param name="spec">The child.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <returns>The child's reference.</returns>
    public static async Task<ProcessRef> StartChildAsync(this ProcessRuntime runtime, ProcessRef supervisor, ChildSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return (ProcessRef)(await runtime.RequestAsync(supervisor, new StartChildRequest(spec, default), cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Starts a simple_one_for_one child from the template with <paramref name="args"/>.</summary>
    /// <param name="runtime">The runtime.</param>
    /// <param name="supervisor">The supervisor.</param>
    /// <param name="args">Init arguments for this child (replacing the template's).</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <returns>The child's reference.</returns>
    public static async Task<ProcessRef> StartChildAsync(this ProcessRuntime runtime, ProcessRef supervisor, Value args, CancellationToken cancellationToken = default) =>
        (ProcessRef)(await runtime.RequestAsync(supervisor, new StartChildRequest(null, args), cancellationToken).ConfigureAwait(false))!;

    /// <summary>Stops a child (it is not restarted). A static child's spec is kept for <see cref="RestartChildAsync"/>; a simple_one_for_one child is forgotten.</summary>
    /// <param name="runtime">The runtime.</param>
    /// <param name="supervisor">The supervisor.</param>
    /// <param name="childId">The child id.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    public static Task TerminateChildAsync(this ProcessRuntime runtime, ProcessRef supervisor, string childId, CancellationToken cancellationToken = default) =>
        runtime.RequestAsync(supervisor, new ChildRequest(ChildOp.Terminate, childId), cancellationToken);

    /// <summary>Restarts a child: stops it if it runs, then starts it again from its spec.</summary>
    /// <param name="runtime">The runtime.</param>
    /// <param name="supervisor">The supervisor.</param>
    /// <param name="childId">The child id.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <returns>The new process.</returns>
    public static async Task<ProcessRef> RestartChildAsync(this ProcessRuntime runtime, ProcessRef supervisor, string childId, CancellationToken cancellationToken = default) =>
        (ProcessRef)(await runtime.RequestAsync(supervisor, new ChildRequest(ChildOp.Restart, childId), cancellationToken).ConfigureAwait(false))!;

    /// <summary>The children, in start order.</summary>
    /// <param name="runtime">The runtime.</param>
    /// <param name="supervisor">The supervisor.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    public static async Task<IReadOnlyList<ChildInfo>> GetChildrenAsync(this ProcessRuntime runtime, ProcessRef supervisor, CancellationToken cancellationToken = default) =>
        (IReadOnlyList<ChildInfo>)(await runtime.RequestAsync(supervisor, new ChildRequest(ChildOp.List, null), cancellationToken).ConfigureAwait(false))!;

    private enum ChildOp
    {
        Terminate,
        Restart,
        List,
    }

    private sealed class StartChildRequest(ChildSpec? spec, Value args) : InternalRequest
    {
        public ChildSpec? Spec { get; } = spec;

        public Value Args { get; } = args;
    }

    private sealed class ChildRequest(ChildOp op, string? childId) : InternalRequest
    {
        public ChildOp Op { get; } = op;

        public string? ChildId { get; } = childId;
    }

    private sealed class Child(ChildSpec spec, string id)
    {
        public ChildSpec Spec { get; } = spec;

        public string Id { get; } = id;

        public ProcessRef Process { get; set; }
    }

    /// <summary>The supervisor process. Its state lives in its fields; handlers run one at a time like any process.</summary>
    private sealed class SupervisorServer(SupervisorOptions options, ProcessRef parent) : GenServer<int>
    {
        private readonly List<Child> _children = [];
        private readonly Queue<long> _restarts = new();
        private long _nextChildNumber;

        protected override async ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken)
        {
            foreach (ChildSpec spec in options.Children)
            {
                var child = new Child(spec, spec.Id);
                try
                {
                    child.Process = await StartProcessAsync(child, spec.Args).ConfigureAwait(false);
                }
                catch
                {
                    // A child that cannot start fails the supervisor's start; stop the ones already started.
                    await ShutdownAllAsync(_children.Count - 1, ExitReason.Shutdown).ConfigureAwait(false);
                    throw;
                }

                _children.Add(child);
            }

            return 0;
        }

        protected override async ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
        {
            if (info.Kind != InfoKind.Exit)
            {
                return state;
            }

            int index = _children.FindIndex(c => c.Process == info.From);
            if (index < 0)
            {
                if (!parent.IsEmpty && info.From == parent)
                {
                    // Our parent (the process we were start-linked to) ended: as in OTP, the supervisor ends
                    // with the same reason, stopping its children first.
                    StopSelf(info.Reason);
                }

                // Otherwise not a current child: a sibling we stopped ourselves during a restart, or an unrelated link.
                return state;
            }

            Child child = _children[index];
            child.Process = default;
            bool restart = child.Spec.Restart switch
            {
                RestartType.Permanent => true,
                RestartType.Transient => info.Reason.IsAbnormal,
                _ => false,
            };
            if (!restart)
            {
                if (child.Spec.Restart == RestartType.Temporary || options.Strategy == SupervisorStrategy.SimpleOneForOne)
                {
                    _children.RemoveAt(index);
                }

                return state;
            }

            await RestartAsync(child, info.From).ConfigureAwait(false);
            return state;
        }

        protected override async ValueTask TerminateAsync(ExitReason reason, int state) =>
            await ShutdownAllAsync(_children.Count - 1, ExitReason.Shutdown).ConfigureAwait(false);

        internal override async ValueTask InvokeInternalAsync(InternalRequest request)
        {
            try
            {
                request.Complete(request switch
                {
                    StartChildRequest start => await StartChildAsync(start).ConfigureAwait(false),
                    ChildRequest { Op: ChildOp.List } => _children.Select(c => new ChildInfo(c.Id, c.Process, c.Spec.Restart)).ToArray(),
                    ChildRequest { Op: ChildOp.Terminate } terminate => await TerminateChildAsync(terminate.ChildId!).ConfigureAwait(false),
                    ChildRequest restart => await RestartChildAsync(restart.ChildId!).ConfigureAwait(false),
                    _ => throw new InvalidOperationException("Unknown supervisor request."),
                });
            }
            catch (Exception e)
            {
                // A failed command fails its caller; the supervisor itself keeps running.
                request.Fail(e);
            }
        }

        private async Task<object?> StartChildAsync(StartChildRequest request)
        {
            Child child;
            if (options.Strategy == SupervisorStrategy.SimpleOneForOne)
            {
                if (request.Spec is not null)
                {
                    throw new SupervisorChildException(Self, $"Supervisor {Self} is simple_one_for_one: start children from its template with StartChildAsync(supervisor, args).");
                }

                ChildSpec template = options.ChildTemplate!;
                string id = $"child_{++_nextChildNumber}";
                child = new Child(template with { Id = id, Args = request.Args }, id);
            }
            else
            {
                if (request.Spec is null)
                {
                    throw new SupervisorChildException(Self, $"Supervisor {Self} is not simple_one_for_one: pass a ChildSpec to StartChildAsync.");
                }

                if (_children.Exists(c => c.Id == request.Spec.Id))
                {
                    throw new SupervisorChildException(Self, $"Supervisor {Self} already has a child '{request.Spec.Id}'.");
                }

                child = new Child(request.Spec, request.Spec.Id);
            }

            child.Process = await StartProcessAsync(child, child.Spec.Args).ConfigureAwait(false);
            _children.Add(child);
            return child.Process;
        }

        private async Task<object?> TerminateChildAsync(string id)
        {
            int index = FindChild(id);
            await ShutdownChildAsync(_children[index], ExitReason.Shutdown).ConfigureAwait(false);
            if (options.Strategy == SupervisorStrategy.SimpleOneForOne || _children[index].Spec.Restart == RestartType.Temporary)
            {
                _children.RemoveAt(index);
            }

            return null;
        }

        private async Task<object?> RestartChildAsync(string id)
        {
            Child child = _children[FindChild(id)];
            ProcessRef old = child.Process;
            await ShutdownChildAsync(child, ExitReason.Shutdown).ConfigureAwait(false);
            child.Process = await StartProcessAsync(child, child.Spec.Args).ConfigureAwait(false);
            Runtime.Events.Publish(new LifecycleEvent(LifecycleEventKind.Restarted, child.Process, default, old, default, 0));
            return child.Process;
        }

        private int FindChild(string id)
        {
            int index = _children.FindIndex(c => c.Id == id);
            return index >= 0 ? index : throw new SupervisorChildException(Self, $"Supervisor {Self} has no child '{id}'.");
        }

        private async Task RestartAsync(Child failed, ProcessRef old)
        {
            int index = _children.IndexOf(failed);
            // Which children go down and come back, in start order.
            int first = options.Strategy switch
            {
                SupervisorStrategy.OneForAll => 0,
                _ => index,
            };
            int last = options.Strategy is SupervisorStrategy.OneForAll or SupervisorStrategy.RestForOne ? _children.Count - 1 : index;

            // Stop the others that go with it, newest first.
            for (int i = last; i >= first; i--)
            {
                if (i != index)
                {
                    await ShutdownChildAsync(_children[i], ExitReason.Shutdown).ConfigureAwait(false);
                }
            }

            for (int i = first; i <= last && i < _children.Count; i++)
            {
                Child child = _children[i];
                while (true)
                {
                    int attempt = CountRestart();
                    if (attempt > options.MaxRestarts)
                    {
                        // Too many restarts: give up. The stop signal runs after this handler; terminate
                        // then stops the children still running, newest first.
                        StopSelf(ExitReason.Error(new MaxRestartsExceededException(Self, options.MaxRestarts, options.Within)));
                        return;
                    }

                    try
                    {
                        child.Process = await StartProcessAsync(child, child.Spec.Args).ConfigureAwait(false);
                        Runtime.Events.Publish(new LifecycleEvent(LifecycleEventKind.Restarted, child.Process, default, ReferenceEquals(child, failed) ? old : default, default, attempt));
                        break;
                    }
                    catch (NoexException)
                    {
                        // A failed restart counts as a restart; try again until the intensity runs out.
                    }
                }
            }
        }

        /// <summary>Records a restart now and returns how many fall in the window, this one included.</summary>
        private int CountRestart()
        {
            TimeProvider time = Runtime.TimeProvider;
            long now = time.GetTimestamp();
            while (_restarts.Count > 0 && time.GetElapsedTime(_restarts.Peek(), now) > options.Within)
            {
                _restarts.Dequeue();
            }

            _restarts.Enqueue(now);
            return _restarts.Count;
        }

        private Task<ProcessRef> StartProcessAsync(Child child, Value args)
        {
            StartOptions start = (child.Spec.StartOptions ?? StartOptions.Default) with { LinkTo = Self };
            return Runtime.StartAsync(child.Spec.Create(), args, start);
        }

        private async Task ShutdownAllAsync(int from, ExitReason reason)
        {
            for (int i = from; i >= 0; i--)
            {
                await ShutdownChildAsync(_children[i], reason).ConfigureAwait(false);
            }
        }

        private async Task ShutdownChildAsync(Child child, ExitReason reason)
        {
            ProcessRef process = child.Process;
            child.Process = default;
            if (process.IsEmpty || !Runtime.TryGetCell(process, out ProcessCell? cell))
            {
                return;
            }

            // Unlink first (OTP does the same): the child's end is then ours to await, not a signal that
            // would look like a crash to restart.
            Runtime.Unlink(Self, process);
            await Runtime.ShutdownAsync(cell, reason, child.Spec.ShutdownTimeout).ConfigureAwait(false);
        }
    }
}
