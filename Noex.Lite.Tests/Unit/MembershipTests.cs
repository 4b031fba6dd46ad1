namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class MembershipTests
{
    [Theory]
    [InlineData("")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 ff ff 00")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 01 00 06 61 40 62 3a 31")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 01 00 03 6e 6f 21")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 00 00 99")]
    public void ReadGossip_Malformed_IsRefusedBeforeAllocatingForTheClaim(string hex)
    {
        Assert.False(ControlMessages.TryReadGossip(ProtocolVectors.Hex(hex), out _, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void MarkUpAndDown_RaiseEachTransitionOnce()
    {
        var membership = new Membership(NodeId.Parse("a@h:1"), TimeProvider.System);
        var b = NodeId.Parse("b@h:2");

        Assert.True(membership.Learn(b));
        Assert.False(membership.Learn(b));
        Assert.False(membership.Learn(NodeId.Parse("a@h:1")));
        var first = MeshTests.Unconnected(b);
        var second = MeshTests.Unconnected(b);
        Assert.NotNull(membership.MarkUp(b, 7, first));
        Assert.Null(membership.MarkUp(b, 7, first));
        Assert.NotNull(membership.MarkUp(b, 8, second)); // a new incarnation is a new node-up
        Assert.False(membership.EndSession(b, first)); // no longer its session
        Assert.True(membership.EndSession(b, second));
        Assert.False(membership.EndSession(b, second));
        Assert.Equal(NodeStatus.Disconnected, membership.GetNode(b)!.Status);
    }

    [Fact]
    public void NextBackoff_DoublesUpToTheCap_WithJitterInItsBounds()
    {
        var options = new NodeOptions { Name = "a", ReconnectBaseDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromMilliseconds(1000), ReconnectJitter = 0.5 };
        var membership = new Membership(NodeId.Parse("a@h:1"), TimeProvider.System);
        var peer = NodeId.Parse("b@h:2");
        membership.Learn(peer);

        var delays = Enumerable.Range(0, 8).Select(_ => membership.NextBackoff(peer, options).TotalMilliseconds).ToArray();

        double[] nominal = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (var i = 0; i < delays.Length; i++)
        {
            Assert.InRange(delays[i], nominal[i] * 0.5, nominal[i] * 1.5);
        }
        membership.MarkUp(peer, 1, MeshTests.Unconnected(peer));
        Assert.InRange(membership.NextBackoff(peer, options).TotalMilliseconds, 50, 150); // a success resets it
    }
}
