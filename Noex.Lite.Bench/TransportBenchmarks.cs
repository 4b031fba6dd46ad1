using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace Noex.Lite.Bench;

/// <summary>
/// The transport's per-message path without sockets: two real <see cref="Connection"/>s (client and server, keys
/// crossed) whose write-loop half (<see cref="Connection.TakeBatch"/>) and read-loop half (<see cref="Connection.Deliver"/>)
/// are driven by hand, bytes copied from one to the other. Per operation: one call encoded into the client connection's
/// frame writer by <see cref="RemoteCall.CallOn"/> (waiter, pending table, encode), sealed, verified and dispatched on the
/// server, answered, sealed, verified and dispatched back to the waiter, whose value task completes; and one cast out and
/// in. A batch of 100 per invocation, as under load. Must be 0 B/op once warm, apart from decoding the request value on
/// the server (<see cref="DecodeRequest"/>), which is the codec's allocation and is shown separately.
/// </summary>
[Config(typeof(BenchConfig))]
public class TransportBenchmarks
{
    private const int Batch = 100;
    private static readonly Value s_get = Value.Parse("""{"type":"get","key":"k1"}""");
    private static readonly Value s_reply = Value.FromInt64(42);

    private readonly ValueTask<Value>[] _replies = new ValueTask<Value>[Batch];
    private ProcessRuntime _runtime = null!;
    private RemoteCall _remote = null!;
    private Connection _client = null!;
    private Connection _server = null!;
    private ServerSide _serverSide = null!;
    private ProcessRef _target;

    /// <summary>Whether the server decodes each request into a <see cref="Value"/> (the codec allocates the object).</summary>
    [Params(false, true)]
    public bool DecodeRequest { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new NodeOptions { Name = "bench", ClusterSecret = "bench-secret" };
        _runtime = new ProcessRuntime();
        _remote = new RemoteCall(new BenchNode(_runtime, options));
        _target = new ProcessRef(ServerId.ToString(), 7);
        _serverSide = new ServerSide { Decode = DecodeRequest };
        (_client, _server) = Pair(options, new ClientSide(_remote), _serverSide);
    }

    /// <summary>The server's id, which the client's connection names as its peer.</summary>
    internal static NodeId ServerId { get; } = NodeId.Parse("server@127.0.0.1:4370");

    /// <summary>Two connections keyed for each other, on sockets that are never connected: bytes go from one to the other
    /// through <see cref="Transfer"/>.</summary>
    internal static (Connection Client, Connection Server) Pair(NodeOptions options, IConnectionHandler clientSide, IConnectionHandler serverSide)
    {
        var toServer = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var toClient = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();
        var client = new Connection(new Socket(SocketType.Stream, ProtocolType.Tcp), null, ServerId, 1,
            new SessionKeys(toServer, toClient), options, clientSide);
        var server = new Connection(new Socket(SocketType.Stream, ProtocolType.Tcp), null, NodeId.Parse("client@127.0.0.1:4371"), 1,
            new SessionKeys((byte[])toClient.Clone(), (byte[])toServer.Clone()), options, serverSide);
        return (client, server);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
        await _runtime.DisposeAsync();
    }

    /// <summary>A call there and back: encode, seal, verify, dispatch, reply, seal, verify, complete the waiter.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long CallRoundTrip()
    {
        for (var i = 0; i < Batch; i++)
        {
            _replies[i] = _remote.CallOn(_client, _target, s_get, TimeSpan.FromSeconds(5), CancellationToken.None);
        }
        Transfer(_client, _server);
        Transfer(_server, _client);
        long sum = 0;
        for (var i = 0; i < Batch; i++)
        {
            sum += _replies[i].Result.AsInt64();
        }
        return sum;
    }

    /// <summary>A cast there: encode, seal, verify, dispatch (the server reads its target).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long CastOneWay()
    {
        for (var i = 0; i < Batch; i++)
        {
            _client.TryEnqueue(new RemoteCall.CastMessage(_target.Id, s_get));
        }
        Transfer(_client, _server);
        return _serverSide.Casts;
    }

    /// <summary>What the write loop sends from <paramref name="from"/>, received by <paramref name="to"/>'s read loop.</summary>
    internal static void Transfer(Connection from, Connection to)
    {
        while (from.TakeBatch(out _) is { } batch)
        {
            for (var sent = batch.WrittenMemory; !sent.IsEmpty;)
            {
                var free = to.ReceiveBuffer;
                var n = Math.Min(free.Length, sent.Length);
                sent[..n].CopyTo(free);
                if (!to.Deliver(n))
                {
                    throw new InvalidOperationException("the frame did not verify");
                }
                sent = sent[n..];
            }
            from.FinishBatch(batch);
        }
    }

    /// <summary>The node as RemoteCall sees it: a runtime and options, and no connections of its own (the benchmark hands
    /// it the connection to call on).</summary>
    private sealed class BenchNode(ProcessRuntime runtime, NodeOptions options) : INodeContext, IConnectionTable
    {
        public NodeId Id { get; } = NodeId.Parse("client@127.0.0.1:4371");

        public ulong Incarnation => 1;

        public NodeOptions Options => options;

        public ProcessRuntime Runtime => runtime;

        public TimeSpan Uptime => TimeSpan.Zero;

        public IConnectionTable Connections => this;

        public void RaiseDeadLetter(ProcessRef target, Value message, DeadLetterReason reason)
        {
        }

        public bool TryGetConnection(NodeId peer, [NotNullWhen(true)] out Connection? connection)
        {
            connection = null;
            return false;
        }

        public bool TryGetConnection(string peer, [NotNullWhen(true)] out Connection? connection)
        {
            connection = null;
            return false;
        }

        public Connection[] GetConnections() => [];
    }

    private sealed class ClientSide(RemoteCall remote) : IConnectionHandler
    {
        public void OnMessage(Connection connection, ReadOnlySpan<byte> message)
        {
            if (!remote.OnMessage(connection, message))
            {
                throw new InvalidOperationException("malformed reply");
            }
        }

        public void OnClosed(Connection connection)
        {
        }
    }

    /// <summary>The server's dispatch, as RemoteCall.OnCall does it, answering straight away instead of through a mailbox.</summary>
    private sealed class ServerSide : IConnectionHandler
    {
        public bool Decode { get; init; }

        public long Casts { get; private set; }

        public void OnMessage(Connection connection, ReadOnlySpan<byte> message)
        {
            switch (message[0])
            {
                case MessageTypes.Call:
                    var callId = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(message[1..]);
                    if (Decode && !ValueCodec.TryDecode(message[21..], out _, out _, out _))
                    {
                        throw new InvalidOperationException("bad request");
                    }
                    connection.TryEnqueue(new RemoteCall.ReplyMessage(callId, s_reply), force: true);
                    break;
                case MessageTypes.Cast:
                    if (Decode && !ValueCodec.TryDecode(message[9..], out _, out _, out _))
                    {
                        throw new InvalidOperationException("bad cast");
                    }
                    Casts++;
                    break;
            }
        }

        public void OnClosed(Connection connection)
        {
        }
    }
}
