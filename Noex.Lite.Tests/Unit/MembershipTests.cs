namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class MembershipTests
{
    private static readonly NodeId s_self = NodeId.Parse("a@h:1");

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
        var membership = New();
        var b = NodeId.Parse("b@h:2");

        Assert.Equal(Membership.Learned.New, membership.Learn(b));
        Assert.Equal(Membership.Learned.Known, membership.Learn(b));
        Assert.Equal(Membership.Learned.Self, membership.Learn(s_self));
        var first = MeshTests.Unconnected(b);
        var second = MeshTests.Unconnected(b);
        Assert.Equal((true, true), IsUp(membership.MarkUp(b, 7, first)));
        Assert.Equal((false, false), IsUp(membership.MarkUp(b, 7, first)));
        Assert.Equal((true, false), IsUp(membership.MarkUp(b, 8, second))); // a new incarnation is a new node-up, not a new member
        Assert.False(membership.EndSession(b, first)); // no longer its session
        Assert.True(membership.EndSession(b, second));
        Assert.False(membership.EndSession(b, second));
        Assert.Equal(NodeStatus.Disconnected, membership.GetNode(b)!.Status);
    }

    [Fact]
    public void NextBackoff_DoublesUpToTheCap_WithJitterInItsBounds()
    {
        var membership = New(o => o with { ReconnectBaseDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromMilliseconds(1000), ReconnectJitter = 0.5 });
        var peer = NodeId.Parse("b@h:2");
        membership.Learn(peer);

        var delays = Enumerable.Range(0, 8).Select(_ => membership.NextBackoff(peer).TotalMilliseconds).ToArray();

        double[] nominal = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (var i = 0; i < delays.Length; i++)
        {
            Assert.InRange(delays[i], nominal[i] * 0.5, nominal[i] * 1.5);
        }
        membership.MarkUp(peer, 1, MeshTests.Unconnected(peer));
        Assert.InRange(membership.NextBackoff(peer).TotalMilliseconds, 50, 150); // a success resets it
    }

    [Fact]
    public void Unreachable_IsRemovedAfterTheBound_NotBefore_AndLeavesGossip()
    {
        var time = new ManualTimeProvider();
        var membership = New(o => o with { TimeProvider = time, RemoveUnreachableAfter = TimeSpan.FromMinutes(5) });
        var b = NodeId.Parse("b@h:2");
        var c = NodeId.Parse("c@h:3");
        var session = MeshTests.Unconnected(b);
        membership.MarkUp(b, 1, session);
        membership.Learn(c); // learned, never up: never gossiped
        Assert.Equal([s_self, b], membership.GetGossipIds());

        time.Advance(TimeSpan.FromMinutes(4));
        membership.EndSession(b, session);
        Assert.Empty(membership.RemoveExpired());
        time.Advance(TimeSpan.FromMinutes(1.1));
        Assert.Equal([c], membership.RemoveExpired()); // c's bound ran from when it was learned
        Assert.Equal([s_self, b], membership.GetGossipIds()); // lost within the bound: still gossiped

        time.Advance(TimeSpan.FromMinutes(3.8));
        Assert.Empty(membership.RemoveExpired());
        time.Advance(TimeSpan.FromMinutes(0.2));
        Assert.Equal([b], membership.RemoveExpired());
        Assert.Null(membership.GetNode(b));
        Assert.Equal([s_self], membership.GetGossipIds());
        Assert.Equal(Membership.Learned.New, membership.Learn(b)); // a stranger again
    }

    [Fact]
    public void Learn_BeyondTheCap_IsRefused_ButAConnectingNodeIsAdmitted()
    {
        var membership = New(o => o with { MaxMembers = 2 });
        Assert.Equal(Membership.Learned.New, membership.Learn(NodeId.Parse("b@h:2")));
        Assert.Equal(Membership.Learned.New, membership.Learn(NodeId.Parse("c@h:3")));
        Assert.Equal(Membership.Learned.Full, membership.Learn(NodeId.Parse("d@h:4")));
        var e = NodeId.Parse("e@h:5");
        Assert.NotNull(membership.MarkUp(e, 1, MeshTests.Unconnected(e)).Up);
        Assert.Equal(3, membership.GetNodes().Length);
    }

    [Fact]
    public void Quorum_AMinorityNeverShrinksItsBase_AMajorityDoes()
    {
        // Five nodes; this one ends up on the side of two: {a, b} | {c, d, e}.
        var time = new ManualTimeProvider();
        var minority = New(o => o with { TimeProvider = time, RemoveUnreachableAfter = TimeSpan.FromSeconds(10) });
        var peers = "bcde".Select(n => NodeId.Parse($"{n}@h:{n - 'a' + 1}")).ToArray();
        var sessions = peers.Select(p => MeshTests.Unconnected(p)).ToArray();
        for (var i = 0; i < 4; i++)
        {
            minority.MarkUp(peers[i], 1, sessions[i]);
        }
        Assert.True(minority.HasQuorum());
        for (var i = 1; i < 4; i++)
        {
            minority.EndSession(peers[i], sessions[i]);
        }
        Assert.False(minority.HasQuorum());
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(3, minority.RemoveExpired().Count); // removed as members: not redialled, not gossiped...
        Assert.Equal(5, minority.QuorumBaseSize); // ...but still counted: a minority cannot forget its way to a majority
        Assert.False(minority.HasQuorum());

        var majority = New(o => o with { TimeProvider = time, RemoveUnreachableAfter = TimeSpan.FromSeconds(10) });
        for (var i = 0; i < 4; i++)
        {
            majority.MarkUp(peers[i], 1, sessions[i]);
        }
        majority.EndSession(peers[0], sessions[0]);
        Assert.True(majority.HasQuorum()); // 4 of 5
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal([peers[0]], majority.RemoveExpired());
        Assert.Equal(4, majority.QuorumBaseSize);
        Assert.True(majority.HasQuorum());
    }

    [Fact]
    public void Quorum_AStaticSizeOverridesTheBase_AndForgetShrinksIt()
    {
        var membership = New(o => o with { QuorumSize = 3 });
        var b = NodeId.Parse("b@h:2");
        var c = NodeId.Parse("c@h:3");
        var bSession = MeshTests.Unconnected(b);
        membership.MarkUp(b, 1, bSession);
        Assert.False(membership.HasQuorum()); // 2 of a required 3, although 2 of 2 is a majority
        membership.MarkUp(c, 1, MeshTests.Unconnected(c));
        Assert.True(membership.HasQuorum());

        var plain = New();
        plain.MarkUp(b, 1, bSession);
        plain.MarkUp(c, 1, MeshTests.Unconnected(c));
        plain.EndSession(b, bSession);
        Assert.False(plain.Remove(c, fromQuorum: true)); // connected: not removable
        Assert.True(plain.Remove(b, fromQuorum: true)); // an operator's forget
        Assert.Equal(2, plain.QuorumBaseSize);
    }

    private static (bool Up, bool NewMember) IsUp((NodeInfo? Up, bool NewMember) result) => (result.Up is not null, result.NewMember);

    private static Membership New(Func<NodeOptions, NodeOptions>? configure = null) =>
        new(s_self, (configure ?? (o => o))(new NodeOptions { Name = "a" }));
}
