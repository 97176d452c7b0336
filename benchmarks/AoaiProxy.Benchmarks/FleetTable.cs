using System.Globalization;
using AoaiProxy.Tests.TestSupport.Simulation;

namespace AoaiProxy.Benchmarks;

/// <summary>
/// The fleet simulation of the shared state on the real clock (benchmarks/fleet.sh): K instances, each with its own
/// SharedState, over one compare-and-swap store with Azure-Table-like latency, fed by open-loop Poisson arrivals of R
/// claims per second. Prints the issue's table (local share / added p99 / store operations per request) and a second
/// one with duplicates, evenness and cooldown propagation.
/// </summary>
internal static class FleetTable
{
    public static async Task<int> RunAsync(string[] args)
    {
        var instances = List(args, "--instances", "1,2,8,64,100");
        var rates = List(args, "--rates", "50,200,1000,3000");
        var requests = (int)List(args, "--requests", "3000")[0];
        var latency = List(args, "--latency", "8,25");
        var warmup = TimeSpan.FromSeconds(List(args, "--warmup", "5")[0]);
        var results = new List<FleetResult>();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Fleet simulation: store latency p50 {latency[0]} ms / p99 {latency[1]} ms, {requests} measured claims after {warmup.TotalSeconds} s warm-up per cell, {Environment.ProcessorCount} cores"));
        foreach (var k in instances)
        {
            foreach (var r in rates)
            {
                var options = new FleetOptions((int)k, r, requests, warmup, latency[0], latency[1]);
                var result = await FleetSimulation.RunAsync(options);
                results.Add(result);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"K={k,3} R={r,5}: local {result.LocalShare:P1}, waited {result.WaitedShare:P1}, p99 {result.AddedP99Ms:0.00} ms, " +
                    $"{result.StoreOpsPerRequest:0.000} ops/request ({result.StoreOpsPerInstanceSecond:0.00}/instance/s: {result.StoreOpsByKind}), " +
                    $"duplicates {result.DuplicateTurns}, max/min {result.GlobalMaxMin:0.000}, window30 p99 {result.WindowP99MaxMin:0.00} " +
                    $"(turn order {result.TurnWindowP99MaxMin:0.00}), cooldown p99 {result.CooldownP99Ms:0} ms (max {result.CooldownMaxMs:0}, missing {result.CooldownMissing})"));
            }
        }

        Console.WriteLine();
        Console.WriteLine("Served on local state / added p99 ms / store operations per request:");
        Console.WriteLine();
        Console.WriteLine("| K | " + string.Join(" | ", rates.Select(r => $"R = {r:0}")) + " |");
        Console.WriteLine("|---|" + string.Concat(rates.Select(_ => "---|")));
        foreach (var k in instances)
        {
            var row = results.Where(x => x.Options.Instances == (int)k).Select(x =>
                string.Create(CultureInfo.InvariantCulture, $"{x.LocalShare:P1} / {x.AddedP99Ms:0.00} / {x.StoreOpsPerRequest:0.000}"));
            Console.WriteLine($"| {k:0} | " + string.Join(" | ", row) + " |");
        }

        Console.WriteLine();
        Console.WriteLine("Duplicate turns / global max/min / window-30 p99 max/min (arrival order; turn order) / cooldown p99 ms to every instance:");
        Console.WriteLine();
        Console.WriteLine("| K | " + string.Join(" | ", rates.Select(r => $"R = {r:0}")) + " |");
        Console.WriteLine("|---|" + string.Concat(rates.Select(_ => "---|")));
        foreach (var k in instances)
        {
            var row = results.Where(x => x.Options.Instances == (int)k).Select(x =>
                string.Create(CultureInfo.InvariantCulture,
                    $"{x.DuplicateTurns} / {x.GlobalMaxMin:0.000} / {x.WindowP99MaxMin:0.00}; {x.TurnWindowP99MaxMin:0.00} / {x.CooldownP99Ms:0}{(x.CooldownMissing > 0 ? $" ({x.CooldownMissing} missing)" : "")}"));
            Console.WriteLine($"| {k:0} | " + string.Join(" | ", row) + " |");
        }

        return 0;
    }

    private static double[] List(string[] args, string name, string fallback)
    {
        var index = Array.IndexOf(args, name);
        var text = index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
        return text.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    }
}
