namespace Noex.Lite.Tests;

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
        Assert.NotNull(membership.MarkUp(b, 7));
        Assert.Null(membership.MarkUp(b, 7));
        Assert.NotNull(membership.MarkUp(b, 8)); // a new incarnation is a new node-up
        Assert.True(membership.MarkDown(b));
        Assert.False(membership.MarkDown(b));
        Assert.Equal(NodeStatus.Disconnected, membership.GetNode(b)!.Status);
    }
}
