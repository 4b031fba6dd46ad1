namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class RegistryTests
{
    [Fact]
    public async Task Register_RunningProcess_WhereisAndLookupFindIt()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe(), 3).Within();

        runtime.Registry.Register("counter", server);

        Assert.Equal(server, runtime.Registry.Whereis("counter"));
        Assert.Equal(server, runtime.Registry.Lookup("counter"));
        Assert.True(runtime.Registry.IsRegistered("counter"));
        Assert.Equal(["counter"], runtime.Registry.Names);
        Assert.Equal(1, runtime.Registry.Count);
        Assert.Equal(3, (await runtime.CallAsync("counter", "get").Within()).AsInt64());
        Assert.True(runtime.Cast("counter", "inc"));
    }

    [Fact]
    public async Task Register_TakenName_ThrowsAlreadyRegisteredNamingTheOwner()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef first = await runtime.StartAsync(new Probe()).Within();
        ProcessRef second = await runtime.StartAsync(new Probe()).Within();
        runtime.Registry.Register("x", first);

        var error = Assert.Throws<AlreadyRegisteredException>(() => runtime.Registry.Register("x", second));

        Assert.Equal("x", error.Name);
        Assert.Equal(first, error.Owner);
        Assert.Contains(first.ToString(), error.Message);
    }

    [Fact]
    public async Task Register_StoppedProcess_ThrowsServerNotRunning()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();
        await runtime.StopAsync(server).Within();

        Assert.Throws<ServerNotRunningException>(() => runtime.Registry.Register("x", server));
        Assert.False(runtime.Registry.IsRegistered("x"));
    }

    [Fact]
    public async Task Lookup_UnknownName_ThrowsNotRegisteredAndWhereisIsNull()
    {
        await using var runtime = new ProcessRuntime();

        var error = Assert.Throws<NotRegisteredException>(() => runtime.Registry.Lookup("ghost"));
        Assert.Equal("ghost", error.Name);
        Assert.Null(runtime.Registry.Whereis("ghost"));
        await Assert.ThrowsAsync<NotRegisteredException>(() => runtime.CallAsync("ghost", "get").AsTask()).Within();
    }

    [Fact]
    public async Task Registry_ProcessEnds_NameIsRemovedAndCanBeTakenAgain()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe(), default, new StartOptions { Name = "svc" }).Within();
        Assert.Equal(server, runtime.Registry.Whereis("svc"));

        runtime.Cast(server, "crash");
        await runtime.WaitForExitAsync(server).Within();

        Assert.Null(runtime.Registry.Whereis("svc"));
        ProcessRef next = await runtime.StartAsync(new Probe(), default, new StartOptions { Name = "svc" }).Within();
        Assert.Equal(next, runtime.Registry.Whereis("svc"));
    }

    [Fact]
    public async Task Unregister_RegisteredName_RemovesItAndTheProcessKeepsRunning()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe(), default, new StartOptions { Name = "svc" }).Within();

        Assert.True(runtime.Registry.Unregister("svc"));
        Assert.False(runtime.Registry.Unregister("svc"));
        runtime.Registry.Register("svc2", server);
        await runtime.StopAsync(server).Within();

        Assert.True(runtime.Registry.Count == 0);
    }

    [Fact]
    public async Task StartAsync_NameTaken_ThrowsWithoutRunningInit()
    {
        await using var runtime = new ProcessRuntime();
        await runtime.StartAsync(new Probe(), default, new StartOptions { Name = "svc" }).Within();
        var log = new List<string>();

        await Assert.ThrowsAsync<AlreadyRegisteredException>(() => runtime.StartAsync(new Probe { Log = log }, default, new StartOptions { Name = "svc" })).Within();

        Assert.Empty(log);
        Assert.Equal(1, runtime.ProcessCount);
    }

    [Fact]
    public async Task Register_RacingWithTheProcessEnding_NeverLeavesAStaleName()
    {
        await using var runtime = new ProcessRuntime();
        for (int i = 0; i < 200; i++)
        {
            ProcessRef server = await runtime.StartAsync(new Probe()).Within();
            Task stop = Task.Run(() => runtime.Kill(server));
            try
            {
                runtime.Registry.Register("race", server);
            }
            catch (ServerNotRunningException)
            {
            }

            await stop.Within();
            await runtime.WaitForExitAsync(server).Within();
            Assert.Null(runtime.Registry.Whereis("race"));
        }
    }
}
