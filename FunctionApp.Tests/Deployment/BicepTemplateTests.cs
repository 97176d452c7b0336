#if BICEP_CLI
using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Deployment;

/// <summary>
/// infra/ compiles and lints clean with the real Bicep CLI (restored from NuGet by the test project), and `bicep snapshot`
/// (which evaluates every deploy-time expression and predicts the resources of a deployment) shows what `azd provision`
/// would deploy for a given set of azd variables.
/// </summary>
public sealed class BicepTemplateTests
{
    private const string Deployer = "11111111-1111-1111-1111-111111111111";
    private const string ChatApp = "22222222-2222-2222-2222-222222222222";

    [Theory]
    [InlineData("build")]
    [InlineData("lint")]
    public async Task MainBicep_Command_SucceedsWithoutDiagnostics(string command)
    {
        var output = NewTempDirectory();
        try
        {
            var arguments = new List<string> { command, RepoPaths.Of("infra", "main.bicep") };
            if (command == "build")
            {
                arguments.AddRange(["--outdir", output]);
            }

            var (exitCode, stdout, stderr) = await RunBicepAsync(arguments);

            Assert.True(exitCode == 0, $"bicep {command} failed:\n{stderr}\n{stdout}");
            Assert.True(string.IsNullOrWhiteSpace(stderr), $"bicep {command} reported diagnostics:\n{stderr}");
            if (command == "build")
            {
                Assert.True(File.Exists(Path.Combine(output, "main.json")));
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public async Task Snapshot_Defaults_AllowListIsTheDeployerAndSettingsAreAValidConfiguration()
    {
        var snapshot = await SnapshotAsync();

        var settings = AppSettings(snapshot);
        Assert.Equal(Deployer, settings["Proxy__Auth__EntraId__AllowedCallers__0"]);
        Assert.DoesNotContain("Proxy__Auth__EntraId__AllowedCallers__1", settings.Keys);
        Assert.DoesNotContain(settings.Keys, k => k.StartsWith("Proxy__Cors__", StringComparison.Ordinal));
        Assert.Equal("209715200", settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]);
        Assert.True(long.Parse(settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]!, System.Globalization.CultureInfo.InvariantCulture) > ProxyOptions.DefaultMaxRequestBodyBytes + ProxyOptions.BodyDrainAllowanceBytes);
        Assert.Equal(64, Site(snapshot).GetProperty("properties").GetProperty("functionAppConfig").GetProperty("scaleAndConcurrency")
            .GetProperty("triggers").GetProperty("http").GetProperty("perInstanceConcurrency").GetInt32());

        // Values known only at deployment (endpoints, client ids) are expressions here: give them representative values.
        var (options, errors) = StartupOptions.Read(new RecordingConfiguration(settings.ToDictionary(
            s => s.Key, s => (string?)(s.Value!.StartsWith('[') ? SampleFor(s.Key) : s.Value))).Root);
        Assert.Empty(errors);
        Assert.Equal([Guid.Parse(Deployer)], options.Auth.EntraId!.AllowedCallers);
    }

    [Fact]
    public async Task Snapshot_CallersListed_DeployerFirstThenTheListWithoutDuplicates()
    {
        var settings = AppSettings(await SnapshotAsync($"param proxyAllowedCallers = ' {ChatApp} , {Deployer},'"));

        Assert.Equal(Deployer, settings["Proxy__Auth__EntraId__AllowedCallers__0"]);
        Assert.Equal(ChatApp, settings["Proxy__Auth__EntraId__AllowedCallers__1"]);
        Assert.DoesNotContain("Proxy__Auth__EntraId__AllowedCallers__2", settings.Keys);
    }

    [Fact]
    public async Task Snapshot_AnyTenantCallerOptIn_NoAllowList()
    {
        var settings = AppSettings(await SnapshotAsync("param proxyAllowAnyTenantCaller = true", $"param proxyAllowedCallers = '{ChatApp}'"));

        Assert.DoesNotContain(settings.Keys, k => k.Contains("AllowedCallers", StringComparison.Ordinal));
        Assert.Equal("Identity", settings["Proxy__Auth__Backend"]);
        Assert.Equal("https://cognitiveservices.azure.com", settings["Proxy__Auth__EntraId__Audience"]);
    }

    [Fact]
    public async Task Snapshot_NoPrincipalId_AllowListStartsWithTheDeployingPrincipal()
    {
        var snapshot = await SnapshotAsPrincipalAsync("");

        // deployer() is known only at deployment time, so the snapshot keeps the expression.
        var callers = snapshot.RootElement.GetProperty("outputs").GetProperty("PROXY_ALLOWED_CALLER_IDS").GetString();
        Assert.StartsWith("[union(createArray(deployer().objectId)", callers, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snapshot_ExtraAppSettings_MergedAndWinOverGeneratedOnes()
    {
        var settings = AppSettings(await SnapshotAsync(
            "param extraAppSettings = { Proxy__MaxRequestBodyBytes: '1048576', FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '2097152', Proxy__Auth__ClientKeys__0: '@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/key)' }",
            "param proxyAllowedOrigins = 'https://chat.contoso.com, http://localhost:5173'"));

        Assert.Equal("1048576", settings["Proxy__MaxRequestBodyBytes"]);
        Assert.Equal("2097152", settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]);
        Assert.StartsWith("@Microsoft.KeyVault(", settings["Proxy__Auth__ClientKeys__0"], StringComparison.Ordinal);
        Assert.Equal("https://chat.contoso.com", settings["Proxy__Cors__AllowedOrigins__0"]);
        Assert.Equal("http://localhost:5173", settings["Proxy__Cors__AllowedOrigins__1"]);
        Assert.Equal(Deployer, settings["Proxy__Auth__EntraId__AllowedCallers__0"]);
    }

    [Fact]
    public async Task Snapshot_AccountNames_CarryTheirRegionSoReorderingOrAddingRegionsKeepsExistingNames()
    {
        var before = Accounts(await SnapshotAsync("param openAiAccountCount = 4", "param openAiLocations = 'eastus2,swedencentral,westus3'"));
        var after = Accounts(await SnapshotAsync("param openAiAccountCount = 4", "param openAiLocations = 'francecentral, WestUS3 ,eastus2,swedencentral'"));

        Assert.All(before.Concat(after), a => Assert.Matches($"^oai-[a-z0-9]{{13}}-{a.Location}-[0-9]+$", a.Name));
        Assert.Equal(["eastus2-0", "eastus2-1", "swedencentral-0", "westus3-0"], before.Select(a => a.Name[18..]).Order());
        Assert.Equal(["eastus2-0", "francecentral-0", "swedencentral-0", "westus3-0"], after.Select(a => a.Name[18..]).Order());
        var kept = before.Select(a => a.Name).Intersect(after.Select(a => a.Name)).Count();
        Assert.Equal(3, kept);
    }

    [Fact]
    public async Task Snapshot_ExistingEndpointsWithPriorityAndWeight_NoAccountAndBackendsAsListed()
    {
        var snapshot = await SnapshotAsync("param openAiExistingEndpoints = 'https://alpha.openai.azure.com/|1|3, https://beta.openai.azure.com|2 ,https://gamma.openai.azure.com'");

        Assert.Empty(Accounts(snapshot));
        var settings = AppSettings(snapshot);
        Assert.Equal(("alpha", "https://alpha.openai.azure.com/", "1", "3"), Backend(settings, 0));
        Assert.Equal(("beta", "https://beta.openai.azure.com/", "2", "1"), Backend(settings, 1));
        Assert.Equal(("gamma", "https://gamma.openai.azure.com/", "1", "1"), Backend(settings, 2));
        var (options, errors) = StartupOptions.Read(new RecordingConfiguration(settings.ToDictionary(
            s => s.Key, s => (string?)(s.Value!.StartsWith('[') ? SampleFor(s.Key) : s.Value))).Root);
        Assert.Empty(errors);
        Assert.Equal([1, 2, 1], options.Backends.Select(b => b.Priority));
        Assert.Equal([3, 1, 1], options.Backends.Select(b => b.Weight));
    }

    [Fact]
    public async Task Snapshot_VnetEnabled_PrivateEndpointsForStorageAndEveryAccountAndNoPublicAccess()
    {
        var snapshot = await SnapshotAsync("param vnetEnabled = true", "param openAiAccountCount = 2");
        var resources = snapshot.RootElement.GetProperty("predictedResources").EnumerateArray().ToList();

        var endpoints = resources.Where(r => r.GetProperty("type").GetString() == "Microsoft.Network/privateEndpoints").ToList();
        Assert.Equal(["account", "account", "blob", "table"], endpoints
            .Select(e => e.GetProperty("properties").GetProperty("privateLinkServiceConnections")[0].GetProperty("properties").GetProperty("groupIds")[0].GetString()!)
            .Order());
        Assert.All(endpoints, e => Assert.Equal("eastus2", e.GetProperty("location").GetString()));
        Assert.Equal(3, resources.Count(r => r.GetProperty("type").GetString() == "Microsoft.Network/privateDnsZones"));
        Assert.Equal(3, resources.Count(r => r.GetProperty("type").GetString() == "Microsoft.Network/privateDnsZones/virtualNetworkLinks"));
        Assert.All(resources.Where(r => r.GetProperty("type").GetString() is "Microsoft.CognitiveServices/accounts" or "Microsoft.Storage/storageAccounts"),
            r => Assert.Equal("Disabled", r.GetProperty("properties").GetProperty("publicNetworkAccess").GetString()));
        Assert.EndsWith("/subnets/app", Site(snapshot).GetProperty("properties").GetProperty("virtualNetworkSubnetId").GetString(), StringComparison.Ordinal);
        var subnets = resources.Single(r => r.GetProperty("type").GetString() == "Microsoft.Network/virtualNetworks").GetProperty("properties").GetProperty("subnets");
        Assert.Equal("Microsoft.App/environments", subnets[0].GetProperty("properties").GetProperty("delegations")[0].GetProperty("properties").GetProperty("serviceName").GetString());
    }

    [Fact]
    public async Task Snapshot_Default_PublicAccessAndNoNetwork()
    {
        var snapshot = await SnapshotAsync();
        var resources = snapshot.RootElement.GetProperty("predictedResources").EnumerateArray().ToList();

        Assert.DoesNotContain(resources, r => r.GetProperty("type").GetString()!.StartsWith("Microsoft.Network/", StringComparison.Ordinal));
        Assert.All(resources.Where(r => r.GetProperty("type").GetString() is "Microsoft.CognitiveServices/accounts" or "Microsoft.Storage/storageAccounts"),
            r => Assert.Equal("Enabled", r.GetProperty("properties").GetProperty("publicNetworkAccess").GetString()));
        Assert.False(Site(snapshot).GetProperty("properties").TryGetProperty("virtualNetworkSubnetId", out var subnet) && subnet.ValueKind == JsonValueKind.String);
    }

    [Fact]
    public async Task Snapshot_RegionWithoutFlexConsumption_Refused()
    {
        var (exitCode, stdout, stderr) = await RunSnapshotAsync(Params(Deployer, "param location = 'westindia'"));

        Assert.NotEqual(0, exitCode);
        Assert.Contains("westindia", stderr + stdout, StringComparison.Ordinal);
    }

    private static (string Name, string? Endpoint, string? Priority, string? Weight) Backend(Dictionary<string, string?> settings, int i) =>
        (settings[$"Proxy__Backends__{i}__Name"]!, settings[$"Proxy__Backends__{i}__Endpoint"], settings[$"Proxy__Backends__{i}__Priority"], settings[$"Proxy__Backends__{i}__Weight"]);

    private static List<(string Name, string Location)> Accounts(JsonDocument snapshot) =>
        snapshot.RootElement.GetProperty("predictedResources").EnumerateArray()
            .Where(r => r.GetProperty("type").GetString() == "Microsoft.CognitiveServices/accounts")
            .Select(r => (r.GetProperty("name").GetString()!, r.GetProperty("location").GetString()!))
            .ToList();

    private static JsonElement Site(JsonDocument snapshot) =>
        snapshot.RootElement.GetProperty("predictedResources").EnumerateArray().Single(r => r.GetProperty("type").GetString() == "Microsoft.Web/sites");

    private static Dictionary<string, string?> AppSettings(JsonDocument snapshot)
    {
        var appSettings = Site(snapshot).GetProperty("properties").GetProperty("siteConfig").GetProperty("appSettings");
        Assert.True(appSettings.ValueKind == JsonValueKind.Array, "app settings not evaluated: " + appSettings);
        return appSettings.EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("value").GetString());
    }

    private static string SampleFor(string key) => key switch
    {
        _ when key.EndsWith("__Endpoint", StringComparison.Ordinal) => "https://resource.openai.azure.com/",
        _ when key.EndsWith("ServiceUri", StringComparison.Ordinal) => "https://account.table.core.windows.net/",
        _ => "00000000-0000-0000-0000-000000000001",
    };

    private static async Task<JsonDocument> SnapshotAsync(params string[] parameters) => await SnapshotAsPrincipalAsync(Deployer, parameters);

    private static async Task<JsonDocument> SnapshotAsPrincipalAsync(string principalId, params string[] parameters)
    {
        var (exitCode, stdout, stderr, snapshot) = await RunSnapshotWithFileAsync(Params(principalId, parameters));
        Assert.True(exitCode == 0, $"bicep snapshot failed:\n{stderr}\n{stdout}");
        return snapshot!;
    }

    private static string Params(string principalId, params string[] parameters) =>
        string.Join('\n', new[] { "param environmentName = 'test'", "param location = 'eastus2'", $"param principalId = '{principalId}'" }
            .Where(p => !parameters.Any(q => q.StartsWith(p[..p.IndexOf('=', StringComparison.Ordinal)], StringComparison.Ordinal)))
            .Concat(parameters));

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunSnapshotAsync(string parameters)
    {
        var (exitCode, stdout, stderr, snapshot) = await RunSnapshotWithFileAsync(parameters);
        snapshot?.Dispose();
        return (exitCode, stdout, stderr);
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr, JsonDocument? Snapshot)> RunSnapshotWithFileAsync(string parameters)
    {
        var directory = NewTempDirectory();
        try
        {
            // A .bicepparam names its template by a relative path.
            var template = Path.GetRelativePath(directory, RepoPaths.Of("infra", "main.bicep")).Replace('\\', '/');
            var file = Path.Combine(directory, "test.bicepparam");
            await File.WriteAllTextAsync(file, $"using '{template}'\n{parameters}\n");
            var (exitCode, stdout, stderr) = await RunBicepAsync(
                ["snapshot", file, "--mode", "overwrite", "--subscription-id", "00000000-0000-0000-0000-000000000009", "--location", "eastus2"]);
            var output = Path.Combine(directory, "test.snapshot.json");
            return (exitCode, stdout, stderr, exitCode == 0 ? JsonDocument.Parse(await File.ReadAllTextAsync(output)) : null);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string NewTempDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "aoaiproxy-bicep-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        return directory;
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunBicepAsync(IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(BicepCli()) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["BICEP_TRACING_ENABLED"] = "false";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        return (process.ExitCode, await stdout, stderr);
    }

    private static string BicepCli()
    {
        var path = typeof(BicepTemplateTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepCli").Value!;
        var executable = OperatingSystem.IsWindows() ? path + ".exe" : path;
        Assert.True(File.Exists(executable), "Bicep CLI not restored at " + executable);
        if (!OperatingSystem.IsWindows())
        {
            // NuGet does not keep the executable bit.
            File.SetUnixFileMode(executable, File.GetUnixFileMode(executable) | UnixFileMode.UserExecute);
        }

        return executable;
    }
}
#endif
