using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>One event of the library's event source, as a listener received it.</summary>
/// <param name="Id">The event id.</param>
/// <param name="Name">The event name.</param>
/// <param name="Level">Its level.</param>
/// <param name="Fields">Its payload by field name.</param>
internal sealed record LogEvent(int Id, string Name, EventLevel Level, IReadOnlyDictionary<string, object?> Fields)
{
    /// <summary>A field as text (numbers and booleans in the invariant culture).</summary>
    public string this[string field] => Convert.ToString(Fields[field], CultureInfo.InvariantCulture) ?? "";

    public override string ToString() => $"{Id} {Name} {Level}: {string.Join(", ", Fields.Select(f => $"{f.Key}={f.Value}"))}";
}

/// <summary>
/// A real <see cref="EventListener"/> on the library's event source (<see cref="NoexDiagnostics.EventSourceName"/>), as
/// dotnet-trace or a logging bridge attaches: it records every event at <c>level</c> or more severe, from its creation
/// until it is disposed. Every event names the node that wrote it, so a test reads its own nodes' (<see cref="Of(Node)"/>)
/// while nodes of other classes log alongside.
/// </summary>
internal sealed class LogRecorder : EventListener
{
    private readonly ConcurrentQueue<LogEvent> _events = new();
    private readonly EventLevel _level;
    private EventSource? _source;
    private bool _constructed;

    public LogRecorder(EventLevel level = EventLevel.Verbose)
    {
        _level = level;
        _constructed = true;
        // The base constructor announced the sources that exist already, before _level was set: enable it now.
        if (_source is { } source)
        {
            EnableEvents(source, _level);
        }
    }

    /// <summary>The events <paramref name="node"/> wrote, in order.</summary>
    public IReadOnlyList<LogEvent> Of(Node node) => [.. _events.Where(e => e.Fields.TryGetValue("node", out var n) && (string?)n == node.Id.ToString())];

    /// <summary>The events <paramref name="node"/> wrote with id <paramref name="id"/>, in order.</summary>
    public IReadOnlyList<LogEvent> Of(Node node, int id) => [.. Of(node).Where(e => e.Id == id)];

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == NoexDiagnostics.EventSourceName)
        {
            _source = eventSource;
            if (_constructed)
            {
                EnableEvents(eventSource, _level);
            }
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        var fields = new Dictionary<string, object?>(StringComparer.Ordinal);
        for (var i = 0; i < (eventData.PayloadNames?.Count ?? 0); i++)
        {
            fields[eventData.PayloadNames![i]] = eventData.Payload![i];
        }
        _events.Enqueue(new LogEvent(eventData.EventId, eventData.EventName ?? "", eventData.Level, fields));
    }
}
