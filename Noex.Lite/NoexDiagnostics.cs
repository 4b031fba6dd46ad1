namespace Noex.Lite;

/// <summary>
/// The names under which a node publishes its telemetry through System.Diagnostics (no package needed to listen):
/// metrics on a <see cref="System.Diagnostics.Metrics.Meter"/>, traces on an
/// <see cref="System.Diagnostics.ActivitySource"/>, and its log on an <see cref="System.Diagnostics.Tracing.EventSource"/>.
/// </summary>
/// <example>
/// <code>
/// services.AddOpenTelemetry()
///     .WithMetrics(m => m.AddMeter(NoexDiagnostics.MeterName))
///     .WithTracing(t => t.AddSource(NoexDiagnostics.ActivitySourceName));
/// </code>
/// </example>
public static class NoexDiagnostics
{
    /// <summary>The meter's name: <c>dotnet-counters monitor --counters Noex.Lite</c>.</summary>
    public const string MeterName = "Noex.Lite";

    /// <summary>The activity source's name, for remote calls, casts and spawns and the handlers they reach.</summary>
    public const string ActivitySourceName = "Noex.Lite";

    /// <summary>The event source's name: <c>dotnet-trace collect --providers Noex.Lite</c>, or an
    /// <see cref="System.Diagnostics.Tracing.EventListener"/>.</summary>
    public const string EventSourceName = "Noex.Lite";
}
