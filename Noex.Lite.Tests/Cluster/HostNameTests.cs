using System.Diagnostics;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>Hosts as users write them: names that resolve or not, the IPv6 wildcard, and unresolvable seeds.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class HostNameTests
{
    private const string Secret = "host-name-tests";

    [Fact]
    public async Task Localhost_BindsAndIsDialledByName()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { Host = "localhost" });
        Assert.Equal("localhost", a.Id.Host);
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));

        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
    }

    [Theory]
    [InlineData("no-such-host.invalid", "does not resolve")]
    [InlineData("192.0.2.1", "is not an address of this machine")]
    [InlineData("not_a_host!", "host name may hold only")]
    public async Task Host_ThatCannotBeBound_IsAConfigurationError_NamingTheOption(string host, string reason)
    {
        var e = await Assert.ThrowsAsync<InvalidClusterConfigException>(() => Node.StartAsync(TestNodes.Options("a", Secret) with { Host = host }));

        Assert.Equal(nameof(NodeOptions.Host), e.Option);
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IPv6Wildcard_AcceptsIPv4AndIPv6()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return; // nothing to bind: the IPv4 default is the only wildcard here
        }
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { Host = "::" });
        Assert.Equal("127.0.0.1", a.Id.Host); // a wildcard is not dialable: the id advertises loopback
        await using var viaV4 = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));
        await Wait.UntilAsync(() => viaV4.IsConnected(a.Id));

        using var viaV6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await viaV6.ConnectAsync(System.Net.IPAddress.IPv6Loopback, a.ListenPort).Within();
        Assert.True(viaV6.Connected);
    }

    [Fact]
    public async Task Seed_WhoseNameDoesNotResolve_IsReportedAsSuch_WithinTheConnectDeadline()
    {
        var timeout = TimeSpan.FromSeconds(3);
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { ConnectTimeout = timeout });
        var failures = 0;
        a.HandshakeFailed += _ => Interlocked.Increment(ref failures);
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<NodeNotReachableException>(() => a.DialAsync(NodeId.Parse("b@no-such-host.invalid:4369")).Within());

        Assert.Contains("does not resolve", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < timeout + TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal(0, Volatile.Read(ref failures)); // not a handshake failure: no connection was ever made
    }
}
