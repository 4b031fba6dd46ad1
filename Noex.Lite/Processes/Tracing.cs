using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Noex.Lite;

/// <summary>
/// Distributed tracing and the call metrics of OpenTelemetry's RPC conventions, through System.Diagnostics: a client
/// span around a remote call, cast or spawn, a server span around the handler it reaches (linked by W3C trace context,
/// protocol.md §5.2), and the duration of calls on both sides.
/// </summary>
/// <remarks>
/// Everything here is off while nobody listens: <see cref="Active"/> is one field read, and a message that is not traced
/// carries nothing extra, so the untraced path allocates nothing more than before.
/// </remarks>
internal static class Tracing
{
    public static readonly ActivitySource Source = new(NoexDiagnostics.ActivitySourceName, typeof(Tracing).Assembly.GetName().Version?.ToString());

    // The meter's name is the node's one: a listener or exporter that takes "Noex.Lite" gets these too. (The transport's
    // instruments live in a layer above this one, so this layer has its own Meter object of that name.)
    private static readonly Meter s_meter = new(NoexDiagnostics.MeterName, typeof(Tracing).Assembly.GetName().Version?.ToString());

    /// <summary>OpenTelemetry's <c>rpc.client.call.duration</c>: from a remote call's start to its reply or failure.</summary>
    public static readonly Histogram<double> ClientDuration = s_meter.CreateHistogram<double>("rpc.client.call.duration", "s",
        "Duration of remote calls made by this node, by method, peer and error type.");

    /// <summary>OpenTelemetry's <c>rpc.server.call.duration</c>: from a peer's call arriving to its handler's end.</summary>
    public static readonly Histogram<double> ServerDuration = s_meter.CreateHistogram<double>("rpc.server.call.duration", "s",
        "Duration of calls from other nodes handled here, queueing in the mailbox included, by method and error type.");

    /// <summary>Remote calls made by this node, by outcome (ok, timeout, remote_error, not_reachable, overloaded, canceled).</summary>
    public static readonly Counter<long> Calls = s_meter.CreateCounter<long>("noex.rpc.calls", "{call}", "Remote calls made by this node, by outcome.");

    /// <summary>Whether a span may be started: something listens to <see cref="Source"/>.</summary>
    public static bool Active => Source.HasListeners();

    /// <summary>Whether a client call needs watching: a span or a call metric is wanted.</summary>
    public static bool WatchCalls => Source.HasListeners() || ClientDuration.Enabled || Calls.Enabled;

    /// <summary>
    /// Starts a client span (a call, cast or spawn to <paramref name="peer"/>) as the current activity, with the RPC
    /// attributes; null when nobody listens.
    /// </summary>
    /// <param name="name">The span's name: <c>noex.call</c>, <c>noex.cast</c>, <c>noex.spawn</c>.</param>
    /// <param name="method">OpenTelemetry's <c>rpc.method</c>: call, cast, spawn.</param>
    /// <param name="kind">Client, or Producer for a cast.</param>
    /// <param name="peer">The node it goes to (<c>server.address</c>).</param>
    /// <param name="what">What it addresses there: a process ref or a behaviour name.</param>
    /// <param name="whatTag">The tag naming <paramref name="what"/>.</param>
    public static Activity? StartClient(string name, string method, ActivityKind kind, string peer, string what, string whatTag)
    {
        if (!Active)
        {
            return null;
        }
        var activity = Source.StartActivity(name, kind);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("rpc.system.name", "noex");
            activity.SetTag("rpc.method", method);
            activity.SetTag("server.address", peer);
            activity.SetTag(whatTag, what);
        }
        return activity;
    }

    /// <summary>The context a message sent now should carry: the current activity's, when tracing is on.</summary>
    public static ActivityContext CurrentContext() => Active && Activity.Current is { } current ? current.Context : default;
}

/// <summary>
/// What a traced or timed message carries into the mailbox, in the envelope's reply slot: the caller's trace context,
/// when the message was received (for the server duration), and for a call the sink its reply goes to, which this
/// forwards to. Made only while someone listens; an untraced message carries the sink itself, or nothing.
/// </summary>
internal sealed class TraceParent(IReplySink? sink, ActivityContext context, bool remote, long received) : IReplySink
{
    /// <summary>The sink of the call's reply; null for a cast.</summary>
    public IReplySink? Sink { get; } = sink;

    /// <summary>The caller's span, or default when the message came untraced (then only the duration is recorded).</summary>
    public ActivityContext Context { get; } = context;

    /// <summary>Whether it came from another node (a server span) rather than from this one (an internal span).</summary>
    public bool Remote { get; } = remote;

    /// <summary>When it arrived (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long Received { get; } = received;

    public bool TryComplete(long token, Value reply) => Sink!.TryComplete(token, reply);

    public bool TryFail(long token, Exception error) => Sink!.TryFail(token, error);

    public bool IsPending(long token) => Sink!.IsPending(token);

    /// <summary>Starts the span around the handler, as the current activity; null when nobody listens or nothing is traced.</summary>
    public Activity? StartHandler(ProcessRef process, bool call)
    {
        if (Context == default || !Tracing.Active)
        {
            return null;
        }
        var activity = Tracing.Source.StartActivity(call ? "noex.handle_call" : "noex.handle_cast",
            Remote ? ActivityKind.Server : ActivityKind.Internal, Context);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("rpc.system.name", "noex");
            activity.SetTag("rpc.method", call ? "call" : "cast");
            activity.SetTag("noex.process", process.ToString());
        }
        return activity;
    }

    /// <summary>Ends the handler's span and records the server duration of a remote call.</summary>
    public void EndHandler(Activity? activity, bool call, Exception? error)
    {
        if (activity is not null)
        {
            if (error is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error, error.Message);
                activity.AddException(error);
            }
            activity.Stop();
        }
        if (Remote && call && Tracing.ServerDuration.Enabled)
        {
            var elapsed = Stopwatch.GetElapsedTime(Received).TotalSeconds;
            var system = new KeyValuePair<string, object?>("rpc.system.name", "noex");
            var method = new KeyValuePair<string, object?>("rpc.method", "call");
            if (error is null)
            {
                Tracing.ServerDuration.Record(elapsed, system, method);
            }
            else
            {
                Tracing.ServerDuration.Record(elapsed, system, method, new KeyValuePair<string, object?>("error.type", error.GetType().Name));
            }
        }
    }
}
