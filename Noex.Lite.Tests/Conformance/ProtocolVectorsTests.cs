namespace Noex.Lite.Tests;

[Trait("Category", Category.Conformance)]
public class ProtocolVectorsTests
{
    [Fact]
    public void Load_ProtocolMd_FindsVectorsOfEveryType()
    {
        var types = ProtocolVectors.All.Select(v => v.Type).ToHashSet();
        Assert.Contains("value", types);
        Assert.All(ProtocolVectors.All, v => Assert.Contains(v.Type, new[] { "value", "value-invalid", "json-invalid", "frame", "frame-invalid", "handshake", "handshake-invalid", "message", "spawn-message", "registry-message", "signal-message", "fragment", "fragment-invalid", "observer-message", "registry-stamp", "registry-clock", "message-invalid", "json-read", "json-write" }));
    }
}
