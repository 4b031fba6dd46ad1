using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;

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
internal sealed class SpawnService : IClusterService
{
    /// <summary>The message types this layer owns (protocol.md §5.3).</summary>
    public const byte FirstType = 0x18;

    /// <summary>The last of them.</summary>
    public const byte LastType = 0x1F;

    public const byte TypeSpawnRequest = 0x18;
    public const byte TypeSpawnReply = 0x19;
    public const byte TypeSpawnError = 0x1A;
    public const byte TypeSpawnAck = 0x1B;
    public const byte TypeSpawnCancel = 0x1C;
    public const byte TypeStopRequest = 0x1D;
    public const byte TypeStopReply = 0x1E;

    /// <summary>How long a remote stop waits for the process to end.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromMilliseconds(10_000);

    /// <summary>How long the callee keeps a replied spawn waiting for its ack before it forgets it (and keeps the process).</summary>
    private static readonly TimeSpan s_ackWait = TimeSpan.FromSeconds(60);

    private static readonly UTF8Encoding s_strictUtf8 = new(false, true);

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

    private readonly Node _node;
    private readonly ProcessRuntime _runtime;
    private readonly ConcurrentDictionary<long, Pending<ProcessRef>> _spawns = new();
    private readonly ConcurrentDictionary<long, Pending<bool>> _stops = new();
    private readonly ConcurrentDictionary<(Connection Connection, long Id), Incoming> _incoming = new();
    private long _nextId;

    public SpawnService(Node node, ProcessRuntime runtime, BehaviorRegistry behaviors)
    {
        _node = node;
        _runtime = runtime;
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
        if (!_node.TryGetConnection(target, out var connection))
        {
            throw new NodeNotReachableException(target, "not connected");
        }
        var id = Interlocked.Increment(ref _nextId);
        var pending = new Pending<ProcessRef>(id, connection, _spawns) { Behavior = behavior, InitTimeout = options.InitTimeout };
        _spawns[id] = pending;
        pending.Arm(_runtime.TimeProvider, options.SpawnTimeout, () => new RemoteSpawnTimeoutException(behavior, targetText, options.SpawnTimeout),
            () => connection.TryEnqueue(new IdMessage(TypeSpawnCancel, id), force: true), cancellationToken);
        EnqueueResult result;
        try
        {
            var name = registration == SpawnRegistration.None ? null : options.Name;
            result = connection.TryEnqueue(new SpawnRequestMessage(id, options.SpawnTimeout, options.InitTimeout, registration, behavior, name, options.Args));
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
        if (!_node.TryGetConnection(target.Node, out var connection))
        {
            throw new NodeNotReachableException(target.Node, "not connected");
        }
        var id = Interlocked.Increment(ref _nextId);
        var pending = new Pending<bool>(id, connection, _stops) { Target = target };
        _stops[id] = pending;
        pending.Arm(_runtime.TimeProvider, StopTimeout, () => new RemoteStopTimeoutException(target, StopTimeout), null, cancellationToken);
        var result = connection.TryEnqueue(new StopRequestMessage(id, target.Id, StopTimeout, reason.ToValue()));
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
        if (registration == SpawnRegistration.Global && _node.GlobalRegistry.Whereis(name!) is { } holder)
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
                _node.GlobalRegistry.Register(name!, spawned);
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

    private void OnSpawnRequest(Connection connection, in Parsed request)
    {
        var entry = new Incoming(connection, request.Id);
        if (!_incoming.TryAdd((connection, request.Id), entry))
        {
            // A spawn id still in flight on this connection, used again: refused without touching the first.
            connection.TryEnqueue(new SpawnErrorMessage(request.Id, ErrorKind.BadRequest, Value.Object(("message", "the spawn id is in use"))), force: true);
            return;
        }
        if (request.Behavior!.Length == 0 || request.InitTimeoutMs == 0 || (request.Registration != SpawnRegistration.None && request.Name!.Length == 0))
        {
            _incoming.TryRemove((connection, request.Id), out _);
            connection.TryEnqueue(new SpawnErrorMessage(request.Id, ErrorKind.BadRequest,
                Value.Object(("message", "an empty behaviour name, a zero init timeout, or a registration without a name"))), force: true);
            return;
        }
        // The caller's deadline bounds our work too (the original ignored it): a start still running then is abandoned.
        var deadline = request.SpawnTimeoutMs == 0 ? StopTimeout : TimeSpan.FromMilliseconds(request.SpawnTimeoutMs);
        _ = RunSpawnAsync(entry, request.Behavior, request.Name!.Length == 0 ? null : request.Name, request.Registration,
            TimeSpan.FromMilliseconds(request.InitTimeoutMs), request.Value, deadline);
    }

    private async Task RunSpawnAsync(Incoming entry, string behavior, string? name, SpawnRegistration registration, TimeSpan initTimeout, Value args, TimeSpan deadline)
    {
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

    private void OnStopRequest(Connection connection, in Parsed request)
    {
        var target = new ProcessRef(_runtime.Name, request.Target);
        var timeout = request.SpawnTimeoutMs == 0 ? StopTimeout : TimeSpan.FromMilliseconds(request.SpawnTimeoutMs);
        _ = RunStopAsync(connection, request.Id, target, request.Reason, timeout);
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

    // ---- IClusterService ---------------------------------------------------------------------------

    /// <summary>Handles a §5.3 message; false when it is malformed (a protocol error).</summary>
    public bool OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        if (!TryParse(message, out var m))
        {
            return false;
        }
        switch (m.Type)
        {
            case TypeSpawnRequest:
                OnSpawnRequest(connection, m);
                break;
            case TypeSpawnReply:
                var spawned = new ProcessRef(connection.PeerText, m.Target);
                if (_spawns.TryGetValue(m.Id, out var replied) && replied.Connection == connection && replied.TryComplete(spawned))
                {
                    connection.TryEnqueue(new IdMessage(TypeSpawnAck, m.Id), force: true);
                }
                else
                {
                    // Nobody waits for it any more (timed out or cancelled): the callee must stop it.
                    connection.TryEnqueue(new IdMessage(TypeSpawnCancel, m.Id), force: true);
                }
                break;
            case TypeSpawnError:
                if (_spawns.TryGetValue(m.Id, out var failed) && failed.Connection == connection)
                {
                    failed.TryFail(FromWire((ErrorKind)m.Code, m.Value, failed.Behavior!, connection.PeerText, failed.InitTimeout));
                }
                break;
            case TypeSpawnAck:
                _incoming.TryRemove((connection, m.Id), out _);
                break;
            case TypeSpawnCancel:
                if (_incoming.TryRemove((connection, m.Id), out var cancelled))
                {
                    Cancel(cancelled);
                }
                break;
            case TypeStopRequest:
                OnStopRequest(connection, m);
                break;
            case TypeStopReply:
                if (_stops.TryGetValue(m.Id, out var stop) && stop.Connection == connection)
                {
                    stop.TryFail((StopResult)m.Code switch
                    {
                        StopResult.Stopped => null,
                        StopResult.NotRunning => new RemoteServerNotRunningException(stop.Target, "no such process"),
                        _ => new RemoteStopTimeoutException(stop.Target, StopTimeout),
                    });
                }
                break;
        }
        return true;
    }

    /// <summary>One §5.3 message, read (fields a type lacks stay default).</summary>
    /// <param name="Type">The type byte.</param>
    /// <param name="Id">The spawn or stop request id.</param>
    /// <param name="Target">The process id: the spawned one (reply) or the one to stop (stop request).</param>
    /// <param name="SpawnTimeoutMs">The spawn timeout (spawn request) or the stop timeout (stop request).</param>
    /// <param name="InitTimeoutMs">The init timeout (spawn request).</param>
    /// <param name="Registration">Where the name is registered (spawn request).</param>
    /// <param name="Behavior">The behaviour name (spawn request).</param>
    /// <param name="Name">The process name, empty for none (spawn request).</param>
    /// <param name="Code">The error kind (spawn error) or the result (stop reply).</param>
    /// <param name="Value">The args (spawn request), the detail (spawn error) or the reason's value (stop request).</param>
    /// <param name="Reason">The exit reason (stop request).</param>
    internal readonly record struct Parsed(byte Type, long Id, long Target = 0, uint SpawnTimeoutMs = 0, uint InitTimeoutMs = 0,
        SpawnRegistration Registration = SpawnRegistration.None, string? Behavior = null, string? Name = null, byte Code = 0, Value Value = default,
        ExitReason Reason = default);

    /// <summary>Reads a §5.3 message, checking every length against the bytes there are; false when it is malformed.</summary>
    internal static bool TryParse(ReadOnlySpan<byte> message, out Parsed parsed)
    {
        parsed = default;
        if (message.Length < 9)
        {
            return false;
        }
        var type = message[0];
        var id = BinaryPrimitives.ReadInt64LittleEndian(message[1..]);
        Value value;
        switch (type)
        {
            case TypeSpawnRequest when message.Length >= 21:
                var at = 18;
                if (message[17] > (byte)SpawnRegistration.Global
                    || !TryReadStr8(message, ref at, out var behavior)
                    || !TryReadStr8(message, ref at, out var name)
                    || !ValueCodec.TryDecode(message[at..], out value, out _, out _))
                {
                    return false;
                }
                parsed = new Parsed(type, id, SpawnTimeoutMs: BinaryPrimitives.ReadUInt32LittleEndian(message[9..]),
                    InitTimeoutMs: BinaryPrimitives.ReadUInt32LittleEndian(message[13..]), Registration: (SpawnRegistration)message[17],
                    Behavior: behavior, Name: name, Value: value);
                return true;
            case TypeSpawnReply when message.Length == 17:
                parsed = new Parsed(type, id, Target: BinaryPrimitives.ReadInt64LittleEndian(message[9..]));
                return true;
            case TypeSpawnError when message.Length >= 11:
                if (!ValueCodec.TryDecode(message[10..], out value, out _, out _))
                {
                    return false;
                }
                parsed = new Parsed(type, id, Code: message[9], Value: value);
                return true;
            case TypeSpawnAck or TypeSpawnCancel when message.Length == 9:
                parsed = new Parsed(type, id);
                return true;
            case TypeStopRequest when message.Length >= 22:
                if (!ValueCodec.TryDecode(message[21..], out value, out _, out _) || !TryReadReason(value, out var reason))
                {
                    return false;
                }
                parsed = new Parsed(type, id, Target: BinaryPrimitives.ReadInt64LittleEndian(message[9..]),
                    SpawnTimeoutMs: BinaryPrimitives.ReadUInt32LittleEndian(message[17..]), Value: value, Reason: reason);
                return true;
            case TypeStopReply when message.Length == 10 && message[9] <= (byte)StopResult.Timeout:
                parsed = new Parsed(type, id, Code: message[9]);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Nothing to do: spawns wait for answers, not for connections.</summary>
    public void OnConnectionUp(Connection connection)
    {
    }

    /// <summary>Fails this node's spawns and stops waiting on the connection; stops what it spawned for the peer and not yet handed over.</summary>
    public void OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        foreach (var entry in _spawns)
        {
            if (entry.Value.Connection == connection)
            {
                entry.Value.TryFail(new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before the spawn completed"));
            }
        }
        foreach (var entry in _stops)
        {
            if (entry.Value.Connection == connection)
            {
                entry.Value.TryFail(new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before the process was stopped"));
            }
        }
        foreach (var entry in _incoming)
        {
            if (entry.Key.Connection == connection && _incoming.TryRemove(entry))
            {
                Cancel(entry.Value);
            }
        }
    }

    /// <summary>Forgets replied spawns whose ack never came from a live connection (a peer's bug); their processes keep running.</summary>
    public void OnTick()
    {
        var now = _runtime.TimeProvider.GetTimestamp();
        foreach (var entry in _incoming)
        {
            var repliedAt = Volatile.Read(ref entry.Value.RepliedAt);
            if (repliedAt != 0 && _runtime.TimeProvider.GetElapsedTime(repliedAt, now) > s_ackWait)
            {
                _incoming.TryRemove(entry);
            }
        }
    }

    // ---- wire mapping ----------------------------------------------------------------------------

    internal static (ErrorKind Kind, Value Detail) ToWire(Exception error) => error switch
    {
        BehaviorNotFoundException => (ErrorKind.BehaviorNotFound, Value.Object(("message", error.Message))),
        RemoteSpawnInitException e => (ErrorKind.InitFailed, Value.Object(("message", e.Reason), ("errorType", e.ErrorType))),
        RemoteSpawnInitTimeoutException e => (ErrorKind.InitTimeout, Value.Object(("timeoutMs", (long)e.Timeout.TotalMilliseconds))),
        RemoteSpawnRegistrationException e => (ErrorKind.RegistrationFailed, Value.Object(
            ("name", e.RegisteredName), ("registration", e.Registration == SpawnRegistration.Global ? "global" : "local"), ("message", e.Detail))),
        _ => (ErrorKind.Unavailable, Value.Object(("message", error.Message), ("errorType", error.GetType().Name))),
    };

    internal static RemoteSpawnException FromWire(ErrorKind kind, Value detail, string behavior, string node, TimeSpan initTimeout)
    {
        var message = Text(detail, "message") ?? detail.ToString();
        return kind switch
        {
            ErrorKind.BehaviorNotFound => new BehaviorNotFoundException(behavior, node),
            ErrorKind.InitFailed => new RemoteSpawnInitException(behavior, node, message, Text(detail, "errorType")),
            ErrorKind.InitTimeout => new RemoteSpawnInitTimeoutException(behavior, node,
                detail.TryGetProperty("timeoutMs", out var ms) && ms.TryGetInt64(out var t) ? TimeSpan.FromMilliseconds(t) : initTimeout),
            ErrorKind.RegistrationFailed => new RemoteSpawnRegistrationException(behavior, node, Text(detail, "name") ?? "",
                Text(detail, "registration") == "global" ? SpawnRegistration.Global : SpawnRegistration.Local, message),
            ErrorKind.BadRequest => new RemoteSpawnInitException(behavior, node, $"the node refused the request: {message}", "BadRequest"),
            _ => new RemoteSpawnInitException(behavior, node, message, Text(detail, "errorType")),
        };
    }

    private static string? Text(Value detail, string key) =>
        detail.TryGetProperty(key, out var v) && v.TryGetString(out var s) ? s : null;

    /// <summary>An exit reason from its value form (<see cref="ExitReason.ToValue"/>); false for anything else.</summary>
    internal static bool TryReadReason(Value value, out ExitReason reason)
    {
        reason = default;
        if (Text(value, "type") is not { } type)
        {
            return false;
        }
        switch (type)
        {
            case "normal":
                reason = ExitReason.Normal;
                return true;
            case "shutdown":
                reason = ExitReason.Shutdown;
                return true;
            case "killed":
                reason = ExitReason.Killed;
                return true;
            case "noproc":
                reason = ExitReason.NoProc;
                return true;
            case "noconnection":
                reason = ExitReason.NoConnection;
                return true;
            case "error":
                reason = ExitReason.Error(Text(value, "message") ?? "", Text(value, "errorType"));
                return true;
            default:
                return false;
        }
    }

    /// <summary>Reads a <c>str8</c> (a length byte and that many UTF-8 bytes); false if it runs past the end or is not UTF-8.</summary>
    internal static bool TryReadStr8(ReadOnlySpan<byte> message, ref int at, out string text)
    {
        text = "";
        if (at >= message.Length || message[at] > message.Length - at - 1)
        {
            return false;
        }
        var length = message[at];
        try
        {
            text = s_strictUtf8.GetString(message.Slice(at + 1, length));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        at += 1 + length;
        return true;
    }

    private static void WriteStr8(IBufferWriter<byte> writer, string? text)
    {
        text ??= "";
        var span = writer.GetSpan(1 + BehaviorRegistry.MaxNameBytes);
        var length = Encoding.UTF8.GetBytes(text, span[1..]);
        span[0] = (byte)length;
        writer.Advance(1 + length);
    }

    private static uint Milliseconds(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? 0 : (uint)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, uint.MaxValue);

    // ---- tables -----------------------------------------------------------------------------------

    /// <summary>A spawn or stop this node waits on; its removal from its table decides who completes it.</summary>
    private sealed class Pending<T>(long id, Connection connection, ConcurrentDictionary<long, Pending<T>> table)
    {
        private ITimer? _timer;
        private CancellationTokenRegistration _cancellation;
        private Action? _onGiveUp;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Connection Connection => connection;

        public string? Behavior { get; init; }

        public TimeSpan InitTimeout { get; init; }

        public ProcessRef Target { get; init; }

        /// <summary>Starts the timeout and the caller's cancellation; <paramref name="onGiveUp"/> runs when either ends it.</summary>
        public void Arm(TimeProvider time, TimeSpan timeout, Func<Exception> timeoutError, Action? onGiveUp, CancellationToken cancellationToken)
        {
            _onGiveUp = onGiveUp;
            _timer = time.CreateTimer(static s =>
            {
                var (self, error) = ((Pending<T>, Func<Exception>))s!;
                if (self.TryTake())
                {
                    self._onGiveUp?.Invoke();
                    self.Completion.TrySetException(error());
                }
            }, (this, timeoutError), timeout, Timeout.InfiniteTimeSpan);
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.Register(static s =>
                {
                    var (self, token) = ((Pending<T>, CancellationToken))s!;
                    if (self.TryTake())
                    {
                        self._onGiveUp?.Invoke();
                        self.Completion.TrySetCanceled(token);
                    }
                }, (this, cancellationToken));
            }
        }

        public bool TryComplete(T result) => TryTake() && Completion.TrySetResult(result);

        /// <summary>Fails the entry with <paramref name="error"/>; null completes it with the default result (a stop that succeeded).</summary>
        public bool TryFail(Exception? error) => TryTake() && (error is null ? Completion.TrySetResult(default!) : Completion.TrySetException(error));

        private bool TryTake()
        {
            if (!table.TryRemove(new KeyValuePair<long, Pending<T>>(id, this)))
            {
                return false;
            }
            _timer?.Dispose();
            // Unregister, not Dispose: this may run inside the cancellation callback itself.
            _cancellation.Unregister();
            return true;
        }
    }

    /// <summary>A spawn this node runs for a peer, kept until the peer acknowledges or cancels it.</summary>
    private sealed class Incoming(Connection connection, long id)
    {
        private int _finished;

        public Connection Connection => connection;

        public long Id => id;

        /// <summary>Cancels the start (the caller gave up, the deadline passed or the connection closed): the runtime kills the process.</summary>
        public CancellationTokenSource Abandon { get; } = new();

        // Written under the entry's lock.
        public bool Cancelled;
        public ProcessRef Spawned;
        public long RepliedAt;

        public void CancelStart()
        {
            if (Volatile.Read(ref _finished) == 0)
            {
                // Asynchronously: the read loop that delivered the cancel must not run the runtime's kill.
                _ = Abandon.CancelAsync();
            }
        }

        /// <summary>The start is over: release the deadline's timer (called once, before the entry can be seen as replied).</summary>
        public void Finish()
        {
            if (Interlocked.Exchange(ref _finished, 1) == 0)
            {
                lock (this)
                {
                    // A cancelled source has released its timer already, and its callbacks may still be running.
                    if (!Abandon.IsCancellationRequested)
                    {
                        Abandon.Dispose();
                    }
                }
            }
        }
    }

    // ---- messages ---------------------------------------------------------------------------------

    /// <summary><c>0x18, spawn_id i64, spawn_timeout_ms u32, init_timeout_ms u32, registration u8, behavior str8, name str8, args value</c>.</summary>
    internal readonly struct SpawnRequestMessage(long id, TimeSpan spawnTimeout, TimeSpan initTimeout, SpawnRegistration registration, string behavior, string? name, Value args)
        : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(18);
            span[0] = TypeSpawnRequest;
            BinaryPrimitives.WriteInt64LittleEndian(span[1..], id);
            BinaryPrimitives.WriteUInt32LittleEndian(span[9..], Milliseconds(spawnTimeout));
            BinaryPrimitives.WriteUInt32LittleEndian(span[13..], Milliseconds(initTimeout));
            span[17] = (byte)registration;
            writer.Advance(18);
            WriteStr8(writer, behavior);
            WriteStr8(writer, name);
            ValueCodec.Encode(args, writer);
        }
    }

    /// <summary><c>0x19, spawn_id i64, process_id i64</c>.</summary>
    internal readonly struct SpawnReplyMessage(long id, long processId) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(17);
            span[0] = TypeSpawnReply;
            BinaryPrimitives.WriteInt64LittleEndian(span[1..], id);
            BinaryPrimitives.WriteInt64LittleEndian(span[9..], processId);
            writer.Advance(17);
        }
    }

    /// <summary><c>0x1A, spawn_id i64, kind u8, detail value</c>.</summary>
    internal readonly struct SpawnErrorMessage(long id, ErrorKind kind, Value detail) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(10);
            span[0] = TypeSpawnError;
            BinaryPrimitives.WriteInt64LittleEndian(span[1..], id);
            span[9] = (byte)kind;
            writer.Advance(10);
            ValueCodec.Encode(detail, writer);
        }
    }

    /// <summary><c>0x1D, request_id i64, target i64, timeout_ms u32, reason value</c>.</summary>
    internal readonly struct StopRequestMessage(long id, long target, TimeSpan timeout, Value reason) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(21);
            span[0] = TypeStopRequest;
            BinaryPrimitives.WriteInt64LittleEndian(span[1..], id);
            BinaryPrimitives.WriteInt64LittleEndian(span[9..], target);
            BinaryPrimitives.WriteUInt32LittleEndian(span[17..], Milliseconds(timeout));
            writer.Advance(21);
            ValueCodec.Encode(reason, writer);
        }
    }

    /// <summary><c>0x1E, request_id i64, result u8</c>.</summary>
    internal readonly struct StopReplyMessage(long id, StopResult result) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(10);
            span[0] = TypeStopReply;
            BinaryPrimitives.WriteInt64LittleEndian(span[1..], id);
            span[9] = (byte)result;
            writer.Advance(10);
        }
    }
}
