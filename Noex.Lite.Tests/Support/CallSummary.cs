using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>
/// What a NodeHost <c>call</c> or <c>flow</c> command reported: calls that succeeded and their latencies, calls that
/// failed by error type (NoexException subclasses, or <c>untyped:</c> names), and calls that hung past their timeout.
/// </summary>
public sealed record CallSummary(int Ok, int Failed, int Hung, double P50Micros, double P99Micros, double MaxMicros, IReadOnlyDictionary<string, int> Errors)
{
    public int Total => Ok + Failed + Hung;

    /// <summary>Reads <c>CALLS &lt;tag&gt; ok=N failed=N hung=N p50_us=N p99_us=N max_us=N errors=Type:N,...</c>.</summary>
    public static CallSummary Parse(string line)
    {
        var fields = line.Split(' ').Skip(2).Select(f => f.Split('=', 2)).ToDictionary(f => f[0], f => f[1], StringComparer.Ordinal);
        int Int(string key) => int.Parse(fields[key], CultureInfo.InvariantCulture);
        double Micros(string key) => double.Parse(fields[key], CultureInfo.InvariantCulture);
        var errors = fields["errors"].Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split(':') is [.. var type, var count] ? (Type: string.Join(':', type), Count: int.Parse(count, CultureInfo.InvariantCulture)) : throw new FormatException(line))
            .ToDictionary(e => e.Type, e => e.Count, StringComparer.Ordinal);
        return new CallSummary(Int("ok"), Int("failed"), Int("hung"), Micros("p50_us"), Micros("p99_us"), Micros("max_us"), errors);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Ok} ok, {Failed} failed, {Hung} hung; p50 {P50Micros / 1000:0.00} ms, p99 {P99Micros / 1000:0.00} ms, max {MaxMicros / 1000:0.00} ms{(Errors.Count == 0 ? "" : "; " + string.Join(", ", Errors.Select(e => $"{e.Key} x{e.Value}")))}");
}
