using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Configuration;

/// <summary>Reading section Proxy as a whole: defaults, every setting at once, the body limits, all problems together.</summary>
public sealed class ProxyOptionsReaderTests
{
    private const string Endpoint0 = "https://first.openai.azure.com";

    [Fact]
    public void Read_OnlyOneEndpoint_UsesDefaults()
    {
        var (options, errors) = StartupOptions.Read(("Proxy:Backends:0:Endpoint", Endpoint0));

        Assert.Empty(errors);
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
        var (options, errors) = StartupOptions.Read(
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

        Assert.Empty(errors);
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
    [InlineData("Proxy:MaxRequestBodyBytes", "0")]
    [InlineData("Proxy:MaxRequestBodyBytes", "-1")]
    [InlineData("Proxy:MaxRequestBodyBytes", "1MB")]
    [InlineData("Proxy:MaxDecodedBodyBytes", "1048575")]
    [InlineData("Proxy:MaxDecodedBodyBytes", "1073741825")]
    [InlineData("Proxy:MaxDecodedBodyBytes", "64MiB")]
    public void Read_InvalidSetting_NamesTheSetting(string key, string value)
    {
        var error = Assert.Single(StartupOptions.ErrorsWith(key, value));

        Assert.Contains(key, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_SeveralProblems_ReportsAllAtOnce()
    {
        var (options, errors) = StartupOptions.Read(
            ("Proxy:Backends:0:Endpoint", "http://first.openai.azure.com"),
            ("Proxy:Backends:1:Endpoint", Endpoint0),
            ("Proxy:Backends:1:Weight", "0"),
            ("Proxy:Backends:2:Name", "no-endpoint"),
            ("Proxy:Cooldown:MaxSeconds", "-1"),
            ("Proxy:State:TimeoutMilliseconds", "x"));

        Assert.Collection(
            errors,
            e => Assert.StartsWith("Proxy:Backends:0:Endpoint ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Backends:1:Weight ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Backends:2:Endpoint ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:Cooldown:MaxSeconds ", e, StringComparison.Ordinal),
            e => Assert.StartsWith("Proxy:State:TimeoutMilliseconds ", e, StringComparison.Ordinal));
    }
}
