using AoaiProxy.Configuration;
using AoaiProxy.Planning;
using AoaiProxy.State;

namespace AoaiProxy.Tests.Planning;

public class AttemptPlannerTests
{
    private static readonly DateTimeOffset Now = new(2025, 1, 15, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, new[] { 0, 1, 2 })]
    [InlineData(1, new[] { 1, 2, 0 })]
    [InlineData(2, new[] { 2, 0, 1 })]
    [InlineData(3, new[] { 0, 1, 2 })]
    [InlineData(4, new[] { 1, 2, 0 })]
    public void Plan_SingleTierEqualWeights_RotatesByTurnThenFailsOverInOrder(long turn, int[] expected)
    {
        var backends = Equal(3);

        var plan = AttemptPlanner.Plan(backends, NoCooldowns(3), turn, Now);

        Assert.Equal(expected, plan.Attempts);
        Assert.Empty(plan.Cooling);
    }

    [Theory]
    [InlineData(long.MaxValue, 1)]
    [InlineData(long.MaxValue - 1, 0)]
    [InlineData(long.MinValue, 1)]
    [InlineData(long.MinValue + 1, 2)]
    [InlineData(-1, 2)]
    [InlineData(-2, 1)]
    [InlineData(-3, 0)]
    [InlineData(-4, 2)]
    [InlineData(3_000_000_000_000, 0)]
    public void Plan_ExtremeOrNegativeTurn_ValidRotation(long turn, int expectedFirst)
    {
        var plan = AttemptPlanner.Plan(Equal(3), NoCooldowns(3), turn, Now);

        Assert.Equal(expectedFirst, plan.Attempts[0]);
        Assert.Equal([0, 1, 2], plan.Attempts.Order());
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    [InlineData(-1)]
    [InlineData(-7)]
    [InlineData(-1_000_000_007)]
    public void Plan_ExtremeOrNegativeTurnWithWeights_ValidRotation(long turn)
    {
        var backends = Weighted((1, 5), (1, 1), (1, 1), (2, 3), (2, 2));

        var plan = AttemptPlanner.Plan(backends, NoCooldowns(5), turn, Now);

        Assert.Equal([0, 1, 2], plan.Attempts.Take(3).Order());
        Assert.Equal([3, 4], plan.Attempts.Skip(3).Order());
    }

    [Fact]
    public void Plan_NegativeTurns_RotateAcrossZero()
    {
        var firsts = FirstAttempts(Equal(3), NoCooldowns(3), -6, 7);

        Assert.Equal([0, 1, 2, 0, 1, 2, 0], firsts);
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(3, 0)]
    [InlineData(4, 2)]
    [InlineData(5, 4)]
    public void Plan_OneCooling_OthersShareFirstAttemptsEvenly(int count, int coolingIndex)
    {
        var cooldowns = NoCooldowns(count);
        cooldowns[coolingIndex] = new Cooldown(Now.AddSeconds(30), CooldownReason.Throttled);
        var turns = 60 * (count - 1);

        var firsts = FirstAttempts(Equal(count), cooldowns, 0, turns);

        for (var i = 0; i < count; i++)
        {
            Assert.Equal(i == coolingIndex ? 0 : turns / (count - 1), firsts.Count(f => f == i));
        }

        var plan = AttemptPlanner.Plan(Equal(count), cooldowns, 0, Now);
        Assert.Equal([coolingIndex], plan.Cooling);
        Assert.DoesNotContain(coolingIndex, plan.Attempts);
        Assert.Equal(count - 1, plan.Attempts.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(17)]
    public void Plan_TwoTiers_BetterTierFirstThenWorseTier(long turn)
    {
        // Configured out of order on purpose: tiers follow Priority, not position.
        var backends = Weighted((2, 1), (1, 1), (2, 1), (1, 1));

        var plan = AttemptPlanner.Plan(backends, NoCooldowns(4), turn, Now);

        Assert.Equal([1, 3], plan.Attempts.Take(2).Order());
        Assert.Equal([0, 2], plan.Attempts.Skip(2).Order());
    }

    [Fact]
    public void Plan_TwoTiers_WorseTierNeverFirstWhileBetterTierHasOneAvailable()
    {
        var backends = Weighted((1, 1), (1, 1), (2, 1), (2, 1));
        var cooldowns = NoCooldowns(4);
        cooldowns[0] = new Cooldown(Now.AddSeconds(5), CooldownReason.Failed);

        var firsts = FirstAttempts(backends, cooldowns, 0, 20);

        Assert.All(firsts, f => Assert.Equal(1, f));
    }

    [Fact]
    public void Plan_WholeBetterTierCooling_WorseTierServesAndRotates()
    {
        var backends = Weighted((1, 1), (1, 1), (2, 1), (2, 1));
        var cooldowns = NoCooldowns(4);
        cooldowns[0] = new Cooldown(Now.AddSeconds(5), CooldownReason.Throttled);
        cooldowns[1] = new Cooldown(Now.AddSeconds(9), CooldownReason.Failed);

        var firsts = FirstAttempts(backends, cooldowns, 0, 4);
        var plan = AttemptPlanner.Plan(backends, cooldowns, 0, Now);

        Assert.Equal([2, 3, 2, 3], firsts);
        Assert.Equal([0, 1], plan.Cooling);
        Assert.Equal([2, 3], plan.Attempts);
    }

    [Fact]
    public void Plan_ThreeTiers_EachTierRotatesByTheSameTurn()
    {
        var backends = Weighted((3, 1), (3, 1), (1, 1), (1, 1), (2, 1), (2, 1));

        var plan = AttemptPlanner.Plan(backends, NoCooldowns(6), 1, Now);

        Assert.Equal([3, 2, 5, 4, 1, 0], plan.Attempts);
    }

    [Fact]
    public void Plan_Weights2To1_TwoThirdsAndOneThirdOfFirstAttempts()
    {
        var backends = Weighted((1, 2), (1, 1));

        var firsts = FirstAttempts(backends, NoCooldowns(2), 0, 300);

        Assert.Equal(200, firsts.Count(f => f == 0));
        Assert.Equal(100, firsts.Count(f => f == 1));
        Assert.Equal([0, 1, 0], firsts.Take(3));
    }

    [Fact]
    public void Plan_Weights5To1To1_SmoothlyInterleaved()
    {
        var backends = Weighted((1, 5), (1, 1), (1, 1));

        var firsts = FirstAttempts(backends, NoCooldowns(3), 0, 14);

        Assert.Equal([0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0], firsts);
    }

    [Theory]
    [InlineData(0, new[] { 0, 1, 2 })]
    [InlineData(2, new[] { 1, 0, 2 })]
    [InlineData(4, new[] { 2, 0, 1 })]
    [InlineData(5, new[] { 0, 1, 2 })]
    public void Plan_WeightedTier_FailoverContinuesAlongTheSequenceEachOnce(long turn, int[] expected)
    {
        // Sequence for 5:1:1 is 0,0,1,0,2,0,0.
        var backends = Weighted((1, 5), (1, 1), (1, 1));

        var plan = AttemptPlanner.Plan(backends, NoCooldowns(3), turn, Now);

        Assert.Equal(expected, plan.Attempts);
    }

    public static TheoryData<int[], int[], int[]> Configurations => new()
    {
        // priorities, weights, cooling backends (by index)
        { [1], [1], [] },
        { [1, 1, 1], [1, 1, 1], [] },
        { [1, 1, 1], [3, 1, 2], [1] },
        { [1, 2, 1, 2, 3], [5, 1, 1, 7, 2], [] },
        { [1, 2, 1, 2, 3], [5, 1, 1, 7, 2], [0, 2] },
        { [0, 0, 1000], [100, 1, 50], [2] },
        { [1, 1, 1, 1], [2, 2, 2, 2], [0, 1, 2] },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Plan_AnyConfiguration_EveryBackendOnceInAttemptsOrCooling(int[] priorities, int[] weights, int[] coolingIndices)
    {
        var backends = Weighted([.. priorities.Zip(weights)]);
        var cooldowns = NoCooldowns(backends.Count);
        foreach (var i in coolingIndices)
        {
            cooldowns[i] = new Cooldown(Now.AddMinutes(1), CooldownReason.Throttled);
        }

        for (var turn = -20L; turn < 120; turn++)
        {
            var plan = AttemptPlanner.Plan(backends, cooldowns, turn, Now);

            Assert.Equal(plan.Attempts.Count, plan.Attempts.Distinct().Count());
            Assert.Equal(coolingIndices, plan.Cooling);
            Assert.Equal(Enumerable.Range(0, backends.Count), plan.Attempts.Concat(plan.Cooling).Order());
            Assert.Equal(plan.Attempts.Select(a => backends[a].Priority).Order(), plan.Attempts.Select(a => backends[a].Priority));
        }
    }

    [Theory]
    [InlineData(new[] { "Failed", "Failed", "Failed" }, new[] { 9, 3, 7 }, 1)]
    [InlineData(new[] { "TimedOut", "Failed" }, new[] { 4, 4 }, 0)]
    [InlineData(new[] { "Failed" }, new[] { 30 }, 0)]
    public void Plan_AllCoolingForFailures_PanicTriesTheOneEndingFirst(string[] reasons, int[] seconds, int expected)
    {
        var cooldowns = reasons.Select((r, i) => (Cooldown?)new Cooldown(Now.AddSeconds(seconds[i]), Enum.Parse<CooldownReason>(r))).ToArray();

        var plan = AttemptPlanner.Plan(Equal(reasons.Length), cooldowns, 5, Now);

        Assert.True(plan.Panic);
        Assert.Equal([expected], plan.Attempts);
        Assert.Equal(Enumerable.Range(0, reasons.Length), plan.Cooling);
    }

    [Fact]
    public void Plan_AllCoolingOneForThrottling_NoPanic()
    {
        Cooldown?[] cooldowns = [new Cooldown(Now.AddSeconds(5), CooldownReason.Failed), new Cooldown(Now.AddSeconds(9), CooldownReason.Throttled)];

        var plan = AttemptPlanner.Plan(Equal(2), cooldowns, 0, Now);

        Assert.False(plan.Panic);
        Assert.Empty(plan.Attempts);
    }

    [Fact]
    public void Plan_SomeAvailable_NoPanic()
    {
        Cooldown?[] cooldowns = [new Cooldown(Now.AddSeconds(5), CooldownReason.Failed), null];

        var plan = AttemptPlanner.Plan(Equal(2), cooldowns, 0, Now);

        Assert.False(plan.Panic);
        Assert.Equal([1], plan.Attempts);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Plan_AllCooling_NoAttemptsAndAllCooling(int count)
    {
        var cooldowns = Enumerable.Range(0, count).Select(i => (Cooldown?)new Cooldown(Now.AddSeconds(i + 1), CooldownReason.Throttled)).ToArray();

        var plan = AttemptPlanner.Plan(Equal(count), cooldowns, 5, Now);

        Assert.Empty(plan.Attempts);
        Assert.Equal(Enumerable.Range(0, count), plan.Cooling);
    }

    [Theory]
    [InlineData(-3_600_000_000, false)]
    [InlineData(-1, false)]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(600_000_000, true)]
    public void Plan_CooldownDeadline_CoolingOnlyWhileInTheFuture(long untilMinusNowTicks, bool cooling)
    {
        var cooldowns = NoCooldowns(2);
        cooldowns[1] = new Cooldown(Now.AddTicks(untilMinusNowTicks), CooldownReason.Failed);

        var plan = AttemptPlanner.Plan(Equal(2), cooldowns, 1, Now);

        Assert.Equal(cooling, plan.Cooling.Contains(1));
        Assert.Equal(!cooling, plan.Attempts.Contains(1));
    }

    [Fact]
    public void Plan_NoBackends_EmptyPlan()
    {
        var plan = AttemptPlanner.Plan([], [], 0, Now);

        Assert.Empty(plan.Attempts);
        Assert.Empty(plan.Cooling);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void Plan_CooldownSlotsMismatch_Throws(int slots)
    {
        Assert.Throws<ArgumentException>(() => AttemptPlanner.Plan(Equal(3), NoCooldowns(slots), 0, Now));
    }

    [Theory]
    [InlineData(new[] { 1, 1, 1 }, new[] { 0, 1, 2 })]
    [InlineData(new[] { 4, 4 }, new[] { 0, 1 })]
    [InlineData(new[] { 2, 1 }, new[] { 0, 1, 0 })]
    [InlineData(new[] { 1, 2 }, new[] { 1, 0, 1 })]
    [InlineData(new[] { 5, 1, 1 }, new[] { 0, 0, 1, 0, 2, 0, 0 })]
    [InlineData(new[] { 3, 2 }, new[] { 0, 1, 0, 1, 0 })]
    [InlineData(new[] { 1, 1, 2 }, new[] { 2, 0, 1, 2 })]
    public void WeightedSequence_Weights_SmoothAndProportional(int[] weights, int[] expected)
    {
        var backends = Weighted([.. weights.Select(w => (1, w))]);

        var sequence = AttemptPlanner.WeightedSequence(backends, [.. Enumerable.Range(0, weights.Length)]);

        Assert.Equal(expected, sequence);
    }

    [Fact]
    public void WeightedSequence_TierSubset_UsesConfiguredIndices()
    {
        var backends = Weighted((1, 9), (1, 2), (2, 9), (1, 1));

        var sequence = AttemptPlanner.WeightedSequence(backends, [1, 3]);

        Assert.Equal([1, 3, 1], sequence);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void Plan_SomeNotEligible_LeftOutEntirelyAndOthersRotate(long turn)
    {
        var backends = Equal(4);
        var cooldowns = NoCooldowns(4);
        cooldowns[3] = new Cooldown(Now.AddSeconds(10), CooldownReason.Throttled);

        var plan = AttemptPlanner.Plan(backends, cooldowns, turn, Now, [false, true, true, false]);

        Assert.Equal(turn % 2 == 0 ? [1, 2] : [2, 1], plan.Attempts);
        Assert.Empty(plan.Cooling);
    }

    [Fact]
    public void Plan_OnlyEligibleCooling_NoAttemptsAndItIsCooling()
    {
        var cooldowns = NoCooldowns(3);
        cooldowns[1] = new Cooldown(Now.AddSeconds(10), CooldownReason.Throttled);

        var plan = AttemptPlanner.Plan(Equal(3), cooldowns, 0, Now, [false, true, false]);

        Assert.Empty(plan.Attempts);
        Assert.Equal([1], plan.Cooling);
    }

    [Theory]
    // strained backends (their last report says the request does not fit), turn, the plan
    [InlineData("1", 0, new[] { 0, 2, 1 })]
    [InlineData("1", 1, new[] { 2, 0, 1 })]
    [InlineData("0,2", 0, new[] { 1, 0, 2 })]
    [InlineData("0,2", 1, new[] { 1, 2, 0 })]
    [InlineData("0,1,2", 1, new[] { 1, 2, 0 })]
    public void Plan_StrainedBackends_TriedAfterEveryOtherAvailableOneNeverLeftOut(string strained, long turn, int[] expected)
    {
        var marks = new bool[3];
        foreach (var i in strained.Split(','))
        {
            marks[int.Parse(i, System.Globalization.CultureInfo.InvariantCulture)] = true;
        }

        var plan = AttemptPlanner.Plan(Equal(3), NoCooldowns(3), turn, Now, strained: marks);

        Assert.Equal(expected, plan.Attempts);
        Assert.Empty(plan.Cooling);
    }

    [Fact]
    public void Plan_StrainedInTheBestTier_AfterTheWorseTiersOpenOnes()
    {
        var backends = Weighted((1, 1), (1, 1), (2, 1));

        var plan = AttemptPlanner.Plan(backends, NoCooldowns(3), 0, Now, strained: [true, false, false]);

        Assert.Equal([1, 2, 0], plan.Attempts);
    }

    [Fact]
    public void Plan_StrainedAndCooling_CoolingLeftOutStrainedLast()
    {
        var cooldowns = NoCooldowns(3);
        cooldowns[2] = new Cooldown(Now.AddSeconds(5), CooldownReason.Throttled);

        var plan = AttemptPlanner.Plan(Equal(3), cooldowns, 0, Now, strained: [true, false, false]);

        Assert.Equal([1, 0], plan.Attempts);
        Assert.Equal([2], plan.Cooling);
    }

    private static List<BackendOptions> Equal(int count) => Weighted([.. Enumerable.Repeat((1, 1), count)]);

    private static List<BackendOptions> Weighted(params (int Priority, int Weight)[] specs) =>
        [.. specs.Select((s, i) => new BackendOptions($"b{i}", new Uri($"https://b{i}.openai.azure.com/"), s.Priority, s.Weight))];

    private static Cooldown?[] NoCooldowns(int count) => new Cooldown?[count];

    private static List<int> FirstAttempts(List<BackendOptions> backends, Cooldown?[] cooldowns, long firstTurn, int turns) =>
        [.. Enumerable.Range(0, turns).Select(t => AttemptPlanner.Plan(backends, cooldowns, firstTurn + t, Now).Attempts[0])];
}
