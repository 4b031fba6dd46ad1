using System.Diagnostics;
using System.Collections.Concurrent;

namespace Noex.Lite;

/// <summary>
/// Spawns and remote stops (protocol.md §5.3, types 0x18-0x1F): the caller's tables of spawns and stops waiting for an
/// answer, and the callee's table of spawns it is running for its peers.
/// </summary>
/// <remarks>
/// <para>
/// No orphans: a spawn that the caller gave up on (timeout, cancellation) must not leave a process running. The caller
/// sends <c>spawn_cancel</c> when it gives up and answers a <c>spawn_reply</c> it no longer waits for with
/// <c>spawn_cancel</c> too; it acknowledges every reply it accepts with <c>spawn_ack</c>. The callee keeps each spawn
/// until it is acknowledged or cancelled, and stops the process of a cancelled spawn, of one whose connection closed
/// before the acknowledgement, and of one that finished after the caller's spawn timeout (which the request carries).
/// </para>
/// <para>
/// Every entry of every table has one owner: whoever removes it from its table completes it. Caller entries leave on
/// their answer, their timer, their cancellation or the connection's close; callee entries on the ack, the cancel, the
/// connection's close or the tick's sweep, so no table grows without bound.
/// </para>
/// </remarks>
internal sealed partial class SpawnService : IClusterService, IRemoteStops
{
    /// <summary>The first message type this layer owns (protocol.md §5.3).</summary>
    public const byte FirstType = MessageTypes.FirstSpawn;

    /// <summary>The last of them.</summary>
    public const byte LastType = MessageTypes.LastSpawn;

    /// <summary>How long a remote stop waits for the process to end.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromMilliseconds(10_000);

    /// <summary>How long the callee keeps a replied spawn waiting for its ack before it forgets it (and keeps the process).</summary>
    private static readonly TimeSpan s_ackWait = TimeSpan.FromSeconds(60);

    /// <summary>Why a spawn failed on the callee (protocol.md §5.3).</summary>
    internal enum ErrorKind : byte
    {
        BehaviorNotFound = 1,
        InitFailed = 2,
        InitTimeout = 3,
        RegistrationFailed = 4,
        BadRequest = 5,
        Unavailable = 6,
    }

    /// <summary>How a remote stop ended (protocol.md §5.3).</summary>
    internal enum StopResult : byte
    {
        Stopped = 0,
        NotRunning = 1,
        Timeout = 2,
    }

    private readonly INodeContext _node;
    private readonly ProcessRuntime _runtime;
    private readonly GlobalRegistry _globalNames;
    private readonly RequestTable<Pending<ProcessRef>> _spawns = new();
    private readonly RequestTable<Pending<bool>> _stops = new();
    private readonly ConcurrentDictionary<(Connection Connection, long Id), Incoming> _incoming = new();
    private long _nextId;

    /// <summary>The spawn service of <paramref name="node"/>, spawning from <paramref name="behaviors"/> and registering
    /// global names in <paramref name="globalNames"/>.</summary>
    public SpawnService(INodeContext node, BehaviorRegistry behaviors, GlobalRegistry globalNames)
    {
        _node = node;
        _runtime = node.Runtime;
        _globalNames = globalNames;
        Behaviors = behaviors;
    }

    public BehaviorRegistry Behaviors { get; }

    /// <summary>Spawns and stops this node waits on, and spawns it runs for peers: all zero when idle.</summary>
    public (int Spawns, int Stops, int Incoming) PendingCounts => (_spawns.Count, _stops.Count, _incoming.Count);

    // ---- the caller's side ---------------------------------------------------------------------

    public async Task<ProcessRef> SpawnAsync(string behavior, NodeId target, SpawnOptions? options, CancellationToken cancellationToken)
    {
        BehaviorRegistry.ValidateName(behavior);
        ArgumentNullException.ThrowIfNull(target);
        options ??= SpawnOptions.Default;
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var registration = options.EffectiveRegistration;
        var targetText = target.ToString();
        if (target == _node.Id)
        {
            return await SpawnHereAsync(behavior, options, registration, cancellationToken).ConfigureAwait(false);
        }
        using var activity = Tracing.StartClient("noex.spawn", "spawn", ActivityKind.Client, targetText, behavior, "noex.behavior");
        try
        {
            return await SpawnThereAsync(behavior, target, targetText, options, registration, activity?.Context ?? default, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    private async Task<ProcessRef> SpawnThereAsync(string behavior, NodeId target, string targetText, SpawnOptions options, SpawnRegistration registration,
        ActivityContext trace, CancellationToken cancellationToken)
    {
        if (!_node.Connections.TryGetConnection(target, out var connection))
        {
            throw new NodeNotReachableException(target, "not connected");
        }
        if ((connection.Protocol.Capabilities & Capabilities.TraceContext) == 0)
        {
            trace = default;
        }
        var id = Interlocked.Increment(ref _nextId);
        var pending = new Pending<ProcessRef>(id, connection, _spawns) { Behavior = behavior };
        _spawns.Add(id, pending);
        pending.Arm(_runtime.TimeProvider, options.SpawnTimeout, () => new RemoteSpawnTimeoutException(behavior, targetText, options.SpawnTimeout),
            () => connection.TryEnqueue(new IdMessage(MessageTypes.SpawnCancel, id), force: true), cancellationToken);
        EnqueueResult result;
        try
        {
            var name = registration == SpawnRegistration.None ? "" : options.Name ?? "";
            result = connection.TryEnqueue(new SpawnRequestMessage(id, Milliseconds(options.SpawnTimeout), Milliseconds(options.InitTimeout), registration,
                behavior, name, options.Args, trace));
        }
        catch (Exception e)
        {
            // The args cannot cross the wire: nothing was sent.
            pending.TryFail(e);
            return await pending.Completion.Task.ConfigureAwait(false);
        }
        if (result == EnqueueResult.Full)
        {
            pending.TryFail(new NodeOverloadedException(connection.Peer, connection.QueuedBytes));
        }
        else if (result == EnqueueResult.Closed || connection.IsClosed)
        {
            // Closed before or while we filed the entry: the close's sweep may have run before the entry existed.
            pending.TryFail(new NodeNotReachableException(connection.Peer, "the connection closed"));
        }
        return await pending.Completion.Task.ConfigureAwait(false);
    }

    public async Task StopAsync(ProcessRef target, ExitReason reason, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_node.Connections.TryGetConnection(target.Node, out var connection))
        {
            throw new NodeNotReachableException(target.Node, "not connected");
        }
        var id = Interlocked.Increment(ref _nextId);
        var pending = new Pending<bool>(id, connection, _stops) { Target = target };
        _stops.Add(id, pending);
        pending.Arm(_runtime.TimeProvider, StopTimeout, () => new RemoteStopTimeoutException(target, StopTimeout), null, cancellationToken);
        var result = connection.TryEnqueue(new StopRequestMessage(id, target.Id, Milliseconds(StopTimeout), reason));
        if (result == EnqueueResult.Full)
        {
            pending.TryFail(new NodeOverloadedException(connection.Peer, connection.QueuedBytes));
        }
        else if (result == EnqueueResult.Closed || connection.IsClosed)
        {
            pending.TryFail(new NodeNotReachableException(connection.Peer, "the connection closed"));
        }
        await pending.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>A spawn on this very node: the callee's code without the wire, bounded by the spawn timeout.</summary>
    private async Task<ProcessRef> SpawnHereAsync(string behavior, SpawnOptions options, SpawnRegistration registration, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.SpawnTimeout);
        try
        {
            return await StartHereAsync(behavior, options.Name, registration, options.InitTimeout, options.Args, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RemoteSpawnTimeoutException(behavior, _node.Id.ToString(), options.SpawnTimeout);
        }
    }

    // ---- the callee's side ---------------------------------------------------------------------

    /// <summary>Starts a behaviour here and registers it; every failure is a <see cref="RemoteSpawnException"/>, none leaves a process.</summary>
    private async Task<ProcessRef> StartHereAsync(string behavior, string? name, SpawnRegistration registration, TimeSpan initTimeout, Value args,
        CancellationToken cancellationToken)
    {
        var here = _node.Id.ToString();
        var factory = Behaviors.Get(behavior) ?? throw new BehaviorNotFoundException(behavior, here);
        if (registration == SpawnRegistration.Global && _globalNames.Whereis(name!) is { } holder)
        {
            // Taken already: refuse before init runs (a race with another registrar is caught after it).
            throw new RemoteSpawnRegistrationException(behavior, here, name!, registration, $"it is registered globally to {holder}");
        }
        GenServer server;
        try
        {
            server = factory();
        }
        catch (Exception e)
        {
            throw new RemoteSpawnInitException(behavior, here, $"the behaviour's factory threw: {e.Message}", e.GetType().Name);
        }
        var start = new StartOptions { Name = registration == SpawnRegistration.Local ? name : null, InitTimeout = initTimeout };
        ProcessRef spawned;
        try
        {
            spawned = await _runtime.StartAsync(server, args, start, cancellationToken).ConfigureAwait(false);
        }
        catch (AlreadyRegisteredException e)
        {
            throw new RemoteSpawnRegistrationException(behavior, here, e.Name, SpawnRegistration.Local, $"it is already registered to {e.Owner}");
        }
        catch (InitTimeoutException)
        {
            throw new RemoteSpawnInitTimeoutException(behavior, here, initTimeout);
        }
        catch (InitFailedException e)
        {
            throw new RemoteSpawnInitException(behavior, here, e.Reason.Message ?? e.Reason.ToString(), e.Reason.ErrorType);
        }
        catch (ObjectDisposedException)
        {
            throw new RemoteSpawnInitException(behavior, here, "the node is stopping", nameof(ObjectDisposedException));
        }
        if (registration == SpawnRegistration.Global)
        {
            try
            {
                _globalNames.Register(name!, spawned);
            }
            catch (Exception e) when (e is GlobalNameConflictException or ServerNotRunningException)
            {
                // A failed registration must not leave the process running.
                StopQuietly(spawned);
                throw new RemoteSpawnRegistrationException(behavior, here, name!, registration, e.Message);
            }
        }
        return spawned;
    }

    private void OnSpawnRequest(Connection connection, in SpawnRequestMessage request)
    {
        var entry = new Incoming(connection, request.SpawnId);
        if (!_incoming.TryAdd((connection, request.SpawnId), entry))
        {
            // A spawn id still in flight on this connection, used again: refused without touching the first.
            connection.TryEnqueue(new SpawnErrorMessage(request.SpawnId, ErrorKind.BadRequest, Value.Object(("message", "the spawn id is in use"))), force: true);
            return;
        }
        if (request.Behavior.Length == 0 || request.InitTimeoutMs == 0 || (request.Registration != SpawnRegistration.None && request.Name.Length == 0))
        {
            _incoming.TryRemove((connection, request.SpawnId), out _);
            connection.TryEnqueue(new SpawnErrorMessage(request.SpawnId, ErrorKind.BadRequest,
                Value.Object(("message", "an empty behaviour name, a zero init timeout, or a registration without a name"))), force: true);
            return;
        }
        // The caller's deadline bounds our work too: a start still running then is abandoned.
        var deadline = request.SpawnTimeoutMs == 0 ? StopTimeout : TimeSpan.FromMilliseconds(request.SpawnTimeoutMs);
        _ = RunSpawnAsync(entry, request.Behavior, request.Name.Length == 0 ? null : request.Name, request.Registration,
            TimeSpan.FromMilliseconds(request.InitTimeoutMs), request.Args, deadline, request.Trace);
    }

    private async Task RunSpawnAsync(Incoming entry, string behavior, string? name, SpawnRegistration registration, TimeSpan initTimeout, Value args, TimeSpan deadline,
        ActivityContext trace)
    {
        // The spawn's handler is the new process's start and init: its span is the child of the caller's.
        using var activity = trace != default && Tracing.Active ? Tracing.Source.StartActivity("noex.handle_spawn", ActivityKind.Server, trace) : null;
        activity?.SetTag("rpc.system.name", "noex");
        activity?.SetTag("rpc.method", "spawn");
        activity?.SetTag("noex.behavior", behavior);
        ProcessRef spawned;
        try
        {
            entry.Abandon.CancelAfter(deadline);
            spawned = await StartHereAsync(behavior, name, registration, initTimeout, args, entry.Abandon.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            entry.Finish();
            _incoming.TryRemove(new KeyValuePair<(Connection, long), Incoming>((entry.Connection, entry.Id), entry));
            if (e is not OperationCanceledException)
            {
                var (kind, detail) = ToWire(e);
                entry.Connection.TryEnqueue(new SpawnErrorMessage(entry.Id, kind, detail), force: true);
            }
            // Cancelled (by the caller, its deadline or the connection's close): nothing started, nobody to tell.
            return;
        }
        bool keep;
        lock (entry)
        {
            entry.Finish();
            keep = !entry.Cancelled && !entry.Connection.IsClosed;
            if (keep)
            {
                entry.Spawned = spawned;
                entry.RepliedAt = _runtime.TimeProvider.GetTimestamp();
            }
        }
        if (!keep)
        {
            _incoming.TryRemove(new KeyValuePair<(Connection, long), Incoming>((entry.Connection, entry.Id), entry));
            StopQuietly(spawned);
            return;
        }
        entry.Connection.TryEnqueue(new SpawnReplyMessage(entry.Id, spawned.Id), force: true);
    }

    /// <summary>The caller gave up on a spawn (or will never learn of it): stop what it started, now or when it is started.</summary>
    private void Cancel(Incoming entry)
    {
        ProcessRef spawned;
        lock (entry)
        {
            entry.Cancelled = true;
            spawned = entry.Spawned;
            if (spawned.IsEmpty)
            {
                entry.CancelStart();
            }
        }
        if (!spawned.IsEmpty)
        {
            StopQuietly(spawned);
        }
    }

    private void StopQuietly(ProcessRef spawned) => _ = StopQuietlyAsync(spawned);

    private async Task StopQuietlyAsync(ProcessRef spawned)
    {
        try
        {
            await _runtime.StopAsync(spawned, ExitReason.Shutdown).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ServerNotRunningException or ObjectDisposedException)
        {
            // Ended already, or the node is stopping and takes it down anyway.
        }
    }

    private void OnStopRequest(Connection connection, in StopRequestMessage request)
    {
        var target = new ProcessRef(_runtime.Name, request.Target);
        var timeout = request.TimeoutMs == 0 ? StopTimeout : TimeSpan.FromMilliseconds(request.TimeoutMs);
        _ = RunStopAsync(connection, request.RequestId, target, request.Reason, timeout);
    }

    private async Task RunStopAsync(Connection connection, long id, ProcessRef target, ExitReason reason, TimeSpan timeout)
    {
        StopResult result;
        try
        {
            await _runtime.StopAsync(target, reason).WaitAsync(timeout, _runtime.TimeProvider).ConfigureAwait(false);
            result = StopResult.Stopped;
        }
        catch (ServerNotRunningException)
        {
            result = StopResult.NotRunning;
        }
        catch (TimeoutException)
        {
            result = StopResult.Timeout;
        }
        catch (ObjectDisposedException)
        {
            // The node is stopping: the process goes with it.
            result = StopResult.Stopped;
        }
        connection.TryEnqueue(new StopReplyMessage(id, result), force: true);
    }
}
