using AoaiProxy.Affinity;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Pipeline;
using AoaiProxy.Planning;
using AoaiProxy.State;

namespace AoaiProxy.Tests.Pipeline;

public class EndingTests
{
    private static readonly DateTimeOffset Now = new(2025, 1, 15, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(nameof(AttemptError.FailureStatus), nameof(ProxyOutcome.BackendsFailed))]
    [InlineData(nameof(AttemptError.Transport), nameof(ProxyOutcome.BackendsFailed))]
    [InlineData(nameof(AttemptError.DeadlineExceeded), nameof(ProxyOutcome.BackendsTimedOut))]
    public void NotReplayed_MayHaveRun_502Or504NamingTheBackend(string error, string expected)
    {
        var answer = Ending.NotReplayed(Backends, new AttemptOutcome(1, Enum.Parse<AttemptError>(error), 500), 1);

        Assert.Equal(Enum.Parse<ProxyOutcome>(expected), answer.Outcome);
        Assert.Contains($"Backend '{Backends[1].Name}'", answer.Message, StringComparison.Ordinal);
        Assert.Contains("not replayed", answer.Message, StringComparison.Ordinal);
        Assert.Null(answer.RetryAfter);
    }

    [Fact]
    public void Exhausted_HolderCoolingForThrottle_429WithItsRemainingWaitNamingIt()
    {
        var cooldowns = new Cooldown?[2];
        cooldowns[1] = new Cooldown(Now.AddSeconds(30), CooldownReason.Throttled);
        var plan = new AttemptPlan([], [1]);

        var answer = Ending.Exhausted(Backends, plan, [], cooldowns, Now, null, candidates: 1, holder: "file-1");

        Assert.Equal(ProxyOutcome.Throttled, answer.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(30), answer.RetryAfter);
        Assert.StartsWith($"Backend '{Backends[1].Name}', which holds object 'file-1', is throttled", answer.Message, StringComparison.Ordinal);
    }

    private static readonly BackendOptions[] Backends =
    [
        new("a", new Uri("https://a.openai.azure.com/"), 1, 1),
        new("b", new Uri("https://b.openai.azure.com/"), 1, 1),
    ];

    public static TheoryData<string, string, string> TwoAttempts => new()
    {
        { nameof(AttemptError.Throttled), nameof(AttemptError.FailureStatus), nameof(ProxyOutcome.Throttled) },
        { nameof(AttemptError.FailureStatus), nameof(AttemptError.Throttled), nameof(ProxyOutcome.Throttled) },
        { nameof(AttemptError.FailureStatus), nameof(AttemptError.Transport), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(AttemptError.NotStarted), nameof(AttemptError.FailureStatus), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(AttemptError.NotStarted), nameof(AttemptError.DeadlineExceeded), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(AttemptError.Throttled), nameof(AttemptError.DeadlineExceeded), nameof(ProxyOutcome.Throttled) },
        { nameof(AttemptError.NoCredential), nameof(AttemptError.FailureStatus), nameof(ProxyOutcome.BackendsFailed) },
    };

    [Theory]
    [MemberData(nameof(TwoAttempts))]
    public void Exhausted_TwoOutcomes_ThrottlingFirstThenFailures(string first, string second, string expected)
    {
        var plan = new AttemptPlan([0, 1], []);
        AttemptOutcome[] outcomes = [new(0, Enum.Parse<AttemptError>(first), 500), new(1, Enum.Parse<AttemptError>(second), 503)];

        var answer = Ending.Exhausted(Backends, plan, outcomes, new Cooldown?[2], Now, "gpt-4o");

        Assert.Equal(Enum.Parse<ProxyOutcome>(expected), answer.Outcome);
    }

    [Fact]
    public void Exhausted_OnlyAttemptPastDeadline_504()
    {
        var answer = Ending.Exhausted(Backends, new AttemptPlan([0, 1], []), [new(0, AttemptError.DeadlineExceeded)], new Cooldown?[2], Now, null);

        Assert.Equal(ProxyOutcome.BackendsTimedOut, answer.Outcome);
        Assert.Equal(1, answer.Attempts);
        Assert.Contains("a: timed out", answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exhausted_PlannedCoolingForThrottling_429WithShortestRemaining()
    {
        Cooldown?[] cooldowns = [new Cooldown(Now.AddSeconds(7.2), CooldownReason.Throttled), new Cooldown(Now.AddSeconds(3), CooldownReason.Throttled)];

        var answer = Ending.Exhausted(Backends, new AttemptPlan([], [0, 1]), [], cooldowns, Now, "gpt-4o");

        Assert.Equal(ProxyOutcome.Throttled, answer.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(3), answer.RetryAfter);
        Assert.Equal(0, answer.Attempts);
        Assert.Contains("every backend is cooling down", answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exhausted_CoolingForTimeoutsAndPanicAttemptPastDeadline_504()
    {
        Cooldown?[] cooldowns = [new Cooldown(Now.AddSeconds(4), CooldownReason.TimedOut), new Cooldown(Now.AddSeconds(5), CooldownReason.TimedOut)];

        var answer = Ending.Exhausted(Backends, new AttemptPlan([0], [0, 1], Panic: true), [new(0, AttemptError.DeadlineExceeded)], cooldowns, Now, null);

        Assert.Equal(ProxyOutcome.BackendsTimedOut, answer.Outcome);
    }

    [Fact]
    public void Exhausted_SkippedAsLateCoolingForThrottling_429()
    {
        Cooldown?[] cooldowns = [null, new Cooldown(Now.AddSeconds(2), CooldownReason.Throttled)];
        AttemptOutcome[] outcomes = [new(0, AttemptError.FailureStatus, 500), new(1, AttemptError.Cooling)];

        var answer = Ending.Exhausted(Backends, new AttemptPlan([0, 1], []), outcomes, cooldowns, Now, "gpt-4o");

        Assert.Equal(ProxyOutcome.Throttled, answer.Outcome);
        Assert.Equal(1, answer.Attempts);
        Assert.Contains("a: 500, b: cooling down", answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exhausted_ExpiredCooldowns_NotCountedNorRetryAfter()
    {
        Cooldown?[] cooldowns = [new Cooldown(Now, CooldownReason.Throttled), null];

        var answer = Ending.Exhausted(Backends, new AttemptPlan([0, 1], [0]), [new(1, AttemptError.FailureStatus, 502)], cooldowns, Now, null);

        Assert.Equal(ProxyOutcome.BackendsFailed, answer.Outcome);
        Assert.Null(answer.RetryAfter);
    }

    public static TheoryData<string, string, bool, string, string> Endings => new()
    {
        // kind of request, the attempts' errors (last one stopped them), Proxy:Replay:StatefulRequests, ending, answer
        { nameof(RequestKind.Inference), "CallerGone", false, nameof(EndingKind.CallerGone), nameof(ProxyOutcome.CallerGone) },
        { nameof(RequestKind.Stateful), "Throttled,CallerGone", false, nameof(EndingKind.CallerGone), nameof(ProxyOutcome.CallerGone) },
        { nameof(RequestKind.Stateful), "FailureStatus500", false, nameof(EndingKind.NotReplayed), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(RequestKind.Stateful), "Transport", false, nameof(EndingKind.NotReplayed), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(RequestKind.Stateful), "Throttled,DeadlineExceeded", false, nameof(EndingKind.NotReplayed), nameof(ProxyOutcome.BackendsTimedOut) },
        { nameof(RequestKind.Stateful), "Throttled,DeadlineWaitingForCaller", false, nameof(EndingKind.NotReplayed), nameof(ProxyOutcome.BackendsTimedOut) },
        { nameof(RequestKind.Stateful), "FailureStatus500", true, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(RequestKind.Stateful), "FailureStatus503,Throttled", false, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.Throttled) },
        { nameof(RequestKind.Stateful), "NotStarted,ObjectNotHeld", false, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(RequestKind.Read), "FailureStatus500", false, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(RequestKind.Inference), "FailureStatus500,DeadlineExceeded", false, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(RequestKind.Inference), "DeadlineExceeded", false, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.BackendsTimedOut) },
        { nameof(RequestKind.Inference), "NoCredential,NoCredential", false, nameof(EndingKind.IdentityUnavailable), nameof(ProxyOutcome.ProxyIdentityUnavailable) },
        { nameof(RequestKind.Inference), "NoCredential,FailureStatus502", false, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.BackendsFailed) },
        { nameof(RequestKind.Inference), "", false, nameof(EndingKind.Exhausted), nameof(ProxyOutcome.Throttled) },
    };

    [Theory]
    [MemberData(nameof(Endings))]
    public void Decide_WhatTheAttemptsDid_OneEnding(string kind, string errors, bool replayStateful, string ending, string answer)
    {
        var outcomes = errors.Split(',', StringSplitOptions.RemoveEmptyEntries).Select((e, i) => Parse(i, e)).ToArray();
        var plan = new AttemptPlan(outcomes.Length == 0 ? [] : [0, 1], outcomes.Length == 0 ? [0, 1] : []);
        Cooldown?[] cooldowns = outcomes.Length == 0
            ? [new Cooldown(Now.AddSeconds(3), CooldownReason.Throttled), new Cooldown(Now.AddSeconds(7), CooldownReason.Throttled)]
            : [null, null];
        var unavailable = BackendCredential.Unavailable("CredentialUnavailableException: no identity", TimeSpan.FromSeconds(5));

        var decided = Ending.Decide(new EndingFacts(Backends, plan, outcomes, cooldowns, Now, "gpt-4o", Enum.Parse<RequestKind>(kind), replayStateful,
            errors.Contains(nameof(AttemptError.NoCredential), StringComparison.Ordinal) ? unavailable : null));

        Assert.Equal(Enum.Parse<EndingKind>(ending), decided.Kind);
        Assert.Equal(Enum.Parse<ProxyOutcome>(answer), decided.Outcome);
        Assert.Equal(outcomes.Count(o => o.Sent), decided.Attempts);
    }

    [Theory]
    [InlineData(nameof(BodyFailureKind.CallerGone), nameof(ProxyOutcome.CallerGone))]
    [InlineData(nameof(BodyFailureKind.Malformed), nameof(ProxyOutcome.BadRequest))]
    [InlineData(nameof(BodyFailureKind.TooLarge), nameof(ProxyOutcome.BodyTooLarge))]
    [InlineData(nameof(BodyFailureKind.Storage), nameof(ProxyOutcome.ProxyFailure))]
    public void Decide_CallersBodyFailedDuringTheAttempts_AnsweredAsThatFailure(string kind, string answer)
    {
        AttemptOutcome[] outcomes = [new(0, AttemptError.Throttled, 429), new(1, AttemptError.CallerBodyFailed)];
        var failure = new BodyFailure(Enum.Parse<BodyFailureKind>(kind), "what the caller is told", "for the log");

        var decided = Ending.Decide(new EndingFacts(Backends, new AttemptPlan([0, 1], []), outcomes, new Cooldown?[2], Now, null,
            RequestKind.Stateful, Body: failure));

        Assert.Equal(EndingKind.BodyFailed, decided.Kind);
        Assert.Equal(Enum.Parse<ProxyOutcome>(answer), decided.Outcome);
        Assert.Equal("what the caller is told", decided.Message);
    }

    [Fact]
    public void Decide_NoTokenForAnyBackend_503WithTheTokensRetryTimeAndItsCause()
    {
        var unavailable = BackendCredential.Unavailable("CredentialUnavailableException: no identity", TimeSpan.FromSeconds(5));
        AttemptOutcome[] outcomes = [new(0, AttemptError.NoCredential), new(1, AttemptError.NoCredential)];

        var decided = Ending.Decide(new EndingFacts(Backends, new AttemptPlan([0, 1], []), outcomes, new Cooldown?[2], Now, null, Unavailable: unavailable));

        Assert.Equal(TimeSpan.FromSeconds(5), decided.RetryAfter);
        Assert.Contains("CredentialUnavailableException: no identity", decided.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_AllCoolingForThrottling_ShortestRemainingCooldownAsRetryAfter()
    {
        Cooldown?[] cooldowns = [new Cooldown(Now.AddSeconds(3), CooldownReason.Throttled), new Cooldown(Now.AddSeconds(7), CooldownReason.Throttled)];

        var decided = Ending.Decide(new EndingFacts(Backends, new AttemptPlan([], [0, 1]), [], cooldowns, Now, "gpt-4o"));

        Assert.Equal(TimeSpan.FromSeconds(3), decided.RetryAfter);
    }

    /// <summary>"FailureStatus500" is that error with that status; the backend alternates 0, 1.</summary>
    private static AttemptOutcome Parse(int index, string text)
    {
        var digits = text.AsSpan().IndexOfAnyInRange('0', '9');
        return digits < 0
            ? new AttemptOutcome(index % 2, Enum.Parse<AttemptError>(text))
            : new AttemptOutcome(index % 2, Enum.Parse<AttemptError>(text[..digits]), int.Parse(text[digits..], System.Globalization.CultureInfo.InvariantCulture));
    }

    public static TheoryData<string, string, double, string, string, double?> Waits => new()
    {
        // each backend's cooldown ("t5": throttled 5 s, "f5": failed 5 s, "-": none), the request's last outcomes,
        // its wait budget in seconds, backends whose window does not reopen, the ending, its RetryAfter in seconds
        { "t3,t7", "", 10, "", nameof(EndingKind.Wait), 3 },
        { "t3,t7", "", 2, "", nameof(EndingKind.Exhausted), 3 },
        { "t3,t7", "", 0, "", nameof(EndingKind.Exhausted), 3 },
        { "t12,t15", "", 10, "", nameof(EndingKind.Exhausted), 12 },
        { "t3,t7", "", 10, "0", nameof(EndingKind.Wait), 7 },
        { "t3,t7", "", 10, "0,1", nameof(EndingKind.Exhausted), 3 },
        // Throttled among the causes: the throttled window is waited for.
        { "t4,-", "Throttled,FailureStatus", 10, "", nameof(EndingKind.Wait), 4 },
        // Failures alone are not waited for.
        { "f4,f4", "", 10, "", nameof(EndingKind.Exhausted), 4 },
        { "-,-", "FailureStatus,Transport", 10, "", nameof(EndingKind.Exhausted), null },
    };

    [Theory]
    [MemberData(nameof(Waits))]
    public void Decide_ThrottledEverywhere_WaitsOnlyForAWindowThatReopensWithinItsBudget(
        string cooldowns, string errors, double budget, string notReopening, string ending, double? retryAfter)
    {
        var cooling = cooldowns.Split(',').Select(c => c == "-" ? (Cooldown?)null
            : new Cooldown(Now.AddSeconds(double.Parse(c[1..], System.Globalization.CultureInfo.InvariantCulture)), c[0] == 't' ? CooldownReason.Throttled : CooldownReason.Failed)).ToArray();
        var outcomes = errors.Split(',', StringSplitOptions.RemoveEmptyEntries).Select((e, i) => new AttemptOutcome(i, Enum.Parse<AttemptError>(e), 500)).ToArray();
        var marks = new bool[2];
        foreach (var i in notReopening.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            marks[int.Parse(i, System.Globalization.CultureInfo.InvariantCulture)] = true;
        }

        var plan = outcomes.Length > 0 ? new AttemptPlan([0, 1], []) : new AttemptPlan([], [.. Enumerable.Range(0, 2).Where(i => cooling[i] is not null)]);
        var decided = Ending.Decide(new EndingFacts(Backends, plan, outcomes, cooling, Now, "gpt-4o", WaitBudget: TimeSpan.FromSeconds(budget), NotReopening: marks));

        Assert.Equal(Enum.Parse<EndingKind>(ending), decided.Kind);
        Assert.Equal(retryAfter is { } r ? TimeSpan.FromSeconds(r) : null, decided.RetryAfter);
    }
}
