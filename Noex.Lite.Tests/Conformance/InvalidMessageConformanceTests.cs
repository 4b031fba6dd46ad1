namespace Noex.Lite.Tests;

/// <summary>
/// The message-invalid vectors of protocol.md §5 (§1.1): each is a body of a known type that its layer refuses, which the
/// mesh turns into closing the connection as a protocol error.
/// </summary>
[Trait("Category", Category.Conformance)]
public class InvalidMessageConformanceTests
{
    public static TheoryData<string> Messages => ProtocolVectors.NamesOfType("message-invalid");

    [Theory]
    [MemberData(nameof(Messages))]
    public async Task Conformance_InvalidMessage_IsAProtocolError(string name)
    {
        await using var node = await Node.StartAsync(TestNodes.Options("m", "invalid-message-tests"));
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        Assert.Equal(NodeDownReason.ProtocolError, Enum.Parse<NodeDownReason>(vector["error"]));

        // A false from the layer is what makes the mesh close the connection with ProtocolError. The body is judged before
        // the connection is looked at, so none is needed.
        Assert.False(LayerOf(node, bytes[0]).OnMessage(null!, bytes), $"{name} was accepted");
    }

    [Fact]
    public void Vectors_CoverEveryLayerWithErrorValues()
    {
        var types = ProtocolVectors.All.Where(v => v.Type == "message-invalid").Select(v => v.Bytes("hex")[0]).ToHashSet();

        Assert.Superset(new HashSet<byte> { MessageTypes.CallError, MessageTypes.SpawnError, MessageTypes.StopRequest, MessageTypes.Down, MessageTypes.Exit }, types);
    }

    /// <summary>The layer that owns <paramref name="type"/>, as the mesh dispatches to it (protocol.md §5).</summary>
    private static IClusterService LayerOf(Node node, byte type) => type switch
    {
        >= RemoteCall.FirstType and <= RemoteCall.LastType => (IClusterService)node.Runtime.Router!,
        >= SpawnService.FirstType and <= SpawnService.LastType => (IClusterService)node.Runtime.RemoteStops!,
        >= RemoteMonitor.FirstType and <= RemoteMonitor.LastType => node.Monitors,
        >= RemoteLink.FirstType and <= RemoteLink.LastType => node.Links,
        _ => throw new InvalidDataException($"type 0x{type:x2} has no layer with error values"),
    };
}
