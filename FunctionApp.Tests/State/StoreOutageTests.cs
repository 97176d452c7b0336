using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.State;

/// <summary>
/// <see cref="StoreOutage"/>: from a sequence of round outcomes, the log lines (one warning per outage, the recovery,
/// the start-up step), the healthy flag, whether the loop only probes, and the pruning meanwhile.
/// </summary>
public sealed class StoreOutageTests
{
    private const string Store = "test store";

    // Outcomes by letter: R synced after creating the table, S synced, F store failed, T timed out, X table creation
    // failed, RF created the table then failed.
    [Theory]
    [InlineData("R", "12:Information", true)]
    [InlineData("R S S", "12:Information", true)]
    [InlineData("R F F F S", "12:Information 9:Warning 11:Information", true)]
    [InlineData("R T T R", "12:Information 10:Warning 11:Information", true)]
    [InlineData("X X X R", "13:Warning 11:Information", true)]
    [InlineData("X T F", "13:Warning", false)]
    [InlineData("RF", "12:Information 9:Warning", false)]
    [InlineData("R F X T R S F S", "12:Information 9:Warning 11:Information 9:Warning 11:Information", true)]
    public void Record_Outcomes_LogsEachChangeOnceAndEndsHealthyOrNot(string outcomes, string expectedLines, bool healthy)
    {
        var (outage, logs) = Create();

        foreach (var outcome in outcomes.Split(' '))
        {
            outage.Record(Parse(outcome));
        }

        Assert.Equal(expectedLines, string.Join(' ', logs.Entries.Select(e => $"{e.EventId.Id}:{e.Level}")));
        Assert.Equal(healthy, outage.Healthy);
        Assert.Equal(!healthy, outage.InOutage);
    }

    [Theory]
    [InlineData(nameof(SyncResult.StoreFailed), 9, "StateStoreException: table gone (test)")]
    [InlineData(nameof(SyncResult.InitializationFailed), 13, "StateStoreException: table gone (test)")]
    [InlineData(nameof(SyncResult.TimedOut), 10, "within 300 ms")]
    public void Record_FirstFailure_WarningNamesTheStoreAndTheError(string outcome, int eventId, string expected)
    {
        // SyncResult is internal, so a public test method takes its names.
        var result = Enum.Parse<SyncResult>(outcome);
        var (outage, logs) = Create();
        var error = result == SyncResult.TimedOut ? null : new StateStoreException("table gone (test)");

        outage.Record(new SyncOutcome(result, Error: error));

        var line = Assert.Single(logs.WithEventId(eventId));
        Assert.Contains(Store, line.Message, StringComparison.Ordinal);
        Assert.Contains(expected, line.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(SyncResult.StoreFailed), true)]
    [InlineData(nameof(SyncResult.TimedOut), true)]
    [InlineData(nameof(SyncResult.InitializationFailed), true)]
    [InlineData(nameof(SyncResult.Synced), false)]
    public void Record_Outcome_PrunesExpiredCooldownsOnlyWhenTheRoundFailed(string outcome, bool pruned)
    {
        var result = Enum.Parse<SyncResult>(outcome);
        var clock = new ManualTimeProvider();
        var cooldowns = new SharedCooldowns(clock);
        cooldowns.Record("a/*", new Cooldown(clock.GetUtcNow().AddSeconds(1), CooldownReason.Throttled));
        cooldowns.Record("b/*", new Cooldown(clock.GetUtcNow().AddMinutes(1), CooldownReason.Throttled));
        var (outage, _) = Create(clock, cooldowns);
        clock.Advance(TimeSpan.FromSeconds(2));

        outage.Record(new SyncOutcome(result, Error: result == SyncResult.TimedOut ? null : new StateStoreException("down (test)")));

        Assert.Equal(pruned ? "b/*" : "a/* b/*", string.Join(' ', cooldowns.Known.Keys.Order()));
    }

    [Fact]
    public void Record_Recovered_HealthyOnlyOnceTheRecoveryLineIsWritten()
    {
        StoreOutage? outage = null;
        var healthyAtLine = new List<(int EventId, bool Healthy)>();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(new Probe(id => healthyAtLine.Add((id, outage!.Healthy)))));
        outage = new StoreOutage(Store, [], new ProxyOptions(), new ManualTimeProvider(), loggers.CreateLogger<SharedState>());
        outage.Record(new SyncOutcome(SyncResult.StoreFailed, Error: new StateStoreException("down (test)")));

        outage.Record(new SyncOutcome(SyncResult.Synced, Initialized: true));

        // Whoever watches Healthy sees the line of the change already written.
        Assert.Equal([(9, true), (11, false)], healthyAtLine);
        Assert.True(outage.Healthy);
    }

    private static (StoreOutage Outage, LogCapture Logs) Create(ManualTimeProvider? clock = null, params ISharedItem[] items)
    {
        var logs = new LogCapture();
        var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        return (new StoreOutage(Store, items, new ProxyOptions(), clock ?? new ManualTimeProvider(), loggers.CreateLogger<SharedState>()), logs);
    }

    private static SyncOutcome Parse(string outcome) => outcome switch
    {
        "R" => new SyncOutcome(SyncResult.Synced, Initialized: true),
        "S" => new SyncOutcome(SyncResult.Synced),
        "F" => new SyncOutcome(SyncResult.StoreFailed, Error: new StateStoreException("down (test)")),
        "RF" => new SyncOutcome(SyncResult.StoreFailed, Initialized: true, Error: new StateStoreException("down (test)")),
        "T" => new SyncOutcome(SyncResult.TimedOut),
        "X" => new SyncOutcome(SyncResult.InitializationFailed, Error: new StateStoreException("no table (test)")),
        _ => throw new ArgumentException($"unknown outcome {outcome}", nameof(outcome)),
    };

    /// <summary>Calls back at every log line with its event id, to see what was true when it was written.</summary>
    private sealed class Probe(Action<int> onLog) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(onLog);

        public void Dispose()
        {
        }

        private sealed class Logger(Action<int> onLog) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) => onLog(eventId.Id);
        }
    }
}
