namespace Noex.Lite.Bench.Remote;

/// <summary>
/// One scenario over all rounds of `remote --rounds`: the medians of its figures, and the median and range of its ratio
/// to the raw baseline, each ratio taken within one round.
/// </summary>
/// <remarks>
/// A ratio is only meaningful against the baseline that shared its noise, so every round's figure is first set against
/// that round's baseline and only then aggregated; a median of ratios, not a ratio of medians. Medians, because one
/// stalled round on a shared machine would drag a mean anywhere.
/// </remarks>
public sealed record ScenarioSummary(
    string Scenario,
    int Rounds,
    double OpsPerSecond,
    double P50Micros,
    double P99Micros,
    double AllocBytesPerOp,
    string RawScenario,
    double? VsRaw,
    double? VsRawMin,
    double? VsRawMax,
    double? P50VsRaw)
{
    /// <summary>Summarizes each scenario, in the order scenarios first ran; each inner list is one round's results.</summary>
    public static List<ScenarioSummary> Summarize(IReadOnlyList<IReadOnlyList<ScenarioResult>> rounds) =>
        rounds
            .SelectMany(round => round.Select(r => (Result: r, Reference: Reference(r, round))))
            .GroupBy(x => x.Result.Scenario)
            .Select(scenario =>
            {
                var results = scenario.Select(x => x.Result).ToList();
                var ratios = scenario
                    .Where(x => x.Reference is { OpsPerSecond: > 0 })
                    .Select(x => x.Result.OpsPerSecond / x.Reference!.OpsPerSecond)
                    .ToList();
                // Latency is only comparable one call at a time, so p50 is set against baseline-1 only.
                var p50Ratios = scenario
                    .Where(x => x.Reference is { Outstanding: 1, P50Micros: > 0 } && x.Result.P50Micros > 0)
                    .Select(x => x.Result.P50Micros / x.Reference!.P50Micros)
                    .ToList();
                return new ScenarioSummary(
                    scenario.Key,
                    results.Count,
                    Median(results.Select(r => r.OpsPerSecond)),
                    Median(results.Select(r => r.P50Micros)),
                    Median(results.Select(r => r.P99Micros)),
                    Median(results.Select(r => r.AllocBytesPerOp)),
                    scenario.Select(x => x.Reference?.Scenario).FirstOrDefault(s => s is not null) ?? "",
                    ratios.Count > 0 ? Median(ratios) : null,
                    ratios.Count > 0 ? ratios.Min() : null,
                    ratios.Count > 0 ? ratios.Max() : null,
                    p50Ratios.Count > 0 ? Median(p50Ratios) : null);
            })
            .ToList();

    /// <summary>
    /// The raw scenario a result is set against within its round: one-at-a-time calls against baseline-1; pipelined
    /// calls and casts against the pipelined baseline, the raw rate of same-sized messages with many in flight.
    /// </summary>
    private static ScenarioResult? Reference(ScenarioResult r, IReadOnlyList<ScenarioResult> round) =>
        r.Outstanding == 1 && !r.Scenario.EndsWith("cast", StringComparison.Ordinal)
            ? round.FirstOrDefault(b => b.Scenario == "baseline-1")
            : round.FirstOrDefault(b => b.Scenario.StartsWith("baseline-", StringComparison.Ordinal) && b.Scenario != "baseline-1");

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
