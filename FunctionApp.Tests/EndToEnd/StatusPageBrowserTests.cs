using System.Collections.Concurrent;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// GET /proxy in a real browser: Playwright's driver with the system's Chromium (.ci/run installs Debian's 'chromium';
/// CHROMIUM_PATH names another build). The page is the engine's, served by the same wiring as the standalone host.
/// </summary>
public sealed class StatusPageBrowserTests
{
    private const string CredentialKey = "aoaiproxy.credential";

    private static string Chromium => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    [Fact]
    public async Task Page_WithClientKey_ShowsEachBackendsStateCooldownsAndPerMinuteCharts()
    {
        Assert.True(File.Exists(Chromium), $"No Chromium at {Chromium}: install it (apt-get install -y chromium, as .ci/run does) or set CHROMIUM_PATH.");
        await using var backends = await FakeBackends.StartAsync("a", "b", "c");
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after"] = "120" });
        backends[1].Handler = FakeResponses.CloseConnection();
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s.Keys()["Proxy:Backends:2:Priority"] = "2";
            // Long enough to outlast starting a browser on a loaded machine (the 5 s default does not).
            s["Proxy:Cooldown:FailureSeconds"] = "60";

            // b cools once it has failed twice (failure cooldowns need evidence).
            s["Proxy:FailureRate:MinimumRequests"] = "2";
        });
        for (var i = 0; i < 2; i++)
        {
            using var chat = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("""{"messages":[]}""") };
            chat.Headers.Add("api-key", AuthSettings.ClientKey);
            using var served = await proxy.Client.SendAsync(chat);
            Assert.Equal("c", served.Headers.GetValues("x-proxy-backend").Single());
        }

        using var playwright = await Playwright.CreateAsync();
        // --no-sandbox: CI runs as root, where Chromium refuses its sandbox. The page only ever talks to loopback here.
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync();
        var requests = new ConcurrentQueue<IRequest>();
        page.Request += (_, request) => requests.Enqueue(request);

        await page.GotoAsync(new Uri(proxy.BaseAddress, "proxy").ToString());

        // Without a credential the status is refused, and the page says so.
        await Expect(page.Locator("#error")).ToContainTextAsync("401");

        await page.FillAsync("#credential", AuthSettings.ClientKey);
        await page.ClickAsync("#save");

        var a = page.Locator("section.backend[data-name='a']");
        var b = page.Locator("section.backend[data-name='b']");
        var c = page.Locator("section.backend[data-name='c']");
        await Expect(page.Locator("#error")).ToBeEmptyAsync();
        // a: throttled for one deployment only, so it still serves the others.
        await Expect(a.Locator(".state")).ToHaveTextAsync("serving");
        await Expect(a.Locator("li.cooldown[data-deployment='gpt-4o'][data-reason='throttled']")).ToContainTextAsync("cooling");
        await Expect(a).ToContainTextAsync("tier 1 · weight 1");
        await Expect(a.Locator(".totals")).ToContainTextAsync("1 requests · 1 throttled (429)");
        // b: failed in transport, so the whole backend cools, with a countdown and the reason.
        await Expect(b.Locator(".state")).ToHaveClassAsync("state cooling");
        await Expect(b.Locator(".state")).ToContainTextAsync("(failed)");
        await Expect(b.Locator(".state")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^cooling \d+ s \(failed\)$"));
        await Expect(c.Locator(".state")).ToHaveTextAsync("serving");
        await Expect(c).ToContainTextAsync("tier 2");
        await Expect(page.Locator("#store")).ToContainTextAsync("store: memory");

        // Per-minute charts over the window, the current minute last.
        var throttledChart = a.Locator("svg.chart").Nth(1);
        var values = (await throttledChart.GetAttributeAsync("data-values"))!.Split(',');
        Assert.Equal(15, values.Length);
        Assert.Equal("1", values[^1]);
        var servedValues = (await c.Locator("svg.chart").First.GetAttributeAsync("data-values"))!.Split(',');
        Assert.Equal("2", servedValues[^1]);
        Assert.Equal(15, await a.Locator("svg.chart").First.Locator("rect").CountAsync());

        // It refreshes by itself (every 2 s): wait for one more status request than there has been so far.
        var before = requests.Count(r => r.Url.EndsWith("/proxy/status", StringComparison.Ordinal));
        await page.WaitForRequestAsync(r => r.Url.EndsWith("/proxy/status", StringComparison.Ordinal), new() { Timeout = 15_000 });
        Assert.True(requests.Count(r => r.Url.EndsWith("/proxy/status", StringComparison.Ordinal)) > before);

        // The credential lives in this tab's sessionStorage, travels as a header, and never in a URL or to another origin.
        Assert.Equal(AuthSettings.ClientKey, await page.EvaluateAsync<string>($"sessionStorage.getItem('{CredentialKey}')"));
        Assert.Equal(0, await page.EvaluateAsync<int>("localStorage.length"));
        Assert.All(requests, r =>
        {
            Assert.DoesNotContain(AuthSettings.ClientKey, r.Url, StringComparison.Ordinal);
            Assert.StartsWith(proxy.BaseAddress.GetLeftPart(UriPartial.Authority), r.Url, StringComparison.Ordinal);
        });
        var authorized = requests.Last(r => r.Url.EndsWith("/proxy/status", StringComparison.Ordinal));
        Assert.Equal("Bearer " + AuthSettings.ClientKey, (await authorized.AllHeadersAsync())["authorization"]);
    }

    [Fact]
    public async Task Page_ForgetCredential_StatusRefusedAgain()
    {
        Assert.True(File.Exists(Chromium), $"No Chromium at {Chromium}: install it (apt-get install -y chromium, as .ci/run does) or set CHROMIUM_PATH.");
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s.Keys());
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(proxy.BaseAddress, "proxy").ToString());
        await page.FillAsync("#credential", AuthSettings.SecondClientKey);
        await page.ClickAsync("#save");
        await Expect(page.Locator("section.backend[data-name='a']")).ToBeVisibleAsync();

        await page.ClickAsync("#forget");

        await Expect(page.Locator("#error")).ToContainTextAsync("401");
        Assert.Null(await page.EvaluateAsync<string?>($"sessionStorage.getItem('{CredentialKey}')"));
    }
}
