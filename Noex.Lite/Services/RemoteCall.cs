using System.Diagnostics;
using System.Buffers;
using System.Runtime.CompilerServices;

namespace Noex.Lite;

/// <summary>
/// Remote calls and casts: the messages of protocol.md §5.2, the table of calls waiting for a reply, and the delivery
/// of calls and casts that arrive from peers.
/// </summary>
/// <remarks>
/// <para>
/// A call takes a pooled waiter from the runtime (the same one a local call uses), files it under a fresh call id, and
/// encodes the request straight into the peer connection's frame; the reply, read on the connection's read loop,
/// completes the waiter. A node that goes down fails its pending calls at once (not after their timeouts), and entries
/// whose waiter timed out are swept on every heartbeat tick, so the table cannot grow without bound.
/// </para>
/// <para>
/// Calls from peers are posted to the target's mailbox with the connection's reply sink as their reply address, so the
/// reply is encoded onto the connection the call came from. Replies ignore the outbound queue's bound: they are already
/// bounded by the calls the peer has in flight, and dropping one would leave a caller waiting.
/// </para>
/// </remarks>
internal sealed class RemoteCall : IRemoteRouter, IClusterService
{
    /// <summary>The first message type this layer owns (protocol.md §5.2).</summary>
    public const byte FirstType = MessageTypes.FirstCall;

    /// <summary>The last of them.</summary>
    public const byte LastType = MessageTypes.LastCall;

    /// <summary>Why a call failed on the callee's side (protocol.md §5.2).</summary>
    internal enum ErrorKind : byte
    {
        ServerNotRunning = 1,
        CallFailed = 2,
        MailboxFull = 3,
        BadRequest = 4,
    }

    private readonly INodeContext _node;
    private readonly IConnectionTable _connections;
    private readonly ProcessRuntime _runtime;
    private readonly RequestTable<PendingCall> _pending = new();
    // Each connection's reply sink, made on its first call and gone with the connection (a weak table, so a call that
    // arrives as the connection closes cannot leave an entry behind).
    private readonly ConditionalWeakTable<Connection, ReplySink> _sinks = new();
    private long _nextCallId;
    private long _deadLetters;

    public RemoteCall(INodeContext node)
    {
        _node = node;
        _connections = node.Connections;
        _runtime = node.Runtime;
    }

    /// <summary>Calls waiting for a reply from another node.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Casts that could not be delivered to another node (not connected, or its queue full).</summary>
    public long DeadLetters => Interlocked.Read(ref _deadLetters);

    public ValueTask<Value> CallAsync(ProcessRef target, Value request, TimeSpan timeout, CancellationToken cancellationToken,
        ValueContract? replyContract = null, CallWaiter? waiter = null)
    {
        if (Tracing.WatchCalls)
        {
            return WatchedCallAsync(target, request, timeout, cancellationToken, replyContract, waiter);
        }
        if (!_connections.TryGetConnection(target.Node, out var connection))
        {
            return ValueTask.FromException<Value>(new NodeNotReachableException(target.Node, "not connected"));
        }
        return CallOn(connection, target, request, timeout, cancellationToken, replyContract: replyContract, waiter: waiter);
    }

    /// <summary>
    /// A call while someone listens: in a client span whose context the call carries (when the peer takes it), timed and
    /// counted by outcome. Only this path allocates (its state machine): the unwatched one stays as it was.
    /// </summary>
    private async ValueTask<Value> WatchedCallAsync(ProcessRef target, Value request, TimeSpan timeout, CancellationToken cancellationToken,
        ValueContract? replyContract = null, CallWaiter? waiter = null)
    {
        using var activity = StartClient("noex.call", ActivityKind.Client, target);
        var started = Stopwatch.GetTimestamp();
        string? outcome = null;
        try
        {
            if (!_connections.TryGetConnection(target.Node, out var connection))
            {
                throw new NodeNotReachableException(target.Node, "not connected");
            }
            return await CallOn(connection, target, request, timeout, cancellationToken, activity?.Context ?? Tracing.CurrentContext(), replyContract, waiter)
                .ConfigureAwait(false);
        }
        catch (Exception e)
        {
            outcome = Outcome(e);
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            activity?.SetTag("error.type", outcome);
            throw;
        }
        finally
        {
            if (Tracing.ClientDuration.Enabled)
            {
                var tags = new TagList
                {
                    { "rpc.system.name", "noex" },
                    { "rpc.method", "call" },
                    { "server.address", target.Node },
                };
                if (outcome is not null)
                {
                    tags.Add("error.type", outcome);
                }
                Tracing.ClientDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
            }
            if (Tracing.Calls.Enabled)
            {
                Tracing.Calls.Add(1, new KeyValuePair<string, object?>("outcome", outcome ?? "ok"));
            }
        }
    }

    /// <summary>A client span (call, cast) to <paramref name="target"/>, as the current activity; null when nobody listens.</summary>
    private static Activity? StartClient(string name, ActivityKind kind, ProcessRef target) =>
        Tracing.Active ? Tracing.StartClient(name, name == "noex.call" ? "call" : "cast", kind, target.Node, target.ToString(), "noex.process") : null;

    /// <summary>A failed call's outcome, as the <c>noex.rpc.calls</c> counter and OpenTelemetry's <c>error.type</c> name it.</summary>
    private static string Outcome(Exception error) => error switch
    {
        CallTimeoutException => "timeout",
        NodeNotReachableException => "not_reachable",
        NodeOverloadedException or MailboxFullException => "overloaded",
        OperationCanceledException => "canceled",
        ValueCodecException or BadRequestException => "bad_request",
        _ => "remote_error",
    };

    /// <summary>Whether <paramref name="connection"/> carries trace context (both sides offered it, protocol.md §4.6).</summary>
    private static bool CarriesTrace(Connection connection) => (connection.Protocol.Capabilities & Capabilities.TraceContext) != 0;

    /// <summary>Sends a call on <paramref name="connection"/> and returns its reply (the per-call path, which the transport
    /// micro benchmark drives on a connection without a socket).</summary>
    internal ValueTask<Value> CallOn(Connection connection, ProcessRef target, Value request, TimeSpan timeout, CancellationToken cancellationToken,
        ActivityContext trace = default, ValueContract? replyContract = null, CallWaiter? waiter = null)
    {
        if (trace == default || !CarriesTrace(connection))
        {
            trace = default;
        }
        waiter ??= _runtime.Waiters.Rent();
        var token = waiter.Arm(target, timeout, cancellationToken, remote: true, replyContract);
        var reply = waiter.Task;
        var callId = Interlocked.Increment(ref _nextCallId);
        _pending.Add(callId, new PendingCall(waiter, token, connection));
        EnqueueResult result;
        try
        {
            result = trace == default
                ? connection.TryEnqueue(new CallMessage(callId, target.Id, timeout, request))
                : connection.TryEnqueue(new TracedCallMessage(callId, target.Id, timeout, trace, request));
        }
        catch (Exception e)
        {
            // The request could not be encoded (a value that cannot cross the wire): nothing was sent.
            _pending.TryTake(callId, out _);
            waiter.Abandon(token, e);
            return reply;
        }
        switch (result)
        {
            case EnqueueResult.Queued:
                break;
            case EnqueueResult.Full when _node.Options.OverloadPolicy == OverloadPolicy.Wait:
                // Backpressure: wait for room, within the call's own timeout and cancellation, then send.
                return SendWhenRoomAsync(connection, waiter, token, callId, target, timeout, request, reply, trace, cancellationToken);
            case EnqueueResult.Full:
                _pending.TryTake(callId, out _);
                waiter.Abandon(token, new NodeOverloadedException(connection.Peer, connection.QueuedBytes));
                break;
            default:
                _pending.TryTake(callId, out _);
                waiter.Abandon(token, new NodeNotReachableException(connection.Peer, "the connection closed"));
                break;
        }
        return reply;
    }

    private async ValueTask<Value> SendWhenRoomAsync(Connection connection, CallWaiter waiter, long token, long callId, ProcessRef target,
        TimeSpan timeout, Value request, ValueTask<Value> reply, ActivityContext trace, CancellationToken cancellationToken)
    {
        try
        {
            while (waiter.IsPending(token))
            {
                // Wakes when the write loop drains the queue or the connection closes; the call's timer may end the
                // call meanwhile, which the loop condition sees.
                await connection.WaitForSpaceAsync(cancellationToken).ConfigureAwait(false);
                var result = trace == default
                    ? connection.TryEnqueue(new CallMessage(callId, target.Id, timeout, request))
                    : connection.TryEnqueue(new TracedCallMessage(callId, target.Id, timeout, trace, request));
                if (result == EnqueueResult.Queued)
                {
                    break;
                }
                if (result == EnqueueResult.Closed)
                {
                    waiter.Abandon(token, new NodeNotReachableException(connection.Peer, "the connection closed"));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The caller's token: the waiter's own registration fails the call with it.
        }
        finally
        {
            if (!waiter.IsPending(token))
            {
                _pending.TryTake(callId, out _);
            }
        }
        return await reply.ConfigureAwait(false);
    }

    public bool Cast(ProcessRef target, Value message)
    {
        using var activity = StartClient("noex.cast", ActivityKind.Producer, target);
        var reason = DeadLetterReason.NodeUnreachable;
        if (_connections.TryGetConnection(target.Node, out var connection))
        {
            var result = EnqueueCast(connection, target, message);
            if (result == EnqueueResult.Queued)
            {
                return Sent();
            }
            reason = result == EnqueueResult.Full ? DeadLetterReason.QueueFull : DeadLetterReason.NodeUnreachable;
        }
        return DeadLetter(target, message, reason);
    }

    public ValueTask<bool> CastAsync(ProcessRef target, Value message, CancellationToken cancellationToken)
    {
        using var activity = StartClient("noex.cast", ActivityKind.Producer, target);
        if (!_connections.TryGetConnection(target.Node, out var connection))
        {
            return new(DeadLetter(target, message, DeadLetterReason.NodeUnreachable));
        }
        switch (EnqueueCast(connection, target, message))
        {
            case EnqueueResult.Queued:
                return new(Sent());
            case EnqueueResult.Full when _node.Options.OverloadPolicy == OverloadPolicy.Wait:
                return CastWhenRoomAsync(connection, target, message, cancellationToken);
            case EnqueueResult.Full:
                DeadLetter(target, message, DeadLetterReason.QueueFull);
                return ValueTask.FromException<bool>(new NodeOverloadedException(connection.Peer, connection.QueuedBytes));
            default:
                return new(DeadLetter(target, message, DeadLetterReason.NodeUnreachable));
        }
    }

    private async ValueTask<bool> CastWhenRoomAsync(Connection connection, ProcessRef target, Value message, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Wakes when the write loop takes a batch (room again) or the connection closes (then the enqueue says so).
            await connection.WaitForSpaceAsync(cancellationToken).ConfigureAwait(false);
            switch (EnqueueCast(connection, target, message))
            {
                case EnqueueResult.Queued:
                    return Sent();
                case EnqueueResult.Closed:
                    return DeadLetter(target, message, DeadLetterReason.NodeUnreachable);
            }
        }
    }

    /// <summary>Queues a cast, with the current trace when one is active and the peer takes it.</summary>
    private static EnqueueResult EnqueueCast(Connection connection, ProcessRef target, Value message) =>
        Tracing.Active && Activity.Current is { } current && CarriesTrace(connection)
            ? connection.TryEnqueue(new TracedCastMessage(target.Id, current.Context, message))
            : connection.TryEnqueue(new CastMessage(target.Id, message));

    /// <summary>Counts a cast queued to its node (true, for the caller to return): a branch when nobody listens.</summary>
    private static bool Sent()
    {
        if (Telemetry.CastsSent.Enabled)
        {
            Telemetry.CastsSent.Add(1);
        }
        return true;
    }

    private bool DeadLetter(ProcessRef target, Value message, DeadLetterReason reason)
    {
        Interlocked.Increment(ref _deadLetters);
        _node.RaiseDeadLetter(target, message, reason);
        return false;
    }

    /// <summary>Handles a §5.2 message from <paramref name="connection"/>; false when it is malformed (a protocol error).</summary>
    public bool OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        var body = new WireReader(message[1..]);
        switch (message[0])
        {
            case MessageTypes.Call when body.TryReadInt64(out var callId) && body.TryReadInt64(out var target) && body.TryReadUInt32(out _):
                // The request is read by OnCall: one that does not decode is answered bad_request, not a protocol error.
                OnCall(connection, callId, target, body);
                return true;
            case MessageTypes.TracedCall when CarriesTrace(connection) && body.TryReadInt64(out var callId) && body.TryReadInt64(out var target)
                && body.TryReadUInt32(out _) && body.TryReadTraceContext(out var trace):
                OnCall(connection, callId, target, body, trace);
                return true;
            case MessageTypes.Cast when body.TryReadInt64(out var target):
                return OnCast(target, body.Rest, null);
            case MessageTypes.TracedCast when CarriesTrace(connection) && body.TryReadInt64(out var target) && body.TryReadTraceContext(out var trace):
                return OnCast(target, body.Rest, Tracing.Active ? new TraceParent(null, trace, remote: true, Stopwatch.GetTimestamp()) : null);
            case MessageTypes.Reply when body.TryReadInt64(out var callId):
                return OnReply(connection, callId, body.Rest);
            case MessageTypes.CallError when body.TryReadInt64(out var callId) && body.TryReadByte(out var kind) && body.TryReadValue(out var detail)
                && IsCallErrorDetail((ErrorKind)kind, detail):
                // Judged before the call is looked up: a malformed call_error is malformed whether or not a call waits.
                if (_pending.TryTake(callId, connection, out var failed))
                {
                    failed.Waiter.TryFail(failed.Token, ToException(failed.Waiter.Target, (ErrorKind)kind, detail));
                }
                return true;
            default:
                // A short body, a reply or cast whose value does not decode, a call_error of another kind or detail shape,
                // or a type of the range that is not defined.
                return false;
        }
    }

    /// <summary>Fails every call waiting on <paramref name="connection"/> at once: its node is gone.</summary>
    public void OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        foreach (var pending in _pending.TakeAll(connection))
        {
            pending.Waiter.TryFail(pending.Token, new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before it replied"));
        }
    }

    /// <summary>Nothing to do: calls wait for replies, not for connections.</summary>
    public void OnConnectionUp(Connection connection)
    {
    }

    /// <summary>Removes entries whose waiter already ended (timed out or canceled); run on every heartbeat tick.</summary>
    public void OnTick()
    {
        _pending.SweepFinished();
    }

    /// <summary>A reply: read into the caller's reply type for a typed call, as a value otherwise; false when malformed.</summary>
    private bool OnReply(Connection connection, long callId, ReadOnlySpan<byte> encoding)
    {
        // Only on the connection the call went out on: another peer cannot answer (or fail) this node's calls.
        if (!_pending.TryTake(callId, connection, out var pending))
        {
            // Nobody waits (the call timed out): a malformed reply is malformed all the same.
            return ValueCodec.TryDecode(encoding, out _, out _, out _);
        }
        if (!TryRead(pending.Waiter.ReplyContract, encoding, out var reply, out var misfit))
        {
            if (misfit is null)
            {
                pending.Waiter.TryFail(pending.Token, new NodeNotReachableException(connection.Peer, "it sent a malformed reply"));
                return false;
            }
            // A well-formed reply of another shape than the caller's type: that call fails, naming the field.
            pending.Waiter.TryFail(pending.Token, misfit);
            return true;
        }
        ReadThreadScheduler.Complete(pending.Waiter, pending.Token, reply);
        return true;
    }

    private bool OnCast(long target, ReadOnlySpan<byte> encoding, TraceParent? trace)
    {
        var cell = _runtime.FindLocal(target);
        if (!TryRead(cell?.Server.CastContract, encoding, out var cast, out var misfit))
        {
            if (misfit is null)
            {
                return false;
            }
            // Well-formed, but not the typed server's cast type: dropped and counted, as a cast the process cannot take.
            _runtime.CountDeadLetter();
            _node.RaiseDeadLetter(new ProcessRef(_runtime.Name, target), ValueCodec.Decode(encoding), DeadLetterReason.Unreadable);
            return true;
        }
        if (_runtime.PostCast(cell, cast, trace) is var posted && posted != PostResult.Accepted)
        {
            _node.RaiseDeadLetter(new ProcessRef(_runtime.Name, target), cast,
                posted is PostResult.Full or PostResult.Dropped or PostResult.Rejected ? DeadLetterReason.MailboxFull : DeadLetterReason.NoProcess);
        }
        return true;
    }

    /// <summary>
    /// Reads a message: through <paramref name="contract"/> (a typed server's call or cast type, a typed caller's reply
    /// type), straight into that type with no value tree; without one, as a value. False when it cannot: malformed bytes
    /// (<paramref name="misfit"/> null), or well-formed bytes that do not fit the type (<paramref name="misfit"/> names the
    /// type and the field).
    /// </summary>
    private static bool TryRead(ValueContract? contract, ReadOnlySpan<byte> encoding, out Value message, out NoexException? misfit)
    {
        misfit = null;
        if (contract is null)
        {
            return ValueCodec.TryDecode(encoding, out message, out _, out _);
        }
        try
        {
            message = contract.ReadWrapped(encoding, ValueCodec.DefaultMaxDepth);
            return true;
        }
        catch (NoexException e) when (e is MessageContractException or ValueCodecException)
        {
            // The contract may stop at the first field it cannot take: whether the rest is well-formed decides between a
            // misfit (the sender's type differs) and a corrupt message (a protocol error).
            message = default;
            if (ValueCodec.TryDecode(encoding, out _, out _, out _))
            {
                misfit = e;
            }
            return false;
        }
    }

    private void OnCall(Connection connection, long callId, long targetId, WireReader body, ActivityContext trace = default)
    {
        // GetValue looks up first and makes the sink only on the connection's first call.
        var sink = _sinks.GetValue(connection, static c => new ReplySink(c));
        var cell = _runtime.FindLocal(targetId);
        if (!TryRead(cell?.Server.CallContract, body.Rest, out var request, out var misfit))
        {
            if (misfit is not null)
            {
                sink.Send(callId, ErrorKind.BadRequest, misfit.Message);
                return;
            }
            ValueCodec.TryDecode(body.Rest, out _, out var error, out var offset);
            sink.Send(callId, ErrorKind.BadRequest, $"the request does not decode: {error} at byte {offset}");
            return;
        }
        // Traced (while this node traces) or timed (while the server duration is watched): the call carries what its handler
        // needs for its span and its duration; otherwise just the sink, as before.
        IReplySink replyTo = (trace != default && Tracing.Active) || Tracing.ServerDuration.Enabled
            ? new TraceParent(sink, trace, remote: true, Stopwatch.GetTimestamp())
            : sink;
        switch (ProcessRuntime.PostCall(cell, request, replyTo, callId))
        {
            case PostResult.Accepted:
            case PostResult.Rejected:
                // Rejected: the mailbox closed as it was queued; the runtime fails it through the sink.
                break;
            case PostResult.Full:
            case PostResult.Dropped:
                sink.Send(callId, ErrorKind.MailboxFull, "its mailbox is full");
                break;
            default:
                sink.Send(callId, ErrorKind.ServerNotRunning, "no such process");
                break;
        }
    }

    /// <summary>
    /// Whether <paramref name="detail"/> is exactly what the writer sends for <paramref name="kind"/> (protocol.md §5.2): the
    /// error value <c>{"message", "errorType"}</c> for call_failed, a text for the other kinds; an undefined kind is malformed.
    /// </summary>
    internal static bool IsCallErrorDetail(ErrorKind kind, Value detail) => kind switch
    {
        ErrorKind.CallFailed => ExitReasonWire.TryReadErrorDetail(detail, out _, out _),
        ErrorKind.ServerNotRunning or ErrorKind.MailboxFull or ErrorKind.BadRequest => detail.Kind == ValueKind.String,
        _ => false,
    };

    // The detail has passed IsCallErrorDetail.
    private static NoexException ToException(ProcessRef target, ErrorKind kind, Value detail)
    {
        if (ExitReasonWire.TryReadErrorDetail(detail, out var failure, out var errorType))
        {
            return new CallFailedException(target, ExitReason.Error(failure, errorType));
        }
        var message = detail.AsString();
        return kind switch
        {
            ErrorKind.ServerNotRunning => new RemoteServerNotRunningException(target, message),
            ErrorKind.MailboxFull => new MailboxFullException(target, 0),
            _ => new BadRequestException(target, message),
        };
    }

    /// <summary>Where calls from one peer are answered: the reply is encoded onto that peer's connection.</summary>
    private sealed class ReplySink(Connection connection) : IReplySink
    {
        public bool TryComplete(long token, Value reply)
        {
            try
            {
                return connection.TryEnqueue(new ReplyMessage(token, reply), force: true) == EnqueueResult.Queued;
            }
            catch (NoexException e) when (e is ValueCodecException or MessageContractException or MessageTooLargeException)
            {
                // The reply cannot cross the wire: the caller must hear that rather than wait for its timeout.
                Send(token, ErrorKind.CallFailed, ExitReasonWire.ErrorDetail($"the reply cannot be encoded: {e.Message}", e.GetType().Name));
                return false;
            }
        }

        public bool TryFail(long token, Exception error)
        {
            switch (error)
            {
                case CallFailedException failed:
                    Send(token, ErrorKind.CallFailed, ExitReasonWire.ErrorDetail(failed.Reason.Message ?? failed.Reason.ToString(), failed.Reason.ErrorType));
                    break;
                case ServerNotRunningException notRunning:
                    Send(token, ErrorKind.ServerNotRunning, notRunning.Message);
                    break;
                default:
                    Send(token, ErrorKind.CallFailed, ExitReasonWire.ErrorDetail(error.Message, error.GetType().Name));
                    break;
            }
            return true;
        }

        public bool IsPending(long token) => !connection.IsClosed;

        public void Send(long callId, ErrorKind kind, Value detail) =>
            connection.TryEnqueue(new CallErrorMessage(callId, kind, detail), force: true);
    }

    /// <summary>
    /// One call waiting for its reply: the waiter and its token, and the connection the request went out on. The waiter
    /// times the call out by itself, so a timed-out entry stays until the tick's sweep (<see cref="IsFinished"/>).
    /// </summary>
    private readonly record struct PendingCall(CallWaiter Waiter, long Token, Connection Connection) : IPendingRequest
    {
        public bool IsFinished => !Waiter.IsPending(Token);
    }

    /// <summary><c>0x10 call: call_id i64, target i64, timeout_ms u32, request value</c>.</summary>
    internal readonly struct CallMessage(long callId, long target, TimeSpan timeout, Value request) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Call);
            writer.WriteInt64(callId);
            writer.WriteInt64(target);
            writer.WriteUInt32(TimeoutMs(timeout));
            writer.WriteValue(request);
            writer.Commit();
        }
    }

    /// <summary>A call's <c>timeout_ms</c> field: 0 for none, else the timeout in whole milliseconds, at least 1.</summary>
    private static uint TimeoutMs(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? 0 : (uint)Math.Clamp(timeout.TotalMilliseconds, 1, uint.MaxValue);

    /// <summary><c>0x11 traced_call: call_id i64, target i64, timeout_ms u32, trace, request value</c>.</summary>
    internal readonly struct TracedCallMessage(long callId, long target, TimeSpan timeout, ActivityContext trace, Value request) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.TracedCall);
            writer.WriteInt64(callId);
            writer.WriteInt64(target);
            writer.WriteUInt32(TimeoutMs(timeout));
            writer.WriteTraceContext(trace);
            writer.WriteValue(request);
            writer.Commit();
        }
    }

    /// <summary><c>0x15 traced_cast: target i64, trace, message value</c>.</summary>
    internal readonly struct TracedCastMessage(long target, ActivityContext trace, Value message) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.TracedCast);
            writer.WriteInt64(target);
            writer.WriteTraceContext(trace);
            writer.WriteValue(message);
            writer.Commit();
        }
    }

    /// <summary><c>0x12 cast: target i64, message value</c>.</summary>
    internal readonly struct CastMessage(long target, Value message) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Cast);
            writer.WriteInt64(target);
            writer.WriteValue(message);
            writer.Commit();
        }
    }

    /// <summary><c>0x13 reply: call_id i64, reply value</c>.</summary>
    internal readonly struct ReplyMessage(long callId, Value reply) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Reply);
            writer.WriteInt64(callId);
            writer.WriteValue(reply);
            writer.Commit();
        }
    }

    /// <summary><c>0x14 call_error: call_id i64, kind u8, detail value</c>.</summary>
    internal readonly struct CallErrorMessage(long callId, ErrorKind kind, Value detail) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.CallError);
            writer.WriteInt64(callId);
            writer.WriteByte((byte)kind);
            writer.WriteValue(detail);
            writer.Commit();
        }
    }
}
