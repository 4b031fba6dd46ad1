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

    public TransportStats()
    {
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

    /// <summary>The counts so far: frames sent, frames received, socket writes, socket reads.</summary>
    public (long FramesSent, long FramesReceived, long Sends, long Receives) Snapshot() =>
        (Interlocked.Read(ref _framesSent), Interlocked.Read(ref _framesReceived), Interlocked.Read(ref _sends), Interlocked.Read(ref _receives));

    /// <summary>Prints the work per operation between two snapshots.</summary>
    public static void Print(string scenario, (long FramesSent, long FramesReceived, long Sends, long Receives) before,
        (long FramesSent, long FramesReceived, long Sends, long Receives) after, long ops)
    {
        double Per(long a, long b) => (double)(b - a) / Math.Max(1, ops);
        Console.WriteLine($"  {scenario}: per op {Per(before.FramesSent, after.FramesSent):0.000} frames sent in {Per(before.Sends, after.Sends):0.000} writes, "
            + $"{Per(before.FramesReceived, after.FramesReceived):0.000} frames received in {Per(before.Receives, after.Receives):0.000} reads");
    }

    public void Dispose() => _listener.Dispose();
}
