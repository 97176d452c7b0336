using System.Net;
using System.Text;
using AoaiProxy.Observability;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// A throttled request waits inside the proxy for a backend's next window instead of being answered 429, against a
/// backend whose quota is enforced over short windows as Azure OpenAI's is (<see cref="QuotaWindow"/>).
/// </summary>
public sealed class WaitingEndToEndTests
{
    private const string ChatPath = "openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    [Fact]
    public async Task ProxyAsync_EveryBackendThrottledWindowReopensSoon_WaitsAndIsServed()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var quota = new QuotaWindow(tokens: 1000, requests: 1, TimeSpan.FromSeconds(1.5));
        backends[0].Handler = quota.Handler;
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = new MetricsRecorder(proxy.Services.GetRequiredService<ProxyMetrics>().Meter);

        // One request per window: the first takes it, the others wait for the next ones rather than get 429.
        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => proxy.Client.PostAsync(ChatPath, Chat(100))));

        foreach (var answer in answers)
        {
            Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{answer.StatusCode} {answer.Headers} {await answer.Content.ReadAsStringAsync()}\n{proxy.Logs.AllText()}");
        }

        var waited = answers.Where(a => a.Headers.Contains("x-proxy-wait-ms")).ToList();
        Assert.True(waited.Count >= 2, $"{waited.Count} of 3 waited");
        Assert.All(waited, a => Assert.True(long.Parse(a.Headers.GetValues("x-proxy-wait-ms").Single(), System.Globalization.CultureInfo.InvariantCulture) > 0));
        Assert.Equal(3, quota.Admitted);
        Assert.True(metrics.Sum(MetricNames.Instruments.Waits, (MetricNames.Tags.Result, MetricNames.WaitResults.Released)) >= 2);
        foreach (var answer in answers)
        {
            answer.Dispose();
        }
    }

    [Fact]
    public async Task ProxyAsync_WindowReopensLaterThanTheWaitAllows_429AtOnceWithItsRetryAfter()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "8000" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:Throttling:MaxWaitSeconds"] = "5");

        using var response = await proxy.Client.PostAsync(ChatPath, Chat(100));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("8000", response.Headers.GetValues("retry-after-ms").Single());
        Assert.False(response.Headers.Contains("x-proxy-wait-ms"));
    }

    [Fact]
    public async Task ProxyAsync_WindowThatNeverReopens_WaitedForOnceThen429AtOnce()
    {
        // A backend that refuses everything (a quota spent for longer than its retry-after says): the request released
        // to its reopened window is refused again, and from then on nobody waits for it.
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "400" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var first = await proxy.Client.PostAsync(ChatPath, Chat(100));
        using var second = await proxy.Client.PostAsync(ChatPath, Chat(100));

        Assert.Equal(HttpStatusCode.TooManyRequests, first.StatusCode);
        Assert.True(first.Headers.Contains("x-proxy-wait-ms"));
        Assert.Equal("2", first.Headers.GetValues("x-proxy-attempts").Single());
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.True(second.Headers.Contains("retry-after-ms"));
        Assert.False(second.Headers.Contains("x-proxy-wait-ms"));
    }

    [Fact]
    public async Task ProxyAsync_MoreWaitingThanAllowed_429AtOnceCountingTheQueue()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var quota = new QuotaWindow(tokens: 1000, requests: 1, TimeSpan.FromSeconds(3));
        backends[0].Handler = quota.Handler;
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:Throttling:MaxWaitingRequests"] = "1");
        using var taken = await proxy.Client.PostAsync(ChatPath, Chat(100));
        var waiting = proxy.Client.PostAsync(ChatPath, Chat(100));
        var room = proxy.Services.GetRequiredService<AoaiProxy.Pipeline.WaitRoom>();
        await WaitForAsync(() => room.Count == 1);

        using var refused = await proxy.Client.PostAsync(ChatPath, Chat(100));
        using var served = await waiting;

        Assert.Equal(HttpStatusCode.OK, taken.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains("MaxWaitingRequests", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(long.Parse(refused.Headers.GetValues("retry-after-ms").Single(), System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task Status_WhileARequestWaits_ListsItUnderItsDeploymentAndTheGaugeCountsIt()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var quota = new QuotaWindow(tokens: 1000, requests: 1, TimeSpan.FromSeconds(3));
        backends[0].Handler = quota.Handler;
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = new MetricsRecorder(proxy.Services.GetRequiredService<ProxyMetrics>().Meter);
        using var taken = await proxy.Client.PostAsync(ChatPath, Chat(100));
        var room = proxy.Services.GetRequiredService<AoaiProxy.Pipeline.WaitRoom>();
        var waiting = proxy.Client.PostAsync(ChatPath, Chat(100));
        await WaitForAsync(() => room.Count == 1);

        using var status = await proxy.Client.GetAsync("proxy/status");
        using var json = System.Text.Json.JsonDocument.Parse(await status.Content.ReadAsStringAsync());
        metrics.Observe();
        using var served = await waiting;

        var entry = Assert.Single(json.RootElement.GetProperty("waiting").EnumerateArray());
        Assert.Equal("gpt-4o", entry.GetProperty("deployment").GetString());
        Assert.Equal(1, entry.GetProperty("requests").GetInt32());
        Assert.Equal(1, metrics.Sum(MetricNames.Instruments.Waiting, (MetricNames.Tags.Deployment, "gpt-4o")));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task ProxyAsync_CallerGoesAwayWhileWaiting_DroppedAndNothingMoreSent()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var quota = new QuotaWindow(tokens: 1000, requests: 1, TimeSpan.FromSeconds(2));
        backends[0].Handler = quota.Handler;
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = new MetricsRecorder(proxy.Services.GetRequiredService<ProxyMetrics>().Meter);
        using var taken = await proxy.Client.PostAsync(ChatPath, Chat(100));
        var room = proxy.Services.GetRequiredService<AoaiProxy.Pipeline.WaitRoom>();

        using var leaving = new CancellationTokenSource();
        var gone = proxy.Client.PostAsync(ChatPath, Chat(100), leaving.Token);
        await WaitForAsync(() => room.Count == 1);
        var sent = backends[0].RequestCount;
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
        await WaitForAsync(() => room.Count == 0);
        await WaitForAsync(() => metrics.Of(MetricNames.Instruments.Requests).Count == 2);
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        // Past the window it waited for: nothing was sent for it after it left.
        Assert.Equal(sent, backends[0].RequestCount);
        Assert.Equal(1, metrics.Sum(MetricNames.Instruments.Waits, (MetricNames.Tags.Result, MetricNames.WaitResults.Cancelled)));
        Assert.Equal(1, metrics.Sum(MetricNames.Instruments.Requests, (MetricNames.Tags.Outcome, MetricNames.Outcomes.Cancelled)));
    }

    [Fact]
    public async Task ProxyAsync_ThrottledWindowWithHeadroom_SmallerRequestStillServedLargerWaits()
    {
        // The 429 of a large request says the window still has 3,000 tokens: a request of 1,000 fits and is not kept from it.
        await using var backends = await FakeBackends.StartAsync("a");
        var quota = new QuotaWindow(tokens: 10_000, requests: 100, TimeSpan.FromSeconds(2));
        backends[0].Handler = quota.Handler;
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, ProxyTestHost.NoWaiting);
        using var first = await proxy.Client.PostAsync(ChatPath, Chat(7000));
        using var large = await proxy.Client.PostAsync(ChatPath, Chat(5000));

        using var small = await proxy.Client.PostAsync(ChatPath, Chat(1000));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, large.StatusCode);
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
    }

    [Fact]
    public async Task ProxyAsync_StreamingRequestThrottled_WaitsBeforeItsFirstByte()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var quota = new QuotaWindow(tokens: 1000, requests: 1, TimeSpan.FromMilliseconds(600));
        backends[0].Handler = quota.Handler;
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var taken = await proxy.Client.PostAsync(ChatPath, Chat(100));

        using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = Chat(100, stream: true) };
        using var streamed = await proxy.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        Assert.True(streamed.Headers.Contains("x-proxy-wait-ms"));
    }

    private static StringContent Chat(long tokens, bool stream = false)
    {
        var json = QuotaWindow.ChatCosting(tokens);
        return new StringContent(stream ? json.TrimEnd('}') + ",\"stream\":true}" : json, Encoding.UTF8, "application/json");
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, patience.Token);
        }
    }
}
