using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace Noex.Lite.Tests;

/// <summary>A node in its own OS process (NodeHost), for kills, freezes and restarts. Killed on dispose if still alive.</summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private static readonly string s_hostPath = typeof(NodeProcess).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NodeHostPath").Value!;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<TimedLine> _timedLines = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private NodeProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _timedLines.Enqueue(new TimedLine(Stopwatch.GetTimestamp(), e.Data));
                _lines.Enqueue(e.Data);
                _lineArrived.Release();
            }
        };
        process.BeginOutputReadLine();
    }

    public NodeId Id { get; private set; } = null!;

    public ulong Incarnation { get; private set; }

    public int Pid => _process.Id;

    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>The lines with the <see cref="Stopwatch"/> timestamp of their arrival here, in order.</summary>
    public IReadOnlyCollection<TimedLine> TimedLines => _timedLines;

    public static Task<NodeProcess> StartAsync(params string[] args) => StartUnderAsync([], args);

    /// <summary>
    /// Starts NodeHost under a command that runs the rest of its command line (<c>ip netns exec NS</c>): the prefix, then
    /// <c>dotnet NodeHost.dll</c> and <paramref name="args"/>. The prefix must exec that command in its own process, so
    /// that <see cref="Kill"/> and <see cref="Signal"/> reach the node. Killed if it does not get ready.
    /// </summary>
    public static async Task<NodeProcess> StartUnderAsync(IReadOnlyList<string> prefix, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(prefix.Count == 0 ? "dotnet" : prefix[0]) { RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var arg in prefix.Skip(1).Concat(prefix.Count == 0 ? [] : ["dotnet"]).Append(s_hostPath).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }
        var node = new NodeProcess(Process.Start(start)!);
        try
        {
            var ready = await node.WaitForLineAsync(l => l.StartsWith("READY ", StringComparison.Ordinal));
            var parts = ready.Split(' ');
            node.Id = NodeId.Parse(parts[1]);
            node.Incarnation = ulong.Parse(parts[2], CultureInfo.InvariantCulture);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits (up to 60 s, for a loaded machine) for a line of output that matches.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var found = _lines.FirstOrDefault(match);
            if (found is not null)
            {
                return found;
            }
            if (_process.HasExited && _lines.FirstOrDefault(match) is null)
            {
                throw new InvalidOperationException($"NodeHost exited ({_process.ExitCode}) without the line; it said:\n{string.Join('\n', _lines)}");
            }
            await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(500), timeout.Token);
        }
    }

    /// <summary>kill -9: the process dies at once and the OS closes its sockets.</summary>
    public void Kill() => _process.Kill();

    /// <summary>Sends a signal by name (STOP, CONT) with the kill command.</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", $"-{name} {_process.Id}");
        kill.WaitForExit();
    }

    /// <summary>Writes a command line to the host's standard input (see NodeHost/Program.cs for the commands).</summary>
    public async Task SendAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
    }

    public async Task StopAsync()
    {
        await _process.StandardInput.WriteLineAsync("stop");
        await _process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                Signal("CONT");
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
            }
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
        _process.Dispose();
    }
}
