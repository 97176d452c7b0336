using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.FunctionApp;

/// <summary>
/// FunctionApp.csproj: what <c>dotnet publish</c> (and so <c>azd deploy</c>) puts next to the worker. The project is
/// built by this test project's reference to it; <see cref="PublishedApp"/> publishes that build once, without building
/// again, into a temporary folder.
/// </summary>
public sealed class FunctionAppProjectTests(FunctionAppProjectTests.PublishedApp app) : IClassFixture<FunctionAppProjectTests.PublishedApp>
{
    [Fact]
    public void Publish_FunctionsMetadata_ProxyIsAnAnonymousCatchAllHttpTriggerForEveryMethod()
    {
        using var metadata = JsonDocument.Parse(File.ReadAllText(Path.Combine(app.Site, "functions.metadata")));

        var function = Assert.Single(metadata.RootElement.EnumerateArray(), f => f.GetProperty("name").GetString() == "Proxy");
        Assert.Equal("AoaiProxy.FunctionApp.ProxyFunction.RunAsync", function.GetProperty("entryPoint").GetString());
        Assert.Equal("FunctionApp.dll", function.GetProperty("scriptFile").GetString());
        var trigger = Assert.Single(function.GetProperty("bindings").EnumerateArray(),
            b => b.GetProperty("type").GetString() == "httpTrigger");
        Assert.Equal("In", trigger.GetProperty("direction").GetString());
        Assert.Equal("openai/{*path}", trigger.GetProperty("route").GetString());
        Assert.Equal("Anonymous", trigger.GetProperty("authLevel").GetString());
        // No "methods": the host and the worker then route every HTTP method to the function.
        Assert.False(trigger.TryGetProperty("methods", out var methods) && methods.ValueKind != JsonValueKind.Null,
            "the trigger restricts methods: " + methods);
        // No output binding ($return): the engine writes the response itself, and the host gets no return value to handle.
        Assert.Single(function.GetProperty("bindings").EnumerateArray());
    }

    [Fact]
    public void Publish_FunctionsMetadata_ProxyStatusServesGetAndHeadUnderProxy()
    {
        using var metadata = JsonDocument.Parse(File.ReadAllText(Path.Combine(app.Site, "functions.metadata")));

        Assert.Equal(["Proxy", "ProxyStatus"], metadata.RootElement.EnumerateArray().Select(f => f.GetProperty("name").GetString()).Order());
        var function = Assert.Single(metadata.RootElement.EnumerateArray(), f => f.GetProperty("name").GetString() == "ProxyStatus");
        Assert.Equal("AoaiProxy.FunctionApp.ProxyStatusFunction.RunAsync", function.GetProperty("entryPoint").GetString());
        var trigger = Assert.Single(function.GetProperty("bindings").EnumerateArray(), b => b.GetProperty("type").GetString() == "httpTrigger");
        Assert.Equal("proxy/{*rest}", trigger.GetProperty("route").GetString());
        Assert.Equal("Anonymous", trigger.GetProperty("authLevel").GetString());
        Assert.Equal(["get", "head"], trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!.ToLowerInvariant()).Order());
        Assert.Single(function.GetProperty("bindings").EnumerateArray());
    }

    [Fact]
    public void Publish_HostJson_HostTelemetryIsOpenTelemetry()
    {
        using var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(app.Site, "host.json")));

        // The host's telemetry in OpenTelemetry form, correlated with the worker's (Functions OpenTelemetry article).
        Assert.Equal("OpenTelemetry", host.RootElement.GetProperty("telemetryMode").GetString());
    }

    [Fact]
    public void Publish_HostJson_NoPerInvocationResultOrAggregatorLogging()
    {
        using var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(app.Site, "host.json")));
        var levels = host.RootElement.GetProperty("logging").GetProperty("logLevel");

        // Host.Results (a log entry per invocation) and Host.Aggregator (counts every 30 s) fall under the default, Warning:
        // with telemetryMode OpenTelemetry and the worker's OpenTelemetry the host exports neither (README, Benchmarks).
        Assert.Equal("Warning", levels.GetProperty("default").GetString());
        Assert.DoesNotContain(levels.EnumerateObject(), p => p.Name.StartsWith("Host.", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Publish_HostJson_IsTheRepositorysWithAnEmptyRoutePrefix()
    {
        var published = File.ReadAllText(Path.Combine(app.Site, "host.json"));
        using var host = JsonDocument.Parse(published);

        Assert.Equal("", host.RootElement.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
        Assert.Equal(File.ReadAllText(RepoPaths.Of("host.json")), published);
    }

    [Fact]
    public void Publish_WorkerConfig_StartsFunctionAppDllAsADotnetIsolatedWorker()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(app.Site, "worker.config.json")));

        var description = config.RootElement.GetProperty("description");
        Assert.Equal("dotnet-isolated", description.GetProperty("language").GetString());
        Assert.Equal("FunctionApp.dll", description.GetProperty("defaultWorkerPath").GetString());
        Assert.True(File.Exists(Path.Combine(app.Site, "FunctionApp.dll")));
    }

    [Fact]
    public void Publish_RuntimeConfig_IdleThreadPoolWorkersDoNotSpin()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(app.Site, "FunctionApp.runtimeconfig.json")));

        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.Equal(0, properties.GetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit").GetInt32());
    }

    [Fact]
    public void Publish_LocalSettingsJson_IsNeverPublished()
    {
        // The project was given a local.settings.json (with a secret-looking value) to copy for local runs.
        Assert.True(File.Exists(app.LocalSettings));

        Assert.Empty(Directory.GetFiles(app.Site, "local.settings.json", SearchOption.AllDirectories));
        Assert.DoesNotContain(Directory.GetFiles(app.Site, "*", SearchOption.AllDirectories),
            f => File.ReadAllText(f).Contains(PublishedApp.SecretMarker, StringComparison.Ordinal));
    }

    /// <summary>
    /// <c>dotnet publish --no-build</c> of the FunctionApp this test project was built with, into a temporary folder,
    /// with a local.settings.json of its own (FunctionAppLocalSettings) so that its absence from the output proves
    /// something even in a fresh clone, where there is none.
    /// </summary>
    public sealed class PublishedApp : IAsyncLifetime
    {
        internal const string SecretMarker = "not-a-real-secret-0c5a1f";
        private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(4);
        private readonly string _root = Path.Combine(Path.GetTempPath(), "aoaiproxy-publish-" + Guid.NewGuid().ToString("N"));

        public string Site => Path.Combine(_root, "site");

        public string LocalSettings => Path.Combine(_root, "local.settings.json");

        public async Task InitializeAsync()
        {
            Directory.CreateDirectory(_root);
            await File.WriteAllTextAsync(LocalSettings, JsonSerializer.Serialize(new
            {
                IsEncrypted = false,
                Values = new Dictionary<string, string> { ["Proxy__Auth__ClientKeys__0"] = SecretMarker },
            }));
            var configuration = typeof(PublishedApp).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in new[]
                     {
                         "publish", RepoPaths.Of("FunctionApp", "FunctionApp.csproj"), "--no-build", "--nologo",
                         "-c", configuration, "-o", Site, "-p:FunctionAppLocalSettings=" + LocalSettings,
                         // No MSBuild node may outlive the test run.
                         "-nodeReuse:false",
                     })
            {
                start.ArgumentList.Add(arg);
            }

            using var publish = Process.Start(start)!;
            var output = publish.StandardOutput.ReadToEndAsync();
            var errors = publish.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(PublishTimeout);
            try
            {
                await publish.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                publish.Kill(entireProcessTree: true);
                throw new TimeoutException($"dotnet publish did not finish within {PublishTimeout}: {await output}");
            }

            if (publish.ExitCode != 0)
            {
                throw new InvalidOperationException($"dotnet publish failed ({publish.ExitCode}):\n{await output}\n{await errors}");
            }
        }

        public Task DisposeAsync()
        {
            Directory.Delete(_root, recursive: true);
            return Task.CompletedTask;
        }
    }
}
