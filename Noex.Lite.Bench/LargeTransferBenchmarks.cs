using BenchmarkDotNet.Attributes;

namespace Noex.Lite.Bench;

/// <summary>
/// A cast carrying a large binary from one <see cref="Connection"/> to another without sockets: encode into the outbound
/// queue, the spill lane and its fragments, seal every frame, copy the bytes into the receiver's buffer as a receive
/// would, verify, reassemble and (with <see cref="Decode"/>) decode the value. The CPU of the `large` verb's transfer
/// without the kernel and the scheduling, so that a change to it shows through the noise of a shared machine.
/// </summary>
[Config(typeof(BenchConfig))]
public class LargeTransferBenchmarks
{
    private Value _message;
    private Connection _client = null!;
    private Connection _server = null!;
    private Receiver _receiver = null!;

    /// <summary>The binary's size.</summary>
    [Params(1024 * 1024, 8 * 1024 * 1024)]
    public int Size { get; set; }

    /// <summary>Whether the receiver decodes the cast into a <see cref="Value"/> (which copies the blob into an array of
    /// its own, as a server does).</summary>
    [Params(false, true)]
    public bool Decode { get; set; }

    /// <summary>How many casts are queued before the transfer (the `large` verb's second depth is 4).</summary>
    [Params(1, 4)]
    public int Queued { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var data = new byte[Size];
        Random.Shared.NextBytes(data);
        _message = Value.Object(("type", "put"), ("key", "k1"), ("data", Value.Binary(data)));
        _receiver = new Receiver { Decode = Decode };
        (_client, _server) = TransportBenchmarks.Pair(new NodeOptions { Name = "bench", ClusterSecret = "bench-secret" }, new Receiver(), _receiver);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    /// <summary><see cref="Queued"/> casts there, whole.</summary>
    [Benchmark]
    public long CastOneWay()
    {
        for (var i = 0; i < Queued; i++)
        {
            _client.TryEnqueue(new RemoteCall.CastMessage(7, _message));
        }
        TransportBenchmarks.Transfer(_client, _server);
        return _receiver.Casts;
    }

    /// <summary>Counts the casts that arrive whole, decoding each if asked to.</summary>
    private sealed class Receiver : IConnectionHandler
    {
        public bool Decode { get; init; }

        public long Casts { get; private set; }

        public void OnMessage(Connection connection, ReadOnlySpan<byte> message)
        {
            if (Decode && !ValueCodec.TryDecode(message[9..], out _, out _, out _))
            {
                throw new InvalidOperationException("bad cast");
            }
            Casts++;
        }

        public void OnClosed(Connection connection)
        {
        }
    }
}
