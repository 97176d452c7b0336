using AoaiProxy.Pipeline;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Pipeline;

public sealed class RequestCancellationTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(210);
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(100);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Token_DeadlinePasses_CancelledAsDeadline()
    {
        using var cancellation = new RequestCancellation(Deadline, _time, CancellationToken.None);

        _time.Advance(Deadline - TimeSpan.FromMilliseconds(1));
        Assert.False(cancellation.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.True(cancellation.Token.IsCancellationRequested);
        Assert.True(cancellation.DeadlinePassed);
        Assert.False(cancellation.IdleTimedOut);
    }

    [Fact]
    public void Token_CallerGoes_CancelledWithoutATimerFlag()
    {
        using var caller = new CancellationTokenSource();
        using var cancellation = new RequestCancellation(Deadline, _time, caller.Token);

        caller.Cancel();

        Assert.True(cancellation.Token.IsCancellationRequested);
        Assert.False(cancellation.DeadlinePassed);
        Assert.False(cancellation.IdleTimedOut);
    }

    [Fact]
    public void StartRelay_DeadlineNoLongerApplies_OnlyAQuietSpellEndsTheRelay()
    {
        using var cancellation = new RequestCancellation(Deadline, _time, CancellationToken.None);
        cancellation.StartRelay(IdleTimeout);

        // Bytes keep moving past the request's deadline: a long stream is not cut.
        for (var i = 0; i < 30; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(10));
            cancellation.Touch();
        }

        Assert.False(cancellation.Token.IsCancellationRequested);

        _time.Advance(IdleTimeout - TimeSpan.FromMilliseconds(1));
        Assert.False(cancellation.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.True(cancellation.Token.IsCancellationRequested);
        Assert.True(cancellation.IdleTimedOut);
        Assert.False(cancellation.DeadlinePassed);
    }

    [Fact]
    public void StartRelay_DeadlineFiredJustBefore_RelayGetsAFreshToken()
    {
        using var caller = new CancellationTokenSource();
        using var cancellation = new RequestCancellation(Deadline, _time, caller.Token);
        _time.Advance(Deadline);
        Assert.True(cancellation.DeadlinePassed);

        cancellation.StartRelay(IdleTimeout);

        Assert.False(cancellation.Token.IsCancellationRequested);
        Assert.False(cancellation.DeadlinePassed);

        // The renewed token still follows the caller.
        caller.Cancel();
        Assert.True(cancellation.Token.IsCancellationRequested);
        Assert.False(cancellation.IdleTimedOut);
    }

    [Fact]
    public void Dispose_TimerDueLater_NothingFiresAfterwards()
    {
        var cancellation = new RequestCancellation(Deadline, _time, CancellationToken.None);
        var token = cancellation.Token;

        cancellation.Dispose();
        _time.Advance(Deadline * 2);

        Assert.False(token.IsCancellationRequested);
        Assert.False(cancellation.DeadlinePassed);
    }
}
