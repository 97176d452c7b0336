using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AoaiProxy.Server;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>The standalone host as a real process, started the way the README says.</summary>
public sealed class StandaloneHostTests
{
    [Fact]
    public async Task Main_NoBackendsConfigured_ExitsWithMessageSayingHowToConfigure()
    {
        using var process = Start(new Dictionary<string, string>(), "--urls", "http://127.0.0.1:0");

        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(Wait.Patience);
        await process.WaitForExitAsync().WaitAsync(Wait.Patience);

        Assert.Equal(1, process.ExitCode);
        Assert.Contains("Proxy:Backends is empty", stderr, StringComparison.Ordinal);
        Assert.Contains("Proxy__Backends__0__Endpoint", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Main_BackendsFromEnvironment_ProxiesRequests()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var port = FreePort();
        using var process = Start(new Dictionary<string, string>
        {
            ["Proxy__Backends__0__Name"] = "a",
            ["Proxy__Backends__0__Endpoint"] = backends[0].Endpoint.ToString(),
            ["Proxy__Backends__1__Name"] = "b",
            ["Proxy__Backends__1__Endpoint"] = backends[1].Endpoint.ToString(),
        }, "--urls", $"http://127.0.0.1:{port}");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var servedBy = new List<string>();
            var deadline = DateTime.UtcNow + Wait.Patience;
            while (servedBy.Count < 2)
            {
                if (process.HasExited)
                {
                    Assert.Fail("the host exited: " + await process.StandardError.ReadToEndAsync());
                }

                try
                {
                    using var response = await client.PostAsync("openai/v1/chat/completions", JsonBody.Of("""{"model":"gpt-4o-mini"}"""));
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    servedBy.Add(response.Headers.GetValues("x-proxy-backend").Single());
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                }
            }

            Assert.Equal(["a", "b"], servedBy.Order());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Main_DefaultLogLevels_ServedRequestsWriteNothingWhileFailoversAreLogged()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var port = FreePort();
        var stdout = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var process = Start(new Dictionary<string, string>
        {
            ["Proxy__Backends__0__Name"] = "a",
            ["Proxy__Backends__0__Endpoint"] = backends[0].Endpoint.ToString(),
            ["Proxy__Backends__1__Name"] = "b",
            ["Proxy__Backends__1__Endpoint"] = backends[1].Endpoint.ToString(),
        }, stdout, "--urls", $"http://127.0.0.1:{port}");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var served = 0;
            var deadline = DateTime.UtcNow + Wait.Patience;
            while (served < 2)
            {
                if (process.HasExited)
                {
                    Assert.Fail("the host exited: " + await process.StandardError.ReadToEndAsync());
                }

                try
                {
                    using var response = await client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    served++;
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                }
            }

            // Then a failover: its lines are Information, and the console logger writes in order, so once they are out,
            // any line of the served requests before them would be out too.
            backends[0].Handler = FakeResponses.Throttle();
            for (var i = 0; i < 2; i++)
            {
                using var response = await client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            await Wait.UntilAsync(
                () => stdout.Any(l => l.Contains("cooling down", StringComparison.Ordinal)), "the cooldown line", poll: TimeSpan.FromMilliseconds(100),
                detail: () => "\nThe host wrote:\n" + string.Join('\n', stdout));

            var text = string.Join('\n', stdout);
            Assert.Contains("Proxy started with 2 backends", text, StringComparison.Ordinal);
            Assert.Contains(": 429 in ", text, StringComparison.Ordinal);
            Assert.DoesNotContain(": 200 in ", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Request starting", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Request finished", text, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Main_NoCallerAuthentication_MetricsInPrometheusFormatAndStatusToLoopback()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var port = FreePort();
        using var process = Start(new Dictionary<string, string>
        {
            ["Proxy__Backends__0__Name"] = "a",
            ["Proxy__Backends__0__Endpoint"] = backends[0].Endpoint.ToString(),
        }, "--urls", $"http://127.0.0.1:{port}");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using (await PostUntilUpAsync(process, client, null)) { }

            using var metrics = await client.GetAsync("metrics");
            var text = await metrics.Content.ReadAsStringAsync();
            using var status = await client.GetAsync("proxy/status");

            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Equal("text/plain", metrics.Content.Headers.ContentType?.MediaType);
            var requests = Assert.Single(text.Split('\n'), l => l.StartsWith("aoaiproxy_requests_total{", StringComparison.Ordinal));
            Assert.Contains("deployment=\"gpt-4o-mini\"", requests, StringComparison.Ordinal);
            Assert.Contains("status=\"200\"", requests, StringComparison.Ordinal);
            Assert.Contains("outcome=\"served\"", requests, StringComparison.Ordinal);
            Assert.Equal("1", requests[(requests.LastIndexOf('}') + 1)..].Trim().Split(' ')[0]);
            Assert.Contains(text.Split('\n'), l => l.StartsWith("aoaiproxy_attempts_total{", StringComparison.Ordinal) && l.Contains("backend=\"a\"", StringComparison.Ordinal));
            Assert.Contains("aoaiproxy_backend_headers_duration_seconds_bucket{", text, StringComparison.Ordinal);
            Assert.Contains("aoaiproxy_tokens_total{", text, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Main_ClientKeysConfigured_MetricsAndStatusNeedTheKey()
    {
        const string Key = "metrics-client-key-0123456789abcdef0123";
        await using var backends = await FakeBackends.StartAsync("a");
        var port = FreePort();
        using var process = Start(new Dictionary<string, string>
        {
            ["Proxy__Backends__0__Name"] = "a",
            ["Proxy__Backends__0__Endpoint"] = backends[0].Endpoint.ToString(),
            ["Proxy__Auth__ClientKeys__0"] = Key,
        }, "--urls", $"http://127.0.0.1:{port}");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using (await PostUntilUpAsync(process, client, Key)) { }

            using var refused = await client.GetAsync("metrics");
            using var statusRefused = await client.GetAsync("proxy/status");
            using var request = new HttpRequestMessage(HttpMethod.Get, "metrics");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Key);
            using var allowed = await client.SendAsync(request);

            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, statusRefused.StatusCode);
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
            Assert.Contains("aoaiproxy_requests_total{", await allowed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// The server resolves dot segments before routing: the proxy's own endpoints match the target as sent, so another
    /// spelling of them (with dot segments, encoded) is refused like any other such target, even with the right key.
    /// </summary>
    [Fact]
    public async Task Main_DotSegmentsTowardsTheProxysOwnEndpoints_400AndNotTheirContent()
    {
        const string Key = "dot-segments-key-0123456789abcdef012345";
        await using var backends = await FakeBackends.StartAsync("a");
        var port = FreePort();
        using var process = Start(new Dictionary<string, string>
        {
            ["Proxy__Backends__0__Name"] = "a",
            ["Proxy__Backends__0__Endpoint"] = backends[0].Endpoint.ToString(),
            ["Proxy__Auth__ClientKeys__0"] = Key,
        }, "--urls", $"http://127.0.0.1:{port}");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using (await PostUntilUpAsync(process, client, Key)) { }
            var server = new Uri($"http://127.0.0.1:{port}/");
            var key = $"api-key: {Key}\r\n";

            foreach (var target in new[]
            {
                "/openai/../proxy/status", "/openai/%2e%2e/proxy/status", "/openai/.%2e/proxy/status", "/openai/../proxy",
                "/openai/deployments/ok/../../../metrics", "/openai/%2E./metrics", "/x/../metrics", "/proxy/status/../../metrics",
            })
            {
                var (status, text) = await RawHttp.SendAsync(server, "GET", target, key);

                Assert.True(status == 400, $"{target}: {status}");
                Assert.Contains("\"code\":\"InvalidPath\"", text, StringComparison.Ordinal);
                Assert.DoesNotContain("aoaiproxy_", text, StringComparison.Ordinal);
                Assert.DoesNotContain("\"backends\"", text, StringComparison.Ordinal);
            }

            Assert.Equal(200, (await RawHttp.SendAsync(server, "GET", "/metrics", key)).Status);
            Assert.Equal(200, (await RawHttp.SendAsync(server, "GET", "/proxy/status", key)).Status);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Theory]
    [InlineData(null, 3)]
    [InlineData("0", 1)]
    public async Task Main_InlineCompletionsVariable_OneEpollThreadPerCpuUnlessOperatorSetIt(string? operatorValue, int expectedEpollThreads)
    {
        // The runtime runs socket completions on its epoll threads only with the variable at 1, and then starts one such
        // thread (".NET Sockets") per CPU instead of one per 30 CPUs: with 3 CPUs the count tells which mode the host runs in.
        await using var backends = await FakeBackends.StartAsync("a");
        var port = FreePort();
        var environment = new Dictionary<string, string>
        {
            ["Proxy__Backends__0__Endpoint"] = backends[0].Endpoint.ToString(),
            ["DOTNET_PROCESSOR_COUNT"] = "3",
        };
        if (operatorValue is not null)
        {
            environment[SocketDefaults.InlineCompletionsVariable] = operatorValue;
        }

        using var process = Start(environment, "--urls", $"http://127.0.0.1:{port}");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using var served = await PostUntilUpAsync(process, client, key: null);

            var threadNames = Directory.GetDirectories($"/proc/{process.Id}/task")
                .Select(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n'))
                .ToList();
            Assert.Equal(expectedEpollThreads, threadNames.Count(name => name == ".NET Sockets"));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// A failover storm logs a line per request at Information or Warning (attempt answered 500, no backend could serve).
    /// When nobody drains the host's stdout fast enough (a stalled log collector, a paused terminal), the console logger's
    /// queue fills, and by default (QueueFullMode Wait) every logging call then blocks its thread until there is room. With
    /// inline socket completions that thread is the epoll thread the backend's answer arrived on, so every connection it
    /// serves stops with it; here the pipe is never read, so the requests would stop for good. The committed appsettings.json
    /// drops log lines instead (and the logger says how many it dropped once it can write again). The queue is shortened
    /// only to fill it with fewer requests.
    /// </summary>
    [Fact]
    public async Task Main_StdoutNotReadDuringAFailoverStorm_RequestsStillAnswered()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Json(500, new { error = new { code = "InternalServerError", message = "The backend failed." } });
        var port = FreePort();
        var info = StartInfo(
            new Dictionary<string, string> { ["Proxy__Backends__0__Endpoint"] = backends[0].Endpoint.ToString() },
            quiet: false, "--urls", $"http://127.0.0.1:{port}", "--Logging:Console:MaxQueueLength=16");
        using var process = Process.Start(info)!;
        try
        {
            // Far more lines than the pipe (64 KiB on Linux) and the queue hold; each request waits for its answer.
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = Wait.Patience };
            await WaitUntilListeningAsync(process, port);
            for (var i = 0; i < 1_500; i++)
            {
                using var response = await client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
                Assert.True((int)response.StatusCode >= 500, $"request {i} answered {response.StatusCode}");
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Waits until the host accepts connections (it is starting), without sending a request.</summary>
    private static async Task WaitUntilListeningAsync(Process process, int port)
    {
        var deadline = DateTime.UtcNow + Wait.Patience;
        while (true)
        {
            Assert.False(process.HasExited, "the host exited");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Posts a chat completion until the host answers (it is starting), then returns that answer.</summary>
    private static async Task<HttpResponseMessage> PostUntilUpAsync(Process process, HttpClient client, string? key)
    {
        var deadline = DateTime.UtcNow + Wait.Patience;
        while (true)
        {
            if (process.HasExited)
            {
                Assert.Fail("the host exited: " + await process.StandardError.ReadToEndAsync());
            }

            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "openai/v1/chat/completions") { Content = JsonBody.Of("""{"model":"gpt-4o-mini"}""") };
                if (key is not null)
                {
                    request.Headers.Add("api-key", key);
                }

                var response = await client.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return response;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    private static Process Start(Dictionary<string, string> environment, params string[] args) =>
        Start(environment, stdout: null, args);

    /// <summary>
    /// Starts the host's dll. Without <paramref name="stdout"/> it runs at Warning (quiet tests); with it, at the log
    /// levels of its committed appsettings.json, and every stdout line is collected.
    /// </summary>
    private static Process Start(Dictionary<string, string> environment, System.Collections.Concurrent.ConcurrentQueue<string>? stdout, params string[] args)
    {
        var process = Process.Start(StartInfo(environment, quiet: stdout is null, args))!;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                stdout?.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        return process;
    }

    /// <summary>How the host's dll is started: quiet (at Warning), or at the log levels of its committed appsettings.json.</summary>
    private static ProcessStartInfo StartInfo(Dictionary<string, string> environment, bool quiet, params string[] args)
    {
        // The host's build output sits next to the tests' (project reference): run the same dll `dotnet run` would.
        var dll = Path.Combine(AppContext.BaseDirectory, "AoaiProxy.Server.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("Proxy__", StringComparison.Ordinal) || k.StartsWith("AzureWebJobsStorage", StringComparison.Ordinal) || k.StartsWith("OTEL_", StringComparison.Ordinal) || k.StartsWith("DOTNET_SYSTEM_NET_SOCKETS_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("Logging__", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        if (quiet)
        {
            info.Environment["Logging__LogLevel__Default"] = "Warning";
        }

        return info;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
