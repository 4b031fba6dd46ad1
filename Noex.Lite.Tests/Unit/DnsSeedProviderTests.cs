using System.Net;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class DnsSeedProviderTests
{
    [Fact]
    public async Task Answer_BecomesBasenameAtIp_OnePerAddress()
    {
        IPAddress[] answer =
        [
            IPAddress.Parse("10.0.0.5"), IPAddress.Parse("10.0.0.5"), IPAddress.Parse("::ffff:10.0.0.6"),
            IPAddress.Parse("fd00::7"), IPAddress.Parse("fe80::1%2"),
        ];
        var provider = new DnsSeedProvider("noex.svc", "app", 4369, (_, _) => Task.FromResult(answer));

        var seeds = await provider.GetSeedsAsync(CancellationToken.None);

        // Duplicates once, a v4-mapped address as IPv4, a scoped link-local address left out (an id cannot hold it).
        Assert.Equal(["app@10.0.0.5:4369", "app@10.0.0.6:4369", "app@fd00::7:4369"], seeds.Select(s => s.ToString()));
    }

    [Fact]
    public async Task NameThatDoesNotResolve_Throws_TheNodeCountsItAndAsksAgain()
    {
        var provider = new DnsSeedProvider("no-such-host.invalid", "app", 4369);

        await Assert.ThrowsAnyAsync<SocketException>(async () => await provider.GetSeedsAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData("", "app", 4369, "hostName")]
    [InlineData("noex.svc", "1app", 4369, "nodeName")]
    [InlineData("noex.svc", "app", 0, "port")]
    public void Constructor_RefusesWhatCannotMakeAnId(string host, string name, int port, string parameter)
    {
        Assert.Equal(parameter, Assert.ThrowsAny<ArgumentException>(() => new DnsSeedProvider(host, name, port)).ParamName);
    }
}
