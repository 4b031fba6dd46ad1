using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Noex.Lite.Testing;

/// <summary>
/// A node in its own OS process, for the tests where a kill -9, a freeze or a restart matters. The program is the
/// caller's: any program whose node speaks <see cref="NodeProcessHost"/>'s lines (it prints <c>READY &lt;id&gt;
/// &lt;incarnation&gt;</c> once its node runs, then what happens, and reads commands from its standard input). Killed on
/// dispose if still alive.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
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

    /// <summary>The node's id, from its <c>READY</c> line.</summary>
    public NodeId Id { get; private set; } = null!;

    /// <summary>The node's incarnation, from its <c>READY</c> line (a restarted node has a new one).</summary>
    public ulong Incarnation { get; private set; }

    /// <summary>The OS process id.</summary>
    public int Pid => _process.Id;

    /// <summary>Every line the process printed so far, in order.</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>The lines with the <see cref="Stopwatch"/> timestamp of their arrival here, in order.</summary>
    public IReadOnlyCollection<TimedLine> TimedLines => _timedLines;

    /// <summary>Starts <c>dotnet <paramref name="assemblyPath"/> <paramref name="args"/></c> and waits until its node is ready.</summary>
    public static Task<NodeProcess> StartDotnetAsync(string assemblyPath, params string[] args) =>
        StartAsync("dotnet", [assemblyPath, .. args]);

    /// <summary>Starts <paramref name="program"/> with <paramref name="args"/> and waits until its node is ready.</summary>
    public static Task<NodeProcess> StartAsync(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return StartAsync(start);
    }

    /// <summary>
    /// Starts the process <paramref name="start"/> describes (its standard input and output are redirected here) and
    /// waits until its node is ready; kills it if it does not get ready. A wrapper such as <c>ip netns exec NS</c> must
    /// exec the node's program in its own process, so that <see cref="Kill"/> and <see cref="Signal"/> reach the node.
    /// </summary>
    public static async Task<NodeProcess> StartAsync(ProcessStartInfo start)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.RedirectStandardOutput = true;
        start.RedirectStandardInput = true;
        start.UseShellExecute = false;
        var node = new NodeProcess(Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start"));
        try
        {
            var ready = await node.WaitForLineAsync(l => l.StartsWith("READY ", StringComparison.Ordinal)).ConfigureAwait(false);
            var parts = ready.Split(' ');
            node.Id = NodeId.Parse(parts[1]);
            node.Incarnation = ulong.Parse(parts[2], CultureInfo.InvariantCulture);
            return node;
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false);
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
                throw new InvalidOperationException($"the node process exited ({_process.ExitCode}) without the line; it said:\n{string.Join('\n', _lines)}");
            }
            await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(500), timeout.Token).ConfigureAwait(false);
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

    /// <summary>Writes a command line to the process's standard input (the commands are the program's own).</summary>
    public async Task SendAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Sends <c>stop</c> (the node leaves gracefully) and waits up to 60 s for the process to exit.</summary>
    public async Task StopAsync()
    {
        await _process.StandardInput.WriteLineAsync("stop").ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
    }

    /// <summary>Kills the process if it is still alive (resuming it first if it was stopped) and waits for it to exit.</summary>
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
        await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        _process.Dispose();
    }
}
