using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Validators;

namespace Noex.Lite.Bench;

/// <summary>The configuration every micro benchmark shares: memory diagnoser, ops/s, ratio to the baseline.</summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        AddJob(Job.ShortRun.WithId("short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.OperationsPerSecond);
        AddValidator(JitOptimizationsValidator.FailOnError);
        WithOptions(ConfigOptions.JoinSummary);
        WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
        Add(DefaultConfig.Instance);
    }
}
