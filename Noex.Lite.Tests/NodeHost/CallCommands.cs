using System.Diagnostics;
using System.Globalization;
using Noex.Lite;

/// <summary>
/// NodeHost's part for the network tests: an echo process to call, and calls to another node's process that report what
/// they measured.
/// </summary>
/// <remarks>
/// <c>echo</c> starts a process that answers every call with its request and prints <c>ECHO &lt;process id&gt;</c>.
/// <c>call &lt;tag&gt; &lt;node-id&gt; &lt;process id&gt; &lt;count&gt; &lt;timeout ms&gt;</c> makes that many calls, one after
/// another; <c>flow &lt;tag&gt; &lt;node-id&gt; &lt;process id&gt; &lt;seconds&gt; &lt;timeout ms&gt; &lt;pause ms&gt;</c> makes
/// calls for that long with a pause between them. Both run in the background and end with one line:
/// <c>CALLS &lt;tag&gt; ok=N failed=N hung=N p50_us=N p99_us=N max_us=N errors=Type:N,...</c>, where the latencies are
/// those of the calls that succeeded, a failure is named by its exception type (prefixed <c>untyped:</c> unless it is a
/// <see cref="NoexException"/>), and a call is hung when it has neither completed nor failed ten seconds past its own
/// timeout.
/// </remarks>
internal static class CallCommands
{
    private static readonly TimeSpan s_hangMargin = TimeSpan.FromSeconds(10);

    public static async Task<bool> TryHandleAsync(Node node, string line, TextWriter output)
    {
        var parts = line.Split(' ');
        switch (parts)
        {
            case ["echo"]:
                var echo = await node.Runtime.StartAsync(new Echo());
                output.WriteLine($"ECHO {echo.Id.ToString(CultureInfo.InvariantCulture)}");
                return true;
            case ["call", var tag, var target, var id, var count, var timeout]:
                _ = RunAsync(node, tag, Ref(target, id), Ms(timeout), TimeSpan.Zero, Number(count), TimeSpan.MaxValue, output);
                return true;
            case ["flow", var tag, var target, var id, var seconds, var timeout, var pause]:
                _ = RunAsync(node, tag, Ref(target, id), Ms(timeout), Ms(pause), int.MaxValue, TimeSpan.FromSeconds(Number(seconds)), output);
                return true;
            default:
                return false;
        }
    }

    private static ProcessRef Ref(string node, string id) => new(NodeId.Parse(node).ToString(), long.Parse(id, CultureInfo.InvariantCulture));

    private static int Number(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    private static TimeSpan Ms(string text) => TimeSpan.FromMilliseconds(Number(text));

    private static async Task RunAsync(Node node, string tag, ProcessRef target, TimeSpan timeout, TimeSpan pause, int count, TimeSpan duration, TextWriter output)
    {
        var latencies = new List<double>();
        var errors = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var hung = 0;
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < count && Stopwatch.GetElapsedTime(started) < duration; i++)
        {
            var sent = Stopwatch.GetTimestamp();
            try
            {
                await node.Runtime.CallAsync(target, i, timeout).AsTask().WaitAsync(timeout + s_hangMargin);
                latencies.Add(Stopwatch.GetElapsedTime(sent).TotalMicroseconds);
            }
            catch (TimeoutException)
            {
                hung++;
            }
            catch (Exception e)
            {
                var name = e is NoexException ? e.GetType().Name : "untyped:" + e.GetType().Name;
                errors[name] = errors.GetValueOrDefault(name) + 1;
            }
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause);
            }
        }
        latencies.Sort();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"CALLS {tag} ok={latencies.Count} failed={errors.Values.Sum()} hung={hung} p50_us={Percentile(latencies, 0.50):0} p99_us={Percentile(latencies, 0.99):0} max_us={Percentile(latencies, 1):0} errors={string.Join(',', errors.Select(e => $"{e.Key}:{e.Value}"))}"));
        output.Flush();
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private sealed class Echo : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(request, state));
    }
}
