using System.Buffers.Binary;

namespace Noex.Lite.Tests;

/// <summary>
/// The rules for what a receiver does not expect (protocol.md §5, §5.2), each sent by an authenticated peer: every
/// layer's undefined types and an undecodable cast close the connection, an undecodable call is answered bad_request,
/// and the control range's reserved types and types outside every range are dropped and counted.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class CallLayerWireTests
{
    private const string Secret = "call-layer-wire-tests";

    [Theory]
    [InlineData(0x11)]
    [InlineData(0x15)]
    [InlineData(0x16)]
    [InlineData(0x17)]
    [InlineData(0x1F)]
    [InlineData(0x26)]
    [InlineData(0x27)]
    [InlineData(0x2F)]
    [InlineData(0x32)]
    [InlineData(0x37)]
    public async Task UndefinedTypeOfALayersRange_ClosesTheConnection(byte type)
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));

        toA.TryEnqueue(new RawMessage([type, 0, 0, 0, 0, 0, 0, 0, 0]));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        Assert.Equal((b.Id, NodeDownReason.ProtocolError), (events.Downs.First().Peer, events.Downs.First().Reason));
    }

    [Theory]
    [InlineData(0x04)]
    [InlineData(0x0F)]
    [InlineData(0x00)]
    [InlineData(0x38)]
    [InlineData(0xFF)]
    public async Task ReservedControlTypeOrTypeOutsideEveryRange_IsDroppedAndCounted_NotFatal(byte type)
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        var before = a.UnknownMessages;
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));

        toA.TryEnqueue(new RawMessage([type, 1, 2, 3]));
        // A call on the same connection after it: once answered, the reserved message has been read.
        await b.Runtime.CallAsync(await a.Runtime.StartAsync(new Echo()), 1).Within();

        Assert.Equal(before + 1, a.UnknownMessages);
        Assert.Empty(events.Downs);
    }

    [Fact]
    public async Task CastWhoseMessageDoesNotDecode_ClosesTheConnection()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        var target = await a.Runtime.StartAsync(new Echo());
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));
        var cast = new byte[1 + 8 + 1];
        cast[0] = 0x12;
        BinaryPrimitives.WriteInt64LittleEndian(cast.AsSpan(1), target.Id);
        cast[9] = 0x25; // a short string of 5 bytes, with none after it: Truncated

        toA.TryEnqueue(new RawMessage(cast));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        Assert.Equal((b.Id, NodeDownReason.ProtocolError), (events.Downs.First().Peer, events.Downs.First().Reason));
    }

    [Fact]
    public async Task CallWhoseRequestDoesNotDecode_IsAnsweredBadRequest_AndTheConnectionStays()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a, b);
        var target = await b.Runtime.StartAsync(new Echo());
        var held = await b.Runtime.StartAsync(new Silent());
        // A real call of a's, waiting under one of a's first call ids...
        var waiting = a.Runtime.CallAsync(held, "wait", TimeSpan.FromSeconds(60)).AsTask();
        await Wait.UntilAsync(() => a.PendingRemoteCalls == 1);
        Assert.True(a.Connections.TryGetConnection(b.Id, out var toB));

        // ...and undecodable calls under each of those ids, sent on the same connection: b answers each bad_request, one
        // of which names the waiting call.
        for (long id = 0; id < 64; id++)
        {
            var call = new byte[1 + 8 + 8 + 4 + 1];
            call[0] = 0x10;
            BinaryPrimitives.WriteInt64LittleEndian(call.AsSpan(1), id);
            BinaryPrimitives.WriteInt64LittleEndian(call.AsSpan(9), target.Id);
            call[21] = 0x25;
            toB.TryEnqueue(new RawMessage(call));
        }

        var e = await Assert.ThrowsAsync<BadRequestException>(() => waiting.Within());
        Assert.Contains("does not decode", e.Message, StringComparison.Ordinal);
        Assert.Equal(7, (await a.Runtime.CallAsync(target, 7).Within()).AsInt64());
        Assert.Empty(events.Downs);
    }

    private sealed class Echo : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(request, state));
    }

    private sealed class Silent : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.NoReply(state));
    }
}
