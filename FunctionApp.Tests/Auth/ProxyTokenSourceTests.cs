using AoaiProxy.Auth;
using AoaiProxy.Tests.TestSupport;
using Azure.Identity;
using Microsoft.Extensions.Logging.Abstractions;

namespace AoaiProxy.Tests.Auth;

public sealed class ProxyTokenSourceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<double, double, double?, double> RefreshTimes() => new()
    {
        // lifetime minutes, refreshOn minutes (or none), expected refresh at minutes after fetch
        { 60, 0, null, 55 },
        { 90, 0, null, 85 },
        { 10, 0, null, 5 },
        { 8, 0, null, 4 },
        { 2, 0, null, 1 },
        { 60, 0, 30, 30 },
        { 60, 0, 58, 55 },
        { 60, 0, -1, 55 },
    };

    [Theory]
    [MemberData(nameof(RefreshTimes))]
    public void RefreshAt_Lifetime_FiveMinutesAheadOrHalfLifeOrIssuerHint(double lifetime, double fetchedAt, double? refreshOn, double expected)
    {
        var fetched = T0 + TimeSpan.FromMinutes(fetchedAt);
        var at = TokenRefreshPolicy.RefreshAt(fetched, fetched + TimeSpan.FromMinutes(lifetime), refreshOn is { } r ? fetched + TimeSpan.FromMinutes(r) : null);

        Assert.Equal(fetched + TimeSpan.FromMinutes(expected), at);
    }

    [Theory]
    [InlineData(-60, true)]
    [InlineData(-31, true)]
    [InlineData(-30, false)]
    [InlineData(0, false)]
    [InlineData(10, false)]
    public void IsUsable_SecondsBeforeExpiry_FalseWithinThirtySeconds(double secondsFromExpiry, bool expected)
    {
        Assert.Equal(expected, TokenRefreshPolicy.IsUsable(T0 + TimeSpan.FromSeconds(secondsFromExpiry), T0));
    }

    [Fact]
    public async Task GetAsync_ManyConcurrentCallers_OneFetchSharedByAll()
    {
        var clock = new ManualTimeProvider(T0);
        var credential = new FakeTokenCredential(clock) { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var source = new ProxyTokenSource(credential, clock, NullLogger<ProxyTokenSource>.Instance);

        var waiting = Enumerable.Range(0, 50).Select(_ => source.GetAsync(CancellationToken.None).AsTask()).ToList();
        credential.Gate.SetResult();
        var results = await Task.WhenAll(waiting);

        Assert.Equal(1, credential.Calls);
        Assert.All(results, r => Assert.Equal(BackendCredential.Bearer(credential.TokenOf(1)), r));
        Assert.Equal(["https://cognitiveservices.azure.com/.default"], credential.Scopes);
    }

    [Fact]
    public async Task GetAsync_UntilNearExpiry_ReusesTheTokenThenRefreshesOnceAhead()
    {
        var clock = new ManualTimeProvider(T0);
        var credential = new FakeTokenCredential(clock) { Lifetime = TimeSpan.FromMinutes(60) };
        var source = new ProxyTokenSource(credential, clock, NullLogger<ProxyTokenSource>.Instance);

        for (var minute = 0; minute < 55; minute++)
        {
            Assert.Equal(credential.TokenOf(1), (await source.GetAsync(CancellationToken.None)).Secret);
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(1, credential.Calls);

        // 55 minutes in: this request still goes out with the current token while the refresh runs (in the background; the
        // fake credential answers at once, so it has completed when GetAsync returns).
        Assert.Equal(credential.TokenOf(1), (await source.GetAsync(CancellationToken.None)).Secret);
        Assert.Equal(2, credential.Calls);
        Assert.Equal(credential.TokenOf(2), (await source.GetAsync(CancellationToken.None)).Secret);
        for (var i = 0; i < 20; i++)
        {
            await source.GetAsync(CancellationToken.None);
        }

        Assert.Equal(2, credential.Calls);
    }

    [Fact]
    public async Task GetAsync_ExpiredWithoutRefresh_WaitsForAFreshToken()
    {
        var clock = new ManualTimeProvider(T0);
        var credential = new FakeTokenCredential(clock) { Lifetime = TimeSpan.FromMinutes(60) };
        var source = new ProxyTokenSource(credential, clock, NullLogger<ProxyTokenSource>.Instance);
        await source.GetAsync(CancellationToken.None);

        clock.Advance(TimeSpan.FromMinutes(61));
        var after = await source.GetAsync(CancellationToken.None);

        Assert.Equal(credential.TokenOf(2), after.Secret);
    }

    [Fact]
    public async Task GetAsync_CredentialFails_UnavailableNamingTheCauseAndNoFetchPerRequestUntilRetry()
    {
        var clock = new ManualTimeProvider(T0);
        var credential = new FakeTokenCredential(clock)
        {
            Failure = new CredentialUnavailableException("ManagedIdentityCredential authentication unavailable. No response from the endpoint.\nSee the troubleshooting guide."),
        };
        var source = new ProxyTokenSource(credential, clock, NullLogger<ProxyTokenSource>.Instance);

        var first = await source.GetAsync(CancellationToken.None);
        var during = new List<BackendCredential>();
        for (var i = 0; i < 10; i++)
        {
            during.Add(await source.GetAsync(CancellationToken.None));
        }

        Assert.Equal(BackendCredentialKind.Unavailable, first.Kind);
        Assert.Equal("CredentialUnavailableException: ManagedIdentityCredential authentication unavailable. No response from the endpoint.", first.Failure);
        Assert.Equal(ProxyTokenSource.RetryAfterFailure, first.RetryAfter);
        Assert.All(during, d => Assert.Equal(BackendCredentialKind.Unavailable, d.Kind));
        Assert.Equal(1, credential.Calls);

        credential.Failure = null;
        clock.Advance(ProxyTokenSource.RetryAfterFailure);
        var recovered = await source.GetAsync(CancellationToken.None);

        Assert.Equal(BackendCredentialKind.Bearer, recovered.Kind);
        Assert.Equal(2, credential.Calls);
    }

    [Fact]
    public async Task GetAsync_CredentialThrowsAnything_StillAValueNeverAThrow()
    {
        var credential = new FakeTokenCredential { Failure = new HttpRequestException("connection refused") };
        var source = new ProxyTokenSource(credential, TimeProvider.System, NullLogger<ProxyTokenSource>.Instance);

        var result = await source.GetAsync(CancellationToken.None);

        Assert.Equal(BackendCredentialKind.Unavailable, result.Kind);
        Assert.Equal("HttpRequestException: connection refused", result.Failure);
    }

    [Fact]
    public void ToString_Credential_NeverShowsTheSecret()
    {
        Assert.Equal("Bearer", BackendCredential.Bearer("eyJsecret").ToString());
        Assert.Equal("ApiKey", BackendCredential.ApiKey("backend-secret").ToString());
    }
}
