using AoaiProxy.Tests.TestSupport;
using AoaiProxy.Tests.TestSupport.Simulation;
using Xunit.Abstractions;

namespace AoaiProxy.Tests.State;

/// <summary>
/// A few points of the fleet simulation (benchmarks/fleet.sh runs the whole table on the real clock) in virtual time:
/// K instances with their own SharedState over one store. Asserts counts only (store operations, duplicate turns,
/// local fallbacks, waits, evenness), never timings.
/// </summary>
public sealed class SharedStateFleetTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(8, 1000)]
    [InlineData(100, 3000)]
    public async Task ClaimAsync_ManyInstancesAtSteadyState_SharedDistinctEvenAndCheap(int instances, double rate)
    {
        // Instant store operations: only counts matter here, and the virtual clock moves in 5 ms steps.
        var options = new FleetOptions(instances, rate, Requests: 3000, Warmup: TimeSpan.FromSeconds(5), LatencyMedianMs: 0, LatencyP99Ms: 0);

        var result = await FleetSimulation.RunAsync(options, new ManualTimeProvider());
        output.WriteLine(result.ToString());

        Assert.Equal(0, result.DuplicateTurns);
        Assert.Equal(0, result.LocalShare);
        Assert.Equal(0, result.WaitedShare);
        Assert.InRange(result.StoreOpsPerRequest, 0, 0.05);
        Assert.InRange(result.GlobalMaxMin, 1, 1.02);
        Assert.Equal(0, result.CooldownMissing);
    }

    [Fact]
    public async Task ClaimAsync_FewInstancesSlowTraffic_EachRotationStaysEvenInShortWindows()
    {
        var options = new FleetOptions(2, 50, Requests: 600, Warmup: TimeSpan.FromSeconds(2), LatencyMedianMs: 0, LatencyP99Ms: 0);

        var result = await FleetSimulation.RunAsync(options, new ManualTimeProvider());
        output.WriteLine(result.ToString());

        Assert.Equal(0, result.DuplicateTurns);
        Assert.Equal(0, result.LocalShare);
        Assert.InRange(result.WindowP99MaxMin, 1, 2.0);
        Assert.InRange(result.TurnWindowP99MaxMin, 1, 1.25);
    }
}
