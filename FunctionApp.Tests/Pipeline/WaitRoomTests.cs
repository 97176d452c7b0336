using AoaiProxy.Configuration;
using AoaiProxy.Pipeline;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using AoaiProxy.Throttling;
using Microsoft.Extensions.Logging.Abstractions;

namespace AoaiProxy.Tests.Pipeline;

/// <summary><see cref="WaitRoom"/> over a fake clock: who is released when, to which backend, and how a wait ends otherwise.</summary>
public sealed class WaitRoomTests : IDisposable
{
    private const string Deployment = "gpt-4o";
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);
    private readonly ManualTimeProvider _time = new();
    private readonly ProxyOptions _options = new()
    {
        Backends = [new("a", new Uri("https://a.openai.azure.com/"), 1, 1), new("b", new Uri("https://b.openai.azure.com/"), 1, 1)],
        MaxWaitingRequests = 3,
    };

    private readonly SharedState _state;
    private readonly HeadroomBook _headroom = new();
    private readonly WaitRoom _room;

    public WaitRoomTests()
    {
        _state = SharedStateParts.Create(new InMemoryStateStore(), _options, _time, NullLogger<SharedState>.Instance).View;
        _room = new WaitRoom(_options, _state, _headroom, _time);
    }

    [Fact]
    public async Task WaitAsync_EveryBackendThrottled_ReleasedWhenTheFirstWindowReopens()
    {
        Throttle("a", seconds: 3);
        Throttle("b", seconds: 5);

        var wait = _room.WaitAsync(Deployment, 100, null, Budget, default);
        _time.Advance(TimeSpan.FromSeconds(2.9));
        Assert.False(wait.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        var result = await wait.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(WaitEnd.Released, result.End);
        Assert.Equal(0, result.Backend);
        Assert.Equal(3000, result.Waited.TotalMilliseconds, precision: 0);
        Assert.Equal(0, _room.Count);
    }

    [Fact]
    public async Task WaitAsync_WindowReopensLaterThanTheBudget_TimesOutAtTheBudget()
    {
        Throttle("a", seconds: 30);
        Throttle("b", seconds: 30);

        var wait = _room.WaitAsync(Deployment, 100, null, TimeSpan.FromSeconds(5), default);
        _time.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(WaitEnd.TimedOut, (await wait.WaitAsync(TimeSpan.FromSeconds(5))).End);
    }

    [Fact]
    public async Task WaitAsync_MoreThanMaxWaitingRequests_RefusedAtOnce()
    {
        Throttle("a", seconds: 3);
        Throttle("b", seconds: 3);
        for (var i = 0; i < _options.MaxWaitingRequests; i++)
        {
            _ = _room.WaitAsync(Deployment, 100, null, Budget, default);
        }

        var refused = await _room.WaitAsync(Deployment, 100, null, Budget, default);

        Assert.Equal(WaitEnd.Full, refused.End);
        Assert.Equal(_options.MaxWaitingRequests, _room.Count);
    }

    [Fact]
    public async Task WaitAsync_CallerGoes_DroppedAtOnce()
    {
        Throttle("a", seconds: 3);
        Throttle("b", seconds: 3);
        using var caller = new CancellationTokenSource();

        var wait = _room.WaitAsync(Deployment, 100, null, Budget, caller.Token);
        await caller.CancelAsync();

        Assert.Equal(WaitEnd.CallerGone, (await wait.WaitAsync(TimeSpan.FromSeconds(5))).End);
        Assert.Equal(0, _room.Count);
        Assert.False(_room.HasWaiters(Deployment));
    }

    [Fact]
    public async Task Dispose_RequestsWaiting_AnsweredAsShuttingDownAndNewOnesToo()
    {
        Throttle("a", seconds: 3);
        Throttle("b", seconds: 3);
        var wait = _room.WaitAsync(Deployment, 100, null, Budget, default);

        _room.Dispose();

        Assert.Equal(WaitEnd.ShuttingDown, (await wait.WaitAsync(TimeSpan.FromSeconds(5))).End);
        Assert.Equal(WaitEnd.ShuttingDown, (await _room.WaitAsync(Deployment, 100, null, Budget, default)).End);
    }

    [Fact]
    public async Task WaitAsync_WindowOfKnownSize_HalfOfItReleasedAtOnceInArrivalOrderTheRestAsItReports()
    {
        // A window was seen to hold 10,000 tokens; it reopens with nothing reported yet: 5,000 go at once.
        Learn("a", capacity: 10_000);
        Learn("b", capacity: 10_000);
        Throttle("a", seconds: 3);
        Throttle("b", seconds: 300);
        var waits = Enumerable.Range(0, 3).Select(_ => _room.WaitAsync(Deployment, 2000, [true, false], Budget, default)).ToArray();

        _time.Advance(TimeSpan.FromSeconds(3));
        await Task.WhenAll(waits[0], waits[1]).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(waits[2].IsCompleted);

        // The first answer says the window has 8,000 left after it: the third goes too.
        _headroom.Report("a", Deployment, (await waits[0]).Ticket!.Value, tokens: 8000, requests: null, _time.GetUtcNow().AddSeconds(7), _time.GetUtcNow(), admitted: true);
        _room.Answered(0, Deployment, admitted: true);
        var third = await waits[2].WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(WaitEnd.Released, third.End);
        Assert.True((await waits[0]).Ticket!.Value.Requests < (await waits[1]).Ticket!.Value.Requests);
    }

    [Fact]
    public async Task WaitAsync_WindowBegunOnlyByItsPredictedLength_OneRequestProbesIt()
    {
        // A report's window ended where the window length seen predicts, not where a 429 said: one request finds out.
        Learn("a", capacity: 10_000, until: _time.GetUtcNow().AddSeconds(3));
        var waits = Enumerable.Range(0, 3).Select(_ => _room.WaitAsync(Deployment, 2000, [true, false], Budget, default)).ToArray();
        Throttle("b", seconds: 300);
        _room.Answered(0, Deployment, admitted: true);

        _time.Advance(TimeSpan.FromSeconds(3));

        await waits[0].WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(waits[1].IsCompleted);
        Assert.False(waits[2].IsCompleted);
    }

    [Fact]
    public async Task WaitAsync_WindowThatDidNotReopen_WaitersOfOnlyThatBackendEndedAtOnce()
    {
        Throttle("a", seconds: 3);
        Throttle("b", seconds: 3);
        var wait = _room.WaitAsync(Deployment, 100, [true, false], Budget, default);

        _room.ReleaseRefused(0, Deployment);
        _room.Answered(0, Deployment, admitted: false);

        Assert.Equal(WaitEnd.TimedOut, (await wait.WaitAsync(TimeSpan.FromSeconds(5))).End);
        Assert.Equal([true, false], _room.NotReopening(Deployment)!);
        _room.Answered(0, Deployment, admitted: true);
        Assert.Null(_room.NotReopening(Deployment));
    }

    [Fact]
    public void Backlog_RequestsWaiting_TheirTokensOverAWindowsCapacityInWindows()
    {
        Learn("a", capacity: 5000);
        Learn("b", capacity: 5000);
        Throttle("a", seconds: 60);
        Throttle("b", seconds: 60);
        Assert.Equal(TimeSpan.Zero, _room.Backlog(Deployment));

        for (var i = 0; i < 3; i++)
        {
            _ = _room.WaitAsync(Deployment, 4000, null, Budget, default);
        }

        Assert.Equal(TimeSpan.FromSeconds(20), _room.Backlog(Deployment));
    }

    public void Dispose() => _room.Dispose();

    /// <summary>A 429 of <paramref name="backend"/> to the window's end, as BackendHealth records it.</summary>
    private void Throttle(string backend, double seconds)
    {
        var end = _time.GetUtcNow().AddSeconds(seconds);
        _state.RecordCooldown(CooldownKeys.For(backend, Deployment), new Cooldown(end, CooldownReason.Throttled));
        _headroom.Throttled(backend, Deployment, end, _time.GetUtcNow());
    }

    /// <summary>
    /// A window was seen to hold <paramref name="capacity"/> tokens; with <paramref name="until"/>, a later answer reports it
    /// spent until then (the end the window length seen predicts).
    /// </summary>
    private void Learn(string backend, long capacity, DateTimeOffset? until = null)
    {
        var ticket = _headroom.Send(backend, Deployment, 0);
        _headroom.Report(backend, Deployment, ticket, capacity, null, until ?? _time.GetUtcNow(), _time.GetUtcNow(), admitted: true);
        if (until is { } end)
        {
            var spent = _headroom.Send(backend, Deployment, 0);
            _headroom.Report(backend, Deployment, spent, 0, null, end, _time.GetUtcNow(), admitted: true);
        }
    }
}
