using System.Text.Json;
using System.Text.RegularExpressions;
using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Deployment;

/// <summary>
/// infra/ (what azd writes as app settings), local.settings.sample.json, the README's configuration reference and the
/// code must name the same settings. "What the code reads" is recorded from the real readers, not listed by hand.
/// </summary>
public sealed partial class SettingsConsistencyTests
{
    /// <summary>Settings the Functions host (not the proxy code) reads: allowed in infra and samples, not in the README table.</summary>
    private static readonly HashSet<string> HostSettings = new(StringComparer.OrdinalIgnoreCase)
    {
        "FUNCTIONS_WORKER_RUNTIME",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "AzureWebJobsStorage:blobServiceUri",
        "AzureWebJobsStorage:queueServiceUri",

        // The host's own request body limit: set above Proxy:MaxRequestBodyBytes so callers get the proxy's 413.
        "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT",
    };

    [Fact]
    public void InfraAppSettings_AsDeployed_FormAValidConfiguration()
    {
        var (options, errors) = StartupOptions.Read(new RecordingConfiguration(InfraSettings()).Root);

        Assert.Empty(errors);
        Assert.NotNull(options.Storage);
        Assert.NotNull(options.Auth.EntraId);
    }

    [Fact]
    public void InfraAppSettings_Each_ReadByTheCodeOrTheFunctionsHost()
    {
        var settings = InfraSettings();
        var recorded = new RecordingConfiguration(settings);
        ProxyOptionsReader.Read(recorded.Root, []);

        var unread = settings.Keys.Select(RecordingConfiguration.Normalize)
            .Where(k => !recorded.LookedUp.Contains(k) && !HostSettings.Contains(k))
            .ToList();

        Assert.Empty(unread);
    }

    [Fact]
    public void InfraAppSettings_NoneThatFlexConsumptionRejects()
    {
        // Flex Consumption refuses these app settings (they are set by the platform or replaced by functionAppConfig).
        string[] rejected = ["FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_NODE_DEFAULT_VERSION", "SCM_DO_BUILD_DURING_DEPLOYMENT"];

        var present = InfraSettings().Keys.Intersect(rejected, StringComparer.OrdinalIgnoreCase).ToList();
        Assert.Empty(present);
    }

    [Fact]
    public void LocalSettingsSample_WithEndpointsFilledIn_IsValidAndEverySettingIsRead()
    {
        var values = LocalSettingsSample().ToDictionary(
            e => e.Key, e => (string?)PlaceholderPattern().Replace(e.Value ?? "", "resource"));
        var recorded = new RecordingConfiguration(values);

        var (options, errors) = StartupOptions.Read(recorded.Root);

        Assert.Empty(errors);
        var unread = values.Keys.Select(RecordingConfiguration.Normalize).Where(k => !recorded.LookedUp.Contains(k) && !HostSettings.Contains(k)).ToList();
        Assert.Empty(unread);
    }

    [Fact]
    public void ReadmeConfigurationReference_MatchesWhatTheCodeReads()
    {
        var documented = ReadmeSettings();

        // The code's settings surface: every key looked up while reading the deployed, the local and a fully documented configuration.
        var surface = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var scenario in new[] { InfraSettings(), LocalSettingsSample(), documented.ToDictionary(k => k.Replace("{i}", "0", StringComparison.Ordinal), k => (string?)SampleValue(k)) })
        {
            var recorded = new RecordingConfiguration(scenario);
            ProxyOptionsReader.Read(recorded.Root, []);
            surface.UnionWith(recorded.LookedUp);
        }

        var documentedButNotRead = documented.Where(k => !surface.Contains(k)).ToList();
        // A list's parent ("Proxy:Auth:ClientKeys" of "Proxy:Auth:ClientKeys:{i}") is looked up only to refuse a plain value.
        var readButNotDocumented = surface
            .Where(k => !documented.Contains(k) && !HostSettings.Contains(k) && !documented.Contains(k + ":{i}"))
            .ToList();
        Assert.Empty(documentedButNotRead);
        Assert.Empty(readButNotDocumented);
    }

    /// <summary>The app settings infra/ writes, named as in Bicep ('Proxy__Backends__${i}__Name' with i = 0), with representative values.</summary>
    private static Dictionary<string, string?> InfraSettings()
    {
        var names = Directory.GetFiles(RepoPaths.Of("infra"), "*.bicep", SearchOption.AllDirectories)
            .SelectMany(file => BicepSettingName().Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Value.Replace("${i}", "0", StringComparison.Ordinal)))
            .ToHashSet(StringComparer.Ordinal);
        Assert.Contains("Proxy__Backends__0__Endpoint", names);
        return names.ToDictionary(n => n, n => (string?)SampleValue(n));
    }

    private static Dictionary<string, string?> LocalSettingsSample()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(RepoPaths.Of("local.settings.sample.json")));
        return doc.RootElement.GetProperty("Values").EnumerateObject().ToDictionary(p => p.Name, p => (string?)p.Value.GetString());
    }

    /// <summary>Setting names of the README's "Configuration reference" table ("`A:b` / `:c`" names A:b and A:c).</summary>
    private static HashSet<string> ReadmeSettings()
    {
        var readme = File.ReadAllText(RepoPaths.Of("README.md"));
        var start = readme.IndexOf("\n## Configuration reference", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no 'Configuration reference' section");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? readme[start..] : readme[start..end];
        var settings = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in section.Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal)))
        {
            var names = CodeSpan().Matches(line.Split('|')[1]).Select(m => m.Groups[1].Value).ToList();
            foreach (var name in names)
            {
                settings.Add(RecordingConfiguration.Normalize(name.StartsWith(':') ? names[0][..names[0].LastIndexOf(':')] + name : name));
            }
        }

        Assert.NotEmpty(settings);
        return settings;
    }

    /// <summary>A valid value for a setting, by what its name says it holds.</summary>
    private static string SampleValue(string key)
    {
        var name = RecordingConfiguration.Normalize(key).Split(':')[^1];
        return name switch
        {
            "Endpoint" => "https://resource.openai.azure.com/",
            "Name" => "backend",
            "Priority" or "Weight" => "1",
            "{i}" when key.Contains("AllowedOrigins", StringComparison.Ordinal) => "https://chat.contoso.com",
            "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT" => "209715200",
            "ApiKey" => "backend-key-0123456789abcdef0123456789abcdef",
            "Backend" => "Identity",
            "IdentityClientId" or "TenantId" or "clientId" or "{i}" when !key.Contains("ClientKeys", StringComparison.Ordinal) => "00000000-0000-0000-0000-000000000001",
            "{i}" => "client-key-0123456789abcdef0123456789abcdef",
            "Audience" => "https://cognitiveservices.azure.com",
            "Instance" => "https://login.microsoftonline.com/",
            "AllowAnonymousCallers" => "false",
            "AzureWebJobsStorage" => "UseDevelopmentStorage=true",
            "accountName" => "account",
            "tableServiceUri" or "blobServiceUri" or "queueServiceUri" => "https://account.table.core.windows.net",
            "credential" => "managedidentity",
            "TableName" => "aoaiproxystate",
            "MaxRequestBodyBytes" => "1048576",
            _ when name.EndsWith("Seconds", StringComparison.Ordinal) || name.EndsWith("Milliseconds", StringComparison.Ordinal) => "30",
            _ => "value",
        };
    }

    [GeneratedRegex(@"name:\s*'((?:Proxy__|AzureWebJobsStorage|APPLICATIONINSIGHTS_|FUNCTIONS_|WEBSITE_)[^']*)'")]
    private static partial Regex BicepSettingName();

    [GeneratedRegex(@"<[^>]+>")]
    private static partial Regex PlaceholderPattern();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex CodeSpan();
}
