namespace Noex.Lite.Tests;

/// <summary>
/// Two nodes connected both ways, each behind its own <see cref="FaultProxy"/>: every connection to a node goes through
/// its proxy, so a test can blackhole, pause or reset the link between them. Disposes the nodes, then the proxies.
/// </summary>
internal sealed class ProxiedPair : IAsyncDisposable
{
    private ProxiedPair(FaultProxy proxyA, FaultProxy proxyB)
    {
        ProxyA = proxyA;
        ProxyB = proxyB;
    }

    public Node A { get; private set; } = null!;
    public Node B { get; private set; } = null!;
    public FaultProxy ProxyA { get; }
    public FaultProxy ProxyB { get; }

    /// <summary>
    /// Starts "a" with <c>options("a", [])</c> and "b" with <c>options("b", [a])</c>, each advertising its proxy's port, and
    /// waits until each is connected to the other.
    /// </summary>
    public static async Task<ProxiedPair> StartAsync(Func<string, string[], NodeOptions> options)
    {
        var pair = new ProxiedPair(FaultProxy.Start(), FaultProxy.Start());
        try
        {
            pair.A = await Node.StartAsync(options("a", []) with { AdvertisedPort = pair.ProxyA.Port });
            pair.ProxyA.TargetPort = pair.A.ListenPort;
            pair.B = await Node.StartAsync(options("b", [pair.A.Id.ToString()]) with { AdvertisedPort = pair.ProxyB.Port });
            pair.ProxyB.TargetPort = pair.B.ListenPort;
            await Wait.UntilAsync(() => pair.A.IsConnected(pair.B.Id) && pair.B.IsConnected(pair.A.Id));
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    public void Deconstruct(out Node a, out Node b, out FaultProxy proxyA, out FaultProxy proxyB) =>
        (a, b, proxyA, proxyB) = (A, B, ProxyA, ProxyB);

    public async ValueTask DisposeAsync()
    {
        if (B is not null)
        {
            await B.DisposeAsync();
        }
        if (A is not null)
        {
            await A.DisposeAsync();
        }
        await ProxyB.DisposeAsync();
        await ProxyA.DisposeAsync();
    }
}
