using System.Diagnostics;
using System.Buffers;

namespace Noex.Lite;

/// <summary>SpawnService: dispatch of §5.3 messages, their mapping to errors, and the message layouts.</summary>
internal sealed partial class SpawnService
{
    // ---- IClusterService ---------------------------------------------------------------------------

    /// <summary>Handles a §5.3 message; false when it is malformed (a protocol error).</summary>
    public bool OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        var body = new WireReader(message[1..]);
        switch (message[0])
        {
            case MessageTypes.SpawnRequest when SpawnRequestMessage.TryRead(ref body, traced: false, out var request):
                OnSpawnRequest(connection, request);
                return true;
            case MessageTypes.TracedSpawnRequest when SpawnRequestMessage.TryRead(ref body, traced: true, out var request)
                && (connection.Protocol.Capabilities & Capabilities.TraceContext) != 0:
                OnSpawnRequest(connection, request);
                return true;
            case MessageTypes.SpawnReply when body.TryReadInt64(out var spawnId) && body.TryReadInt64(out var processId) && body.End:
                OnSpawnReply(connection, spawnId, processId);
                return true;
            case MessageTypes.SpawnError when body.TryReadInt64(out var spawnId) && body.TryReadByte(out var kind) && body.TryReadValue(out var detail)
                && IsSpawnErrorDetail((ErrorKind)kind, detail):
                // Judged before the spawn is looked up: a malformed spawn_error is malformed whether or not a spawn waits.
                if (_spawns.TryTake(spawnId, connection, out var failed))
                {
                    failed.Fail(FromWire((ErrorKind)kind, detail, failed.Behavior!, connection.PeerText));
                }
                return true;
            case MessageTypes.SpawnAck when body.TryReadInt64(out var spawnId) && body.End:
                _incoming.TryRemove((connection, spawnId), out _);
                return true;
            case MessageTypes.SpawnCancel when body.TryReadInt64(out var spawnId) && body.End:
                if (_incoming.TryRemove((connection, spawnId), out var cancelled))
                {
                    Cancel(cancelled);
                }
                return true;
            case MessageTypes.StopRequest when StopRequestMessage.TryRead(ref body, out var stop):
                OnStopRequest(connection, stop);
                return true;
            case MessageTypes.StopReply when body.TryReadInt64(out var requestId) && body.TryReadByte(out var result) && result <= (byte)StopResult.Timeout && body.End:
                OnStopReply(connection, requestId, (StopResult)result);
                return true;
            default:
                // A wrong length for the fixed-size messages, a malformed request, a spawn_error of another kind or detail
                // shape, or 0x1F (reserved).
                return false;
        }
    }

    /// <summary>The callee started our spawn: accept it and acknowledge, or, when nobody waits any more, have it stopped.</summary>
    private void OnSpawnReply(Connection connection, long spawnId, long processId)
    {
        if (_spawns.TryTake(spawnId, connection, out var replied))
        {
            replied.Complete(new ProcessRef(connection.PeerText, processId));
            connection.TryEnqueue(new IdMessage(MessageTypes.SpawnAck, spawnId), force: true);
        }
        else
        {
            // Nobody waits for it any more (timed out or cancelled): the callee must stop it.
            connection.TryEnqueue(new IdMessage(MessageTypes.SpawnCancel, spawnId), force: true);
        }
    }

    private void OnStopReply(Connection connection, long requestId, StopResult result)
    {
        if (!_stops.TryTake(requestId, connection, out var stop))
        {
            return;
        }
        switch (result)
        {
            case StopResult.Stopped:
                stop.Complete(true);
                break;
            case StopResult.NotRunning:
                stop.Fail(new RemoteServerNotRunningException(stop.Target, "no such process"));
                break;
            default:
                stop.Fail(new RemoteStopTimeoutException(stop.Target, StopTimeout));
                break;
        }
    }

    /// <summary>Nothing to do: spawns wait for answers, not for connections.</summary>
    public void OnConnectionUp(Connection connection)
    {
    }

    /// <summary>Fails this node's spawns and stops waiting on the connection; stops what it spawned for the peer and not yet handed over.</summary>
    public void OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        foreach (var spawn in _spawns.TakeAll(connection))
        {
            spawn.Fail(new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before the spawn completed"));
        }
        foreach (var stop in _stops.TakeAll(connection))
        {
            stop.Fail(new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before the process was stopped"));
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
        RemoteSpawnInitException e => (ErrorKind.InitFailed, ExitReasonWire.ErrorDetail(e.Reason, e.ErrorType)),
        RemoteSpawnInitTimeoutException e => (ErrorKind.InitTimeout, Value.Object(("timeoutMs", (long)e.Timeout.TotalMilliseconds))),
        RemoteSpawnRegistrationException e => (ErrorKind.RegistrationFailed, Value.Object(
            ("name", e.RegisteredName), ("registration", e.Registration == SpawnRegistration.Global ? "global" : "local"), ("message", e.Detail))),
        _ => (ErrorKind.Unavailable, ExitReasonWire.ErrorDetail(error.Message, error.GetType().Name)),
    };

    /// <summary>
    /// Whether <paramref name="detail"/> is exactly what <see cref="ToWire"/> (and a bad_request) sends for
    /// <paramref name="kind"/> (protocol.md §5.3): the keys in that order and no others, each of its type; an undefined
    /// kind is malformed.
    /// </summary>
    internal static bool IsSpawnErrorDetail(ErrorKind kind, Value detail) => kind switch
    {
        ErrorKind.BehaviorNotFound or ErrorKind.BadRequest => detail.HasExactKeys("message") && detail["message"].Kind == ValueKind.String,
        ErrorKind.InitFailed or ErrorKind.Unavailable => ExitReasonWire.TryReadErrorDetail(detail, out _, out _),
        // The request's init_timeout_ms, a u32, which also keeps TimeSpan.FromMilliseconds in range.
        ErrorKind.InitTimeout => detail.HasExactKeys("timeoutMs") && detail["timeoutMs"].TryGetInt64(out var ms) && ms is >= 0 and <= uint.MaxValue,
        ErrorKind.RegistrationFailed => detail.HasExactKeys("name", "registration", "message")
            && detail["name"].Kind == ValueKind.String && detail["message"].Kind == ValueKind.String
            && detail["registration"].TryGetString(out var registration) && registration is "local" or "global",
        _ => false,
    };

    // The detail has passed IsSpawnErrorDetail.
    internal static RemoteSpawnException FromWire(ErrorKind kind, Value detail, string behavior, string node)
    {
        switch (kind)
        {
            case ErrorKind.BehaviorNotFound:
                return new BehaviorNotFoundException(behavior, node);
            case ErrorKind.InitTimeout:
                return new RemoteSpawnInitTimeoutException(behavior, node, TimeSpan.FromMilliseconds(detail["timeoutMs"].AsInt64()));
            case ErrorKind.RegistrationFailed:
                return new RemoteSpawnRegistrationException(behavior, node, detail["name"].AsString(),
                    detail["registration"].AsString() == "global" ? SpawnRegistration.Global : SpawnRegistration.Local, detail["message"].AsString());
            case ErrorKind.BadRequest:
                return new RemoteSpawnInitException(behavior, node, $"the node refused the request: {detail["message"].AsString()}", "BadRequest");
            default:
                // init_failed and unavailable carry the error value.
                ExitReasonWire.TryReadErrorDetail(detail, out var message, out var errorType);
                return new RemoteSpawnInitException(behavior, node, message!, errorType);
        }
    }

    /// <summary>
    /// An exit reason from its value form (<see cref="ExitReason.ToValue"/>, protocol.md §5.3): exactly <c>{"type": name}</c>
    /// for the five reasons without detail, or <c>{"type": "error", "message": text, "errorType": text or null}</c>, keys in
    /// that order. False for anything else, which makes its stop_request malformed.
    /// </summary>
    internal static bool TryReadReason(Value value, out ExitReason reason)
    {
        reason = default;
        if (value.HasExactKeys("type", "message", "errorType"))
        {
            var fields = value.AsObject();
            if (!fields[0].Value.TryGetString(out var error) || error != "error"
                || !ExitReasonWire.TryReadErrorFields(fields[1].Value, fields[2].Value, out var message, out var errorType))
            {
                return false;
            }
            reason = ExitReason.Error(message, errorType);
            return true;
        }
        if (!value.HasExactKeys("type") || !value["type"].TryGetString(out var type))
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
            default:
                return false;
        }
    }

    private static uint Milliseconds(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? 0 : (uint)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, uint.MaxValue);

    // ---- messages ---------------------------------------------------------------------------------

    /// <summary>
    /// <c>0x18 spawn_request: spawn_id i64, spawn_timeout_ms u32, init_timeout_ms u32, registration u8, behavior str8,
    /// name str8, args value</c>; an empty <paramref name="Name"/> means none. With a <paramref name="Trace"/>, it is
    /// <c>0x1F traced_spawn_request</c>, the same with a <c>trace</c> field before <c>args</c> (§5.2, §5.3).
    /// </summary>
    internal readonly record struct SpawnRequestMessage(long SpawnId, uint SpawnTimeoutMs, uint InitTimeoutMs, SpawnRegistration Registration,
        string Behavior, string Name, Value Args, ActivityContext Trace = default) : IOutboundMessage
    {
        /// <summary>Reads a spawn_request's body (with its trace when <paramref name="traced"/>); false when it is malformed (a
        /// registration above 2, a str8 past the end or not UTF-8, a malformed trace, args that do not decode).</summary>
        public static bool TryRead(ref WireReader body, bool traced, out SpawnRequestMessage request)
        {
            ActivityContext trace = default;
            if (body.TryReadInt64(out var spawnId) && body.TryReadUInt32(out var spawnTimeoutMs) && body.TryReadUInt32(out var initTimeoutMs)
                && body.TryReadByte(out var registration) && registration <= (byte)SpawnRegistration.Global
                && body.TryReadStr8(out var behavior) && body.TryReadStr8(out var name)
                && (!traced || body.TryReadTraceContext(out trace)) && body.TryReadValue(out var args))
            {
                request = new(spawnId, spawnTimeoutMs, initTimeoutMs, (SpawnRegistration)registration, behavior, name, args, trace);
                return true;
            }
            request = default;
            return false;
        }

        public void Write(IBufferWriter<byte> output)
        {
            var traced = Trace != default;
            var writer = new WireWriter(output, traced ? MessageTypes.TracedSpawnRequest : MessageTypes.SpawnRequest);
            writer.WriteInt64(SpawnId);
            writer.WriteUInt32(SpawnTimeoutMs);
            writer.WriteUInt32(InitTimeoutMs);
            writer.WriteByte((byte)Registration);
            writer.WriteStr8(Behavior);
            writer.WriteStr8(Name);
            if (traced)
            {
                writer.WriteTraceContext(Trace);
            }
            writer.WriteValue(Args);
            writer.Commit();
        }
    }

    /// <summary><c>0x19 spawn_reply: spawn_id i64, process_id i64</c>.</summary>
    internal readonly struct SpawnReplyMessage(long spawnId, long processId) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.SpawnReply);
            writer.WriteInt64(spawnId);
            writer.WriteInt64(processId);
            writer.Commit();
        }
    }

    /// <summary><c>0x1A spawn_error: spawn_id i64, kind u8, detail value</c>.</summary>
    internal readonly struct SpawnErrorMessage(long spawnId, ErrorKind kind, Value detail) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.SpawnError);
            writer.WriteInt64(spawnId);
            writer.WriteByte((byte)kind);
            writer.WriteValue(detail);
            writer.Commit();
        }
    }

    /// <summary><c>0x1D stop_request: request_id i64, target i64, timeout_ms u32, reason value</c> (the reason in its value form).</summary>
    internal readonly record struct StopRequestMessage(long RequestId, long Target, uint TimeoutMs, ExitReason Reason) : IOutboundMessage
    {
        /// <summary>Reads a stop_request's body; false when it is malformed (a reason that does not decode or is no exit reason).</summary>
        public static bool TryRead(ref WireReader body, out StopRequestMessage request)
        {
            if (body.TryReadInt64(out var requestId) && body.TryReadInt64(out var target) && body.TryReadUInt32(out var timeoutMs)
                && body.TryReadValue(out var value) && TryReadReason(value, out var reason))
            {
                request = new(requestId, target, timeoutMs, reason);
                return true;
            }
            request = default;
            return false;
        }

        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.StopRequest);
            writer.WriteInt64(RequestId);
            writer.WriteInt64(Target);
            writer.WriteUInt32(TimeoutMs);
            writer.WriteValue(Reason.ToValue());
            writer.Commit();
        }
    }

    /// <summary><c>0x1E stop_reply: request_id i64, result u8</c>.</summary>
    internal readonly struct StopReplyMessage(long requestId, StopResult result) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.StopReply);
            writer.WriteInt64(requestId);
            writer.WriteByte((byte)result);
            writer.Commit();
        }
    }
}
