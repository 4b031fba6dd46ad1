using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>
/// A process that records every info message it gets (down and exit notifications), for the monitor and link tests.
/// Casts: "boom" throws (the process crashes with that error); "stop" stops it normally.
/// </summary>
internal sealed class Recorder : GenServer<int>
{
    public ConcurrentQueue<InfoMessage> Infos { get; } = new();

    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<int> HandleCastAsync(Value message, int state) =>
        message.AsString() == "boom" ? throw new InvalidOperationException("boom: the target failed") : new(state);

    protected override ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
    {
        Infos.Enqueue(info);
        return new(state);
    }

    /// <summary>Down notifications for <paramref name="monitor"/>.</summary>
    public InfoMessage[] DownsOf(MonitorRef monitor) => Infos.Where(i => i.Kind == InfoKind.Down && i.Monitor == monitor).ToArray();

    /// <summary>Exit signals from <paramref name="from"/>.</summary>
    public InfoMessage[] ExitsFrom(ProcessRef from) => Infos.Where(i => i.Kind == InfoKind.Exit && i.From == from).ToArray();
}

/// <summary>What the monitor and link tests share: their cluster secret, and ending and starting processes.</summary>
internal static class RemoteSignalNodes
{
    public const string Secret = "signal-tests";

    /// <summary>
    /// Ends <paramref name="target"/> on <paramref name="node"/> the way <paramref name="ending"/> names ("normal", "shutdown",
    /// "killed", anything else a crash) and returns the reason its monitors and links should see.
    /// </summary>
    public static async Task<ExitReason> EndAsync(this Node node, ProcessRef target, string ending)
    {
        switch (ending)
        {
            case "normal":
                await node.Runtime.StopAsync(target);
                return ExitReason.Normal;
            case "shutdown":
                await node.Runtime.StopAsync(target, ExitReason.Shutdown);
                return ExitReason.Shutdown;
            case "killed":
                Assert.True(node.Runtime.Kill(target));
                return ExitReason.Killed;
            default:
                node.Runtime.Cast(target, "boom");
                return ExitReason.Error("boom: the target failed", nameof(InvalidOperationException));
        }
    }

    /// <summary>Starts a recorder and returns it with its ref.</summary>
    public static async Task<(Recorder Server, ProcessRef Ref)> StartRecorderAsync(this Node node, bool trapExit = false)
    {
        var server = new Recorder();
        var pid = await node.Runtime.StartAsync(server, options: new StartOptions { TrapExit = trapExit });
        return (server, pid);
    }
}
