using System.Diagnostics.Metrics;

namespace Noex.Lite.Bench.Remote;

/// <summary>
/// Counts the client's transport work per scenario from the Noex.Lite meter (`-- remote --stats`): frames and socket
/// writes and reads, so that batching shows as frames and syscalls per operation. Off by default, because listening
/// turns the instruments on and costs a little.
/// </summary>
public sealed class TransportStats : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _framesSent;
    private long _framesReceived;
    private long _sends;
    private long _receives;

    private readonly int _serverPid;

    /// <param name="serverPid">The server process, whose CPU time is read from /proc (Linux; 0 or elsewhere: not shown).</param>
    public TransportStats(int serverPid = 0)
    {
        _serverPid = serverPid;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Noex.Lite" && instrument.Name is "noex.transport.frames_sent" or "noex.transport.frames_received"
                or "noex.transport.bytes_sent" or "noex.transport.bytes_received")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            switch (instrument.Name)
            {
                case "noex.transport.frames_sent":
                    Interlocked.Add(ref _framesSent, value);
                    break;
                case "noex.transport.frames_received":
                    Interlocked.Add(ref _framesReceived, value);
                    break;
                case "noex.transport.bytes_sent":
                    // One measurement per socket write.
                    Interlocked.Increment(ref _sends);
                    break;
                default:
                    Interlocked.Increment(ref _receives);
                    break;
            }
        });
        _listener.Start();
    }

    /// <summary>The counts so far: frames and socket calls, the CPU time (ms) and the context switches of this process and
    /// of the server process.</summary>
    public Sample Snapshot() =>
        new(Interlocked.Read(ref _framesSent), Interlocked.Read(ref _framesReceived), Interlocked.Read(ref _sends), Interlocked.Read(ref _receives),
            Environment.CpuUsage.TotalTime.TotalMilliseconds, ServerCpuMs(), ContextSwitches(Environment.ProcessId), ContextSwitches(_serverPid));

    /// <summary>Prints the work per operation between two snapshots; CPU time per operation is a steadier figure than
    /// rates on a loaded machine, and context switches show the handoffs between threads (a wake-up and a sleep each).</summary>
    public static void Print(string scenario, Sample before, Sample after, long ops)
    {
        double Per(long a, long b) => (double)(b - a) / Math.Max(1, ops);
        double CpuNs(double a, double b) => (b - a) * 1e6 / Math.Max(1, ops);
        Console.WriteLine($"  {scenario}: per op {Per(before.FramesSent, after.FramesSent):0.00000} frames sent in {Per(before.Sends, after.Sends):0.00000} writes, "
            + $"{Per(before.FramesReceived, after.FramesReceived):0.00000} frames received in {Per(before.Receives, after.Receives):0.00000} reads; "
            + $"CPU {CpuNs(before.ClientCpuMs, after.ClientCpuMs):N0} ns client, {CpuNs(before.ServerCpuMs, after.ServerCpuMs):N0} ns server; "
            + $"context switches {Per(before.ClientSwitches, after.ClientSwitches):0.000} client, {Per(before.ServerSwitches, after.ServerSwitches):0.000} server");
    }

    /// <summary>The context switches, voluntary and not, of the live threads of process <paramref name="pid"/> (Linux /proc;
    /// 0 elsewhere). Threads that ended are not counted: the benchmark's threads live through a scenario.</summary>
    internal static long ContextSwitches(int pid)
    {
        if (pid <= 0 || !Directory.Exists($"/proc/{pid}/task"))
        {
            return 0;
        }
        long total = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        total += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (IOException)
            {
                // The thread ended while we read.
            }
        }
        return total;
    }

    /// <summary>One snapshot of the counters.</summary>
    public readonly record struct Sample(long FramesSent, long FramesReceived, long Sends, long Receives, double ClientCpuMs, double ServerCpuMs,
        long ClientSwitches, long ServerSwitches);

    private double ServerCpuMs()
    {
        // /proc/<pid>/stat: utime and stime are fields 14 and 15 (after the parenthesised command name), in clock ticks.
        try
        {
            var stat = _serverPid > 0 ? File.ReadAllText($"/proc/{_serverPid}/stat") : null;
            if (stat is null)
            {
                return 0;
            }
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (double.Parse(fields[11]) + double.Parse(fields[12])) * 1000 / 100;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    public void Dispose() => _listener.Dispose();
}
