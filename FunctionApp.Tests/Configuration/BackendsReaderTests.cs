using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Configuration;

/// <summary>Proxy:Backends:{i} as read at start-up: endpoints, names, priorities, weights, deployments, and each refusal.</summary>
public sealed class BackendsReaderTests
{
    private const string Endpoint0 = "https://first.openai.azure.com";

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
    public void Read_InvalidSetting_NamesTheSetting(string key, string value)
    {
        var error = Assert.Single(StartupOptions.ErrorsWith(key, value));

        Assert.Contains(key, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_InvalidEndpointOfThirdBackend_NamesItsIndex()
    {
        var (options, errors) = StartupOptions.Read(
            ("Proxy:Backends:0:Endpoint", "https://a.openai.azure.com"),
            ("Proxy:Backends:1:Endpoint", "https://b.openai.azure.com"),
            ("Proxy:Backends:2:Endpoint", "http://c.openai.azure.com"));

        var error = Assert.Single(errors);
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

        var (options, errors) = StartupOptions.Read(settings);

        Assert.Empty(options.Backends);
        var error = Assert.Single(errors);
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
        var (options, errors) = StartupOptions.Read(("Proxy:Backends:0:Endpoint", endpoint), ("Proxy:Backends:0:Name", "b"));

        Assert.Empty(errors);
        Assert.Equal(new Uri(expected), Assert.Single(options.Backends).Endpoint);
    }

    [Theory]
    [InlineData("http://example.com")]
    [InlineData("http://10.0.0.1")]
    [InlineData("http://localhost.example.com")]
    [InlineData("http://[::2]")]
    public void Read_HttpToNonLoopback_Refused(string endpoint)
    {
        var (options, errors) = StartupOptions.Read(("Proxy:Backends:0:Endpoint", endpoint), ("Proxy:Backends:0:Name", "b"));

        var error = Assert.Single(errors);
        Assert.Contains("Proxy:Backends:0:Endpoint must be an absolute https URL", error, StringComparison.Ordinal);
        Assert.Empty(options.Backends);
    }

    [Fact]
    public void Read_TwoUnnamedLoopbackBackendsOnDifferentPorts_GetDistinctNames()
    {
        var (options, errors) = StartupOptions.Read(("Proxy:Backends:0:Endpoint", "http://127.0.0.1:5001"), ("Proxy:Backends:1:Endpoint", "http://127.0.0.1:5002"));

        Assert.Empty(errors);
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
        var (options, errors) = StartupOptions.Read(("Proxy:Backends:0:Endpoint", endpoint));

        Assert.Empty(errors);
        Assert.Equal(expected, Assert.Single(options.Backends).Name);
    }

    [Theory]
    [InlineData("same", "same")]
    [InlineData("Same", "sAME")]
    [InlineData("first", null)]
    [InlineData(null, "FIRST")]
    public void Read_DuplicateNames_Refused(string? name0, string? name1)
    {
        var (options, errors) = StartupOptions.Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Backends:0:Name", name0),
            ("Proxy:Backends:1:Endpoint", "https://first.openai.azure.com/other"),
            ("Proxy:Backends:1:Name", name1));

        var error = Assert.Single(errors);
        Assert.StartsWith("Proxy:Backends:1:Name ", error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Backends:0", error, StringComparison.Ordinal);
        Assert.Contains("unique", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_GapsInIndices_OrdersByIndex()
    {
        var (options, errors) = StartupOptions.Read(
            ("Proxy:Backends:10:Endpoint", "https://ten.openai.azure.com"),
            ("Proxy:Backends:2:Endpoint", "https://two.openai.azure.com"),
            ("Proxy:Backends:7:Endpoint", "https://seven.openai.azure.com"));

        Assert.Empty(errors);
        Assert.Equal(["two", "seven", "ten"], options.Backends.Select(b => b.Name));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("first")]
    public void Read_NonNumericIndex_Refused(string index)
    {
        var (options, errors) = StartupOptions.Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ($"Proxy:Backends:{index}:Endpoint", "https://other.openai.azure.com"));

        var error = Assert.Single(errors);
        Assert.StartsWith($"Proxy:Backends:{index} is not a backend index", error, StringComparison.Ordinal);
        Assert.Equal("first", Assert.Single(options.Backends).Name);
    }

    [Fact]
    public void Read_DeploymentsAsOneSettingOrAList_MappedPerBackend()
    {
        var (options, errors) = StartupOptions.Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Backends:0:Deployments", "gpt-4o,chat=gpt-4o-mini"),
            ("Proxy:Backends:1:Endpoint", "https://second.openai.azure.com"),
            ("Proxy:Backends:1:Deployments:0", "embed=text-embedding-3-large"),
            ("Proxy:Backends:1:Deployments:1", "gpt-4o"),
            ("Proxy:Backends:2:Endpoint", "https://third.openai.azure.com"));

        Assert.Empty(errors);
        Assert.Equal("gpt-4o-mini", options.Backends[0].DeploymentNameFor("chat"));
        Assert.Null(options.Backends[0].DeploymentNameFor("embed"));
        Assert.Equal("text-embedding-3-large", options.Backends[1].DeploymentNameFor("embed"));
        Assert.Equal("gpt-4o", options.Backends[1].DeploymentNameFor("gpt-4o"));
        Assert.Null(options.Backends[2].Deployments);
        Assert.Equal("anything", options.Backends[2].DeploymentNameFor("anything"));
    }

    [Theory]
    [InlineData("Proxy:Backends:0:Deployments", "a=b=c")]
    public void Read_InvalidRoutingSetting_ErrorNamingIt(string key, string value)
    {
        Assert.Contains(StartupOptions.ErrorsWith(key, value), e => e.StartsWith(key, StringComparison.Ordinal));
    }
}
