namespace Noex.Lite.Tests;

/// <summary>
/// Malformed monitor and link bodies (protocol.md §5.5) are refused by a real node's signal layers: a protocol error.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class RemoteSignalMalformedTests
{
    public static TheoryData<string> Malformed => new()
    {
        "28 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 00 00 00 00 00 00", // monitor one byte short
        "29 01 00 00 00 00 00 00 00 02", // monitor_ack status 2
        "2a 01 00 00 00 00 00 00 00 00", // demonitor with a trailing byte
        "2b 01 00 00 00 00 00 00 00 06", // down: reason kind 6
        "2b 01 00 00 00 00 00 00 00 02 00", // down: killed with a trailing byte
        "2b 01 00 00 00 00 00 00 00 05 aa", // down: error whose detail is not an object
        "2b 01 00 00 00 00 00 00 00", // down without a reason
        "2c 01 00 00 00 00 00 00 00", // link without its target
        "2e 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 02 00", // exit: link flag 2
        "2f", // a type of the range that is not defined
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task OnMessage_MalformedBody_IsAProtocolError(string hex)
    {
        await using var node = await Node.StartAsync(TestNodes.Options("m", RemoteSignalNodes.Secret));
        var bytes = ProtocolVectors.Hex(hex);
        IClusterService layer = bytes[0] <= RemoteMonitor.LastType ? node.Monitors : node.Links;

        // Refused before the connection is looked at (none is needed to judge the bytes).
        Assert.False(layer.OnMessage(null!, bytes));
    }
}
