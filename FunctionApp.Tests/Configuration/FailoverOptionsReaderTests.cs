using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Configuration;

/// <summary>The timeouts, the failure rate and the cooldowns as read at start-up, and each refusal.</summary>
public sealed class FailoverOptionsReaderTests
{
    [Theory]
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
    public void Read_InvalidSetting_NamesTheSetting(string key, string value)
    {
        var error = Assert.Single(StartupOptions.ErrorsWith(key, value));

        Assert.Contains(key, error, StringComparison.Ordinal);
    }
}
