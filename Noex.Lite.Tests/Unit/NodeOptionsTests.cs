namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class NodeOptionsTests
{
    [Fact]
    public void Default_MatchesTheSeedsClusterConfig()
    {
        var options = NodeOptions.Default;

        Assert.Equal("0.0.0.0", options.Host);
        Assert.Equal(4369, options.Port);
        Assert.Equal(TimeSpan.FromMilliseconds(5000), options.HeartbeatInterval);
        Assert.Equal(3, options.HeartbeatMissThreshold);
        Assert.Equal(TimeSpan.FromMilliseconds(1000), options.ReconnectBaseDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ReconnectMaxDelay);
        Assert.Equal("127.0.0.1", options.EffectiveAdvertisedHost);
    }

    [Fact]
    public void Validate_ValidOptions_ParsesTheSeeds()
    {
        var options = new NodeOptions { Name = "app1", Port = 0, Seeds = ["app2@127.0.0.1:4370", "app3@localhost:4371"] };
        options.Validate();
        var seeds = options.ParseSeeds();

        Assert.Equal([NodeId.Parse("app2@127.0.0.1:4370"), NodeId.Parse("app3@localhost:4371")], seeds);
    }

    public static TheoryData<NodeOptions, string> Invalid => new()
    {
        { new NodeOptions(), nameof(NodeOptions.Name) },
        { new NodeOptions { Name = "1bad" }, nameof(NodeOptions.Name) },
        { new NodeOptions { Name = "a", Port = 70000 }, nameof(NodeOptions.Port) },
        { new NodeOptions { Name = "a", Host = "bad_host" }, nameof(NodeOptions.Host) },
        { new NodeOptions { Name = "a", Host = "bad_host", AdvertisedHost = "10.0.0.1" }, nameof(NodeOptions.Host) },
        { new NodeOptions { Name = "a", SeedPollInterval = TimeSpan.Zero }, nameof(NodeOptions.SeedPollInterval) },
        { new NodeOptions { Name = "a", RemoveUnreachableAfter = TimeSpan.FromMilliseconds(10) }, nameof(NodeOptions.RemoveUnreachableAfter) },
        { new NodeOptions { Name = "a", MaxMembers = 0 }, nameof(NodeOptions.MaxMembers) },
        { new NodeOptions { Name = "a", MaxDialsInFlight = 0 }, nameof(NodeOptions.MaxDialsInFlight) },
        { new NodeOptions { Name = "a", MaxDialsPerSecond = 0 }, nameof(NodeOptions.MaxDialsPerSecond) },
        { new NodeOptions { Name = "a", QuorumSize = 0 }, nameof(NodeOptions.QuorumSize) },
        { new NodeOptions { Name = "a", AdvertisedHost = "300.1.1.1" }, nameof(NodeOptions.AdvertisedHost) },
        { new NodeOptions { Name = "a", HeartbeatInterval = TimeSpan.FromMilliseconds(1) }, nameof(NodeOptions.HeartbeatInterval) },
        { new NodeOptions { Name = "a", HeartbeatMissThreshold = 0 }, nameof(NodeOptions.HeartbeatMissThreshold) },
        { new NodeOptions { Name = "a", ConnectTimeout = TimeSpan.Zero }, nameof(NodeOptions.ConnectTimeout) },
        { new NodeOptions { Name = "a", ReconnectMaxDelay = TimeSpan.FromMilliseconds(10) }, nameof(NodeOptions.ReconnectMaxDelay) },
        { new NodeOptions { Name = "a", ReconnectJitter = 1.5 }, nameof(NodeOptions.ReconnectJitter) },
        { new NodeOptions { Name = "a", MaxFrameLength = 100 }, nameof(NodeOptions.MaxFrameLength) },
        { new NodeOptions { Name = "a", MaxOutboundQueueBytes = 1024 }, nameof(NodeOptions.MaxOutboundQueueBytes) },
        { new NodeOptions { Name = "a", Seeds = ["nope"] }, nameof(NodeOptions.Seeds) },
        { new NodeOptions { Name = "a", MailboxCapacity = -1 }, nameof(NodeOptions.MailboxCapacity) },
        { new NodeOptions { Name = "a", Seeds = ["b@host:4369abc"] }, nameof(NodeOptions.Seeds) },
        { new NodeOptions { Name = "a", TlsServerOptions = new() }, nameof(NodeOptions.TlsClientOptions) },
        { new NodeOptions { Name = "a", UnsafePreferInlineScheduling = true, TlsServerOptions = new(), TlsClientOptions = new() }, nameof(NodeOptions.UnsafePreferInlineScheduling) },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Validate_InvalidOption_ThrowsNamingIt(NodeOptions options, string option)
    {
        var e = Assert.Throws<InvalidClusterConfigException>(() => options.Validate());

        Assert.Equal(option, e.Option);
        Assert.Contains($"NodeOptions.{option}", e.Message, StringComparison.Ordinal);
    }
}
