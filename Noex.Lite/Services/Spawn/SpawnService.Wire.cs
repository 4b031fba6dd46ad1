using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Noex.Lite;

/// <summary>SpawnService: dispatch of §5.3 messages, their mapping to errors, and the message layouts.</summary>
internal sealed partial class SpawnService
{
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
