using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Noex.Lite.Tests;

/// <summary>One measurement of an instrument of the library's meter, with its tags.</summary>
internal sealed record Measured(string Instrument, long Value, IReadOnlyDictionary<string, string?> Tags)
{
    /// <summary>Whether every one of <paramref name="tags"/> (key, value) is among the measurement's.</summary>
    public bool Has(params (string Key, string Value)[] tags) => tags.All(t => Tags.TryGetValue(t.Key, out var v) && v == t.Value);
}

/// <summary>
/// A real <see cref="MeterListener"/> on the library's meter (<see cref="NoexDiagnostics.MeterName"/>), as dotnet-counters
/// or OpenTelemetry attaches: it records every measurement of its instruments from its creation until it is disposed.
/// Instruments are process-wide, so nodes of other test classes may add to the counters; tests compare what their own
/// action added (<see cref="Sum"/> before and after), and read gauges by the <c>node</c> tag.
/// </summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measured> _measurements = new();

    public MetricRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == NoexDiagnostics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>The total of <paramref name="instrument"/>'s measurements so far that carry <paramref name="tags"/>.</summary>
    public long Sum(string instrument, params (string Key, string Value)[] tags) =>
        _measurements.Where(m => m.Instrument == instrument && m.Has(tags)).Sum(m => m.Value);

    /// <summary>
    /// Reads the observable instruments now and returns <paramref name="instrument"/>'s reading for <paramref name="node"/>
    /// (its <c>node</c> tag), or null if it reported none.
    /// </summary>
    public long? Read(string instrument, Node node) =>
        Collect().LastOrDefault(m => m.Instrument == instrument && m.Has(("node", node.Id.ToString())))?.Value;

    /// <summary>Reads the observable instruments now and returns <paramref name="instrument"/>'s reading, or null.</summary>
    public long? Read(string instrument) => Collect().LastOrDefault(m => m.Instrument == instrument)?.Value;

    /// <summary>What one reading of the observable instruments reported (and whatever counters added meanwhile).</summary>
    private List<Measured> Collect()
    {
        var seen = _measurements.Count;
        _listener.RecordObservableInstruments();
        return [.. _measurements.Skip(seen)];
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value?.ToString();
        }
        _measurements.Enqueue(new Measured(instrument.Name, value, copy));
    }
}
