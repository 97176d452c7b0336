using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>The standalone host as a real process, started the way the README says.</summary>
public sealed class StandaloneHostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Main_NoBackendsConfigured_ExitsWithMessageSayingHowToConfigure()
    {
        using var process = Start(new Dictionary<string, string>(), "--urls", "http://127.0.0.1:0");

        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(Patience);
        await process.WaitForExitAsync().WaitAsync(Patience);

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
            var deadline = DateTime.UtcNow + Patience;
            while (servedBy.Count < 2)
            {
                if (process.HasExited)
                {
                    Assert.Fail("the host exited: " + await process.StandardError.ReadToEndAsync());
                }

                try
                {
                    using var response = await client.PostAsync("openai/v1/chat/completions", ProxyEndToEndTests.Json("""{"model":"gpt-4o-mini"}"""));
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

    private static Process Start(Dictionary<string, string> environment, params string[] args)
    {
        // The host's build output sits next to the tests' (project reference): run the same dll `dotnet run` would.
        var dll = Path.Combine(AppContext.BaseDirectory, "AoaiProxy.Server.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("Proxy__", StringComparison.Ordinal) || k.StartsWith("AzureWebJobsStorage", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
