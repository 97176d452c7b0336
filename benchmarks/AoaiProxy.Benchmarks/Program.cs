using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Perfolizer.Metrology;

// Run through benchmarks/run.sh (Release). Without arguments every benchmark runs; pass BenchmarkDotNet's own options to
// narrow it, e.g. --filter '*EndToEnd*' or --filter '*HotPath*' '*SharedState*'.
//
// One short job for all: the reference machine has 2 cores and the whole suite should finish in a few minutes.
// One launch, 3 warm-up and 12 measured iterations (each about 0.5 s) per benchmark: enough for the ratios reported in
// docs/benchmarks.md. For tighter error bars on a quiet machine, add --iterationCount 30 (or --job default, much longer).
// "relay-memory [streams]" is not a BenchmarkDotNet run: it measures the heap held by many idle streams (issue 13).
if (args.Length > 0 && args[0] == "relay-memory")
{
    return await AoaiProxy.Benchmarks.RelayMemoryBenchmark.RunAsync(args);
}

// benchmarks/fleet.sh: the shared-state fleet simulation on the real clock (not BenchmarkDotNet).
if (args.Length > 0 && args[0] == "fleet")
{
    return await AoaiProxy.Benchmarks.FleetTable.RunAsync(args[1..]);
}

var config = DefaultConfig.Instance
    .AddJob(Job.Default.WithId("Short").WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(12).AsDefault())
    .AddColumn(StatisticColumn.Median)

    // Allocations in bytes throughout, so that rows compare at a glance (BenchmarkDotNet would mix B and KB).
    .WithSummaryStyle(SummaryStyle.Default.WithSizeUnit(SizeUnit.B));

BenchmarkSwitcher.FromAssembly(typeof(AoaiProxy.Benchmarks.EndToEndBenchmarks).Assembly)
    .Run(args.Length == 0 ? ["--filter", "*"] : args, config);
return 0;
