namespace Noex.Lite.Tests;

/// <summary>A message too large for the wire: the caller hears how large its value is, what the envelope adds, the limit,
/// and how much to cut; nothing is sent and the connection goes on.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class MessageSizeTests
{
    [Fact]
    public async Task Call_ValueOverTheLimit_FailsNamingTheValueTheEnvelopeAndTheCut()
    {
        await using var pair = await TestCluster.StartAsync(2, "size-tests");
        var (a, b) = pair;
        var echo = await b.Runtime.StartAsync(new Echo());
        var huge = Value.FromString(new string('x', 17 * 1024 * 1024));
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));

        var error = await Assert.ThrowsAsync<MessageTooLargeException>(() => a.Runtime.CallAsync(echo, huge).AsTask()).Within();

        // The value: a tag, a 4-byte varint length and the 17 MiB of text; the call's envelope: type, call id, target, timeout.
        const long ValueLength = 1 + 4 + 17 * 1024 * 1024;
        const int Envelope = 1 + 8 + 8 + 4;
        Assert.Equal((ValueLength, Envelope), (error.ValueLength, error.EnvelopeLength));
        Assert.Equal(ValueLength + Envelope - error.MaxMessageLength, error.Excess);
        Assert.Contains($"The value is {ValueLength:N0} bytes encoded", error.Message, StringComparison.Ordinal);
        Assert.Contains($"adds {Envelope}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Cut the value by at least {error.Excess:N0} bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("NodeOptions.MaxFrameLength", error.Message, StringComparison.Ordinal);
        // Nothing was sent: the connection carries the next call.
        Assert.Equal(Value.FromString("small"), await a.Runtime.CallAsync(echo, "small").Within());
        Assert.True(a.Connections.TryGetConnection(b.Id, out var after));
        Assert.Same(connection, after);
    }

    [Fact]
    public async Task TypedCall_ValueOverTheLimit_SaysHowMuchToCut()
    {
        await using var pair = await TestCluster.StartAsync(2, "size-tests");
        var (a, b) = pair;
        var echo = await b.Runtime.StartAsync(new Echo());
        var blob = new byte[17 * 1024 * 1024];

        var error = await Assert.ThrowsAsync<MessageTooLargeException>(() => a.Runtime.CallAsync<byte[], byte[]>(echo, blob).AsTask()).Within();

        Assert.Equal(1 + 4 + blob.Length, error.ValueLength);
        Assert.Equal(error.ValueLength + error.EnvelopeLength - error.MaxMessageLength, error.Excess);
    }

    private sealed class Echo : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(request, state));
    }
}
