using AoaiProxy.Configuration;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.Configuration;

public class ProxyOptionsReaderTests
{
    private const string Endpoint0 = "https://first.openai.azure.com";

    [Fact]
    public void Read_OnlyOneEndpoint_UsesDefaults()
    {
        var options = Read(("Proxy:Backends:0:Endpoint", Endpoint0));

        Assert.Empty(options.Errors);
        var backend = Assert.Single(options.Backends);
        Assert.Equal(new BackendOptions("first", new Uri("https://first.openai.azure.com/"), ProxyOptions.DefaultPriority, ProxyOptions.DefaultWeight), backend);
        Assert.Equal(ProxyOptions.DefaultMaxRequestBodyBytes, options.MaxRequestBodyBytes);
        Assert.Equal(ProxyOptions.DefaultMaxDecodedBodyBytes, options.MaxDecodedBodyBytes);
        Assert.Equal(ProxyOptions.DefaultRequestTimeout, options.RequestTimeout);
        Assert.Equal(ProxyOptions.DefaultRelayIdleTimeout, options.RelayIdleTimeout);
        Assert.Equal(ProxyOptions.DefaultFailureRatio, options.FailureRatio);
        Assert.Equal(ProxyOptions.DefaultFailureMinimumRequests, options.FailureMinimumRequests);
        Assert.Equal(ProxyOptions.DefaultFailureSamplingDuration, options.FailureSamplingDuration);
        Assert.Equal(ProxyOptions.DefaultCooldown, options.DefaultThrottleCooldown);
        Assert.Equal(ProxyOptions.DefaultMaxCooldown, options.MaxCooldown);
        Assert.Equal(ProxyOptions.DefaultFailureCooldown, options.FailureCooldown);
        Assert.Equal(ProxyOptions.DefaultStateTimeout, options.StateTimeout);
    }

    [Fact]
    public void Read_EverySettingGiven_UsesThem()
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", " https://first.openai.azure.com/gateway/ "),
            ("Proxy:Backends:0:Name", "primary"),
            ("Proxy:Backends:0:Priority", "2"),
            ("Proxy:Backends:0:Weight", "7"),
            ("Proxy:MaxRequestBodyBytes", "1024"),
            ("Proxy:MaxDecodedBodyBytes", "2097152"),
            ("Proxy:RequestTimeoutSeconds", "30"),
            ("Proxy:RelayIdleTimeoutSeconds", "12"),
            ("Proxy:FailureRate:Ratio", "0.25"),
            ("Proxy:FailureRate:MinimumRequests", "4"),
            ("Proxy:FailureRate:SamplingSeconds", "9"),
            ("Proxy:Cooldown:DefaultSeconds", "2.5"),
            ("Proxy:Cooldown:MaxSeconds", "90"),
            ("Proxy:Cooldown:FailureSeconds", "3"),
            ("Proxy:State:TimeoutMilliseconds", "250"));

        Assert.Empty(options.Errors);
        Assert.Equal(new BackendOptions("primary", new Uri("https://first.openai.azure.com/gateway/"), 2, 7), Assert.Single(options.Backends));
        Assert.Equal(1024, options.MaxRequestBodyBytes);
        Assert.Equal(2097152, options.MaxDecodedBodyBytes);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RequestTimeout);
        Assert.Equal(TimeSpan.FromSeconds(12), options.RelayIdleTimeout);
        Assert.Equal(0.25, options.FailureRatio);
        Assert.Equal(4, options.FailureMinimumRequests);
        Assert.Equal(TimeSpan.FromSeconds(9), options.FailureSamplingDuration);
        Assert.Equal(TimeSpan.FromSeconds(2.5), options.DefaultThrottleCooldown);
        Assert.Equal(TimeSpan.FromSeconds(90), options.MaxCooldown);
        Assert.Equal(TimeSpan.FromSeconds(3), options.FailureCooldown);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.StateTimeout);
    }

    [Theory]
    [InlineData("Proxy:Backends:0:Endpoint", "")]
    [InlineData("Proxy:Backends:0:Endpoint", "   ")]
    [InlineData("Proxy:Backends:0:Endpoint", "not a url")]
    [InlineData("Proxy:Backends:0:Endpoint", "first.openai.azure.com")]
    [InlineData("Proxy:Backends:0:Endpoint", "/relative")]
    [InlineData("Proxy:Backends:0:Endpoint", "ftp://first.openai.azure.com")]
    [InlineData("Proxy:Backends:0:Endpoint", "http://first.openai.azure.com")]
    [InlineData("Proxy:Backends:0:Endpoint", "https://first.openai.azure.com/openai")]
    [InlineData("Proxy:Backends:0:Endpoint", "https://first.openai.azure.com/openai/")]
    [InlineData("Proxy:Backends:0:Endpoint", "https://first.openai.azure.com/OpenAI/deployments")]
    [InlineData("Proxy:Backends:0:Endpoint", "https://first.openai.azure.com/?api-version=1")]
    [InlineData("Proxy:Backends:0:Endpoint", "https://first.openai.azure.com/#fragment")]
    [InlineData("Proxy:Backends:0:Endpoint", "https://user:secret@first.openai.azure.com/")]
    [InlineData("Proxy:Backends:0:Name", "has space")]
    [InlineData("Proxy:Backends:0:Name", "slash/name")]
    [InlineData("Proxy:Backends:0:Name", "ünicode")]
    [InlineData("Proxy:Backends:0:Name", "a123456789b123456789c123456789d123456789e123456789f123456789g12345")]
    [InlineData("Proxy:Backends:0:Priority", "-1")]
    [InlineData("Proxy:Backends:0:Priority", "1001")]
    [InlineData("Proxy:Backends:0:Priority", "1.5")]
    [InlineData("Proxy:Backends:0:Priority", "high")]
    [InlineData("Proxy:Backends:0:Weight", "0")]
    [InlineData("Proxy:Backends:0:Weight", "-3")]
    [InlineData("Proxy:Backends:0:Weight", "101")]
    [InlineData("Proxy:Backends:0:Weight", "99999999999999999999")]
    [InlineData("Proxy:Backends:0:Weight", "heavy")]
    [InlineData("Proxy:MaxRequestBodyBytes", "0")]
    [InlineData("Proxy:MaxRequestBodyBytes", "-1")]
    [InlineData("Proxy:MaxRequestBodyBytes", "1MB")]
    [InlineData("Proxy:MaxDecodedBodyBytes", "1048575")]
    [InlineData("Proxy:MaxDecodedBodyBytes", "1073741825")]
    [InlineData("Proxy:MaxDecodedBodyBytes", "64MiB")]
    [InlineData("Proxy:ResponseHeadersTimeoutSeconds", "120")]
    [InlineData("Proxy:RequestTimeoutSeconds", "0")]
    [InlineData("Proxy:RequestTimeoutSeconds", "3601")]
    [InlineData("Proxy:RelayIdleTimeoutSeconds", "-1")]
    [InlineData("Proxy:FailureRate:Ratio", "0")]
    [InlineData("Proxy:FailureRate:Ratio", "1.5")]
    [InlineData("Proxy:FailureRate:Ratio", "half")]
    [InlineData("Proxy:FailureRate:MinimumRequests", "1")]
    [InlineData("Proxy:FailureRate:SamplingSeconds", "0.2")]
    [InlineData("Proxy:Cooldown:FailureSeconds", "0.1")]
    [InlineData("Proxy:Cooldown:DefaultSeconds", "-1")]
    [InlineData("Proxy:Cooldown:DefaultSeconds", "soon")]
    [InlineData("Proxy:Cooldown:MaxSeconds", "0")]
    [InlineData("Proxy:Cooldown:MaxSeconds", "NaN")]
    [InlineData("Proxy:Cooldown:MaxSeconds", "Infinity")]
    [InlineData("Proxy:Cooldown:MaxSeconds", "1e9")]
    [InlineData("Proxy:Cooldown:MaxSeconds", "ten")]
    [InlineData("Proxy:Cooldown:FailureSeconds", "-0.5")]
    [InlineData("Proxy:State:TimeoutMilliseconds", "0")]
    [InlineData("Proxy:State:TimeoutMilliseconds", "-100")]
    [InlineData("Proxy:State:TimeoutMilliseconds", "3600001")]
    [InlineData("Proxy:State:TimeoutMilliseconds", "fast")]
    public void Read_InvalidSetting_NamesTheSetting(string key, string value)
    {
        var settings = new Dictionary<string, string?> { ["Proxy:Backends:0:Endpoint"] = Endpoint0, [key] = value };

        var options = Read(settings);

        var error = Assert.Single(options.Errors);
        Assert.Contains(key, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_InvalidEndpointOfThirdBackend_NamesItsIndex()
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", "https://a.openai.azure.com"),
            ("Proxy:Backends:1:Endpoint", "https://b.openai.azure.com"),
            ("Proxy:Backends:2:Endpoint", "http://c.openai.azure.com"));

        var error = Assert.Single(options.Errors);
        Assert.StartsWith("Proxy:Backends:2:Endpoint ", error, StringComparison.Ordinal);
        Assert.Equal(["a", "b"], options.Backends.Select(b => b.Name));
    }

    [Theory]
    [InlineData("Proxy:MaxRequestBodyBytes", "100")]
    [InlineData("Proxy:Cooldown:MaxSeconds", "30")]
    [InlineData(null, null)]
    public void Read_NoBackends_ExplainsHowToConfigureThem(string? key, string? value)
    {
        var settings = new Dictionary<string, string?>();
        if (key is not null)
        {
            settings[key] = value;
        }

        var options = Read(settings);

        Assert.Empty(options.Backends);
        var error = Assert.Single(options.Errors);
        Assert.Contains("Proxy:Backends", error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Backends:0:Endpoint=https://", error, StringComparison.Ordinal);
        Assert.Contains("Proxy__Backends__0__Endpoint", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5001", "http://127.0.0.1:5001/")]
    [InlineData("http://localhost:5001", "http://localhost:5001/")]
    [InlineData("http://[::1]:5001", "http://[::1]:5001/")]
    [InlineData("http://LOCALHOST", "http://localhost/")]
    [InlineData("https://first.openai.azure.com", "https://first.openai.azure.com/")]
    [InlineData("https://first.openai.azure.com/", "https://first.openai.azure.com/")]
    [InlineData("https://apim.example.com/aoai", "https://apim.example.com/aoai/")]
    [InlineData("https://apim.example.com/aoai/", "https://apim.example.com/aoai/")]
    [InlineData("https://apim.example.com/openaiish", "https://apim.example.com/openaiish/")]
    public void Read_AllowedEndpoint_EndsWithSlash(string endpoint, string expected)
    {
        var options = Read(("Proxy:Backends:0:Endpoint", endpoint), ("Proxy:Backends:0:Name", "b"));

        Assert.Empty(options.Errors);
        Assert.Equal(new Uri(expected), Assert.Single(options.Backends).Endpoint);
    }

    [Theory]
    [InlineData("http://example.com")]
    [InlineData("http://10.0.0.1")]
    [InlineData("http://localhost.example.com")]
    [InlineData("http://[::2]")]
    public void Read_HttpToNonLoopback_Refused(string endpoint)
    {
        var options = Read(("Proxy:Backends:0:Endpoint", endpoint), ("Proxy:Backends:0:Name", "b"));

        var error = Assert.Single(options.Errors);
        Assert.Contains("Proxy:Backends:0:Endpoint must be an absolute https URL", error, StringComparison.Ordinal);
        Assert.Empty(options.Backends);
    }

    [Fact]
    public void Read_TwoUnnamedLoopbackBackendsOnDifferentPorts_GetDistinctNames()
    {
        var options = Read(("Proxy:Backends:0:Endpoint", "http://127.0.0.1:5001"), ("Proxy:Backends:1:Endpoint", "http://127.0.0.1:5002"));

        Assert.Empty(options.Errors);
        Assert.Equal(["127.0.0.1-5001", "127.0.0.1-5002"], options.Backends.Select(b => b.Name));
    }

    [Theory]
    [InlineData("https://my-resource.openai.azure.com", "my-resource")]
    [InlineData("https://My-Resource.openai.azure.com/", "my-resource")]
    [InlineData("https://gateway.example.com/aoai", "gateway")]
    [InlineData("https://single-label", "single-label")]
    [InlineData("http://127.0.0.1:5001", "127.0.0.1-5001")]
    [InlineData("http://localhost:5002/", "localhost-5002")]
    [InlineData("http://[::1]:5003", "--1-5003")]
    [InlineData("https://10.0.0.4", "10.0.0.4-443")]
    public void Read_NoName_NamedAfterFirstHostLabel(string endpoint, string expected)
    {
        var options = Read(("Proxy:Backends:0:Endpoint", endpoint));

        Assert.Empty(options.Errors);
        Assert.Equal(expected, Assert.Single(options.Backends).Name);
    }

    [Theory]
    [InlineData("same", "same")]
    [InlineData("Same", "sAME")]
    [InlineData("first", null)]
    [InlineData(null, "FIRST")]
    public void Read_DuplicateNames_Refused(string? name0, string? name1)
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Backends:0:Name", name0),
            ("Proxy:Backends:1:Endpoint", "https://first.openai.azure.com/other"),
            ("Proxy:Backends:1:Name", name1));

        var error = Assert.Single(options.Errors);
        Assert.StartsWith("Proxy:Backends:1:Name ", error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Backends:0", error, StringComparison.Ordinal);
        Assert.Contains("unique", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_SeveralProblems_ReportsAllAtOnce()
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", "http://first.openai.azure.com"),
            ("Proxy:Backends:1:Endpoint", Endpoint0),
            ("Proxy:Backends:1:Weight", "0"),
            ("Proxy:Backends:2:Name", "no-endpoint"),
            ("Proxy:Cooldown:MaxSeconds", "-1"),
            ("Proxy:State:TimeoutMilliseconds", "x"));

        Assert.Collection(
            options.Errors,
            e => Assert.StartsWith("Proxy:Backends:0:Endpoint ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Backends:1:Weight ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Backends:2:Endpoint ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Cooldown:MaxSeconds ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:State:TimeoutMilliseconds ", e, StringComparison.Ordinal));
    }

    [Fact]
    public void Read_GapsInIndices_OrdersByIndex()
    {
        var options = Read(
            ("Proxy:Backends:10:Endpoint", "https://ten.openai.azure.com"),
            ("Proxy:Backends:2:Endpoint", "https://two.openai.azure.com"),
            ("Proxy:Backends:7:Endpoint", "https://seven.openai.azure.com"));

        Assert.Empty(options.Errors);
        Assert.Equal(["two", "seven", "ten"], options.Backends.Select(b => b.Name));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("first")]
    public void Read_NonNumericIndex_Refused(string index)
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ($"Proxy:Backends:{index}:Endpoint", "https://other.openai.azure.com"));

        var error = Assert.Single(options.Errors);
        Assert.StartsWith($"Proxy:Backends:{index} is not a backend index", error, StringComparison.Ordinal);
        Assert.Equal("first", Assert.Single(options.Backends).Name);
    }

    [Theory]
    [InlineData("61", null)]
    [InlineData("20", "15")]
    public void Read_DefaultCooldownAboveMax_Refused(string defaultSeconds, string? maxSeconds)
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Cooldown:DefaultSeconds", defaultSeconds),
            ("Proxy:Cooldown:MaxSeconds", maxSeconds));

        var error = Assert.Single(options.Errors);
        Assert.Contains("Proxy:Cooldown:DefaultSeconds", error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Cooldown:MaxSeconds", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_DefaultCooldownEqualToMax_Accepted()
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Cooldown:DefaultSeconds", "15"),
            ("Proxy:Cooldown:MaxSeconds", "15"));

        Assert.Empty(options.Errors);
        Assert.Equal(options.MaxCooldown, options.DefaultThrottleCooldown);
    }

    [Fact]
    public void Read_DeploymentsAsOneSettingOrAList_MappedPerBackend()
    {
        var options = Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Backends:0:Deployments", "gpt-4o,chat=gpt-4o-mini"),
            ("Proxy:Backends:1:Endpoint", "https://second.openai.azure.com"),
            ("Proxy:Backends:1:Deployments:0", "embed=text-embedding-3-large"),
            ("Proxy:Backends:1:Deployments:1", "gpt-4o"),
            ("Proxy:Backends:2:Endpoint", "https://third.openai.azure.com"));

        Assert.Empty(options.Errors);
        Assert.Equal("gpt-4o-mini", options.Backends[0].DeploymentNameFor("chat"));
        Assert.Null(options.Backends[0].DeploymentNameFor("embed"));
        Assert.Equal("text-embedding-3-large", options.Backends[1].DeploymentNameFor("embed"));
        Assert.Equal("gpt-4o", options.Backends[1].DeploymentNameFor("gpt-4o"));
        Assert.Null(options.Backends[2].Deployments);
        Assert.Equal("anything", options.Backends[2].DeploymentNameFor("anything"));
    }

    [Fact]
    public void Read_AffinityAndReplay_DefaultsAndGiven()
    {
        var defaults = Read(("Proxy:Backends:0:Endpoint", Endpoint0));
        var given = Read(("Proxy:Backends:0:Endpoint", Endpoint0), ("Proxy:Affinity:ExpiryDays", "7.5"), ("Proxy:Replay:StatefulRequests", "true"));

        Assert.Equal(TimeSpan.FromDays(30), defaults.AffinityExpiry);
        Assert.False(defaults.ReplayStatefulRequests);
        Assert.Equal(TimeSpan.FromDays(7.5), given.AffinityExpiry);
        Assert.True(given.ReplayStatefulRequests);
    }

    [Theory]
    [InlineData("Proxy:Affinity:ExpiryDays", "0")]
    [InlineData("Proxy:Affinity:ExpiryDays", "400")]
    [InlineData("Proxy:Replay:StatefulRequests", "yes")]
    [InlineData("Proxy:Backends:0:Deployments", "a=b=c")]
    public void Read_InvalidRoutingSetting_ErrorNamingIt(string key, string value)
    {
        var options = Read(("Proxy:Backends:0:Endpoint", Endpoint0), (key, value));

        Assert.Contains(options.Errors, e => e.StartsWith(key, StringComparison.Ordinal));
    }

    private static ProxyOptions Read(params (string Key, string? Value)[] settings) =>
        Read(settings.ToDictionary(s => s.Key, s => s.Value));

    private static ProxyOptions Read(Dictionary<string, string?> settings) =>
        ProxyOptionsReader.Read(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
}
