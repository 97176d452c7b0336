using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Configuration;

/// <summary>The shared state, affinity and replay settings as read at start-up, and each refusal.</summary>
public sealed class StateOptionsReaderTests
{
    private const string Endpoint0 = "https://first.openai.azure.com";

    [Theory]
    [InlineData("Proxy:State:TimeoutMilliseconds", "0")]
    [InlineData("Proxy:State:TimeoutMilliseconds", "-100")]
    [InlineData("Proxy:State:TimeoutMilliseconds", "3600001")]
    [InlineData("Proxy:State:TimeoutMilliseconds", "fast")]
    public void Read_InvalidSetting_NamesTheSetting(string key, string value)
    {
        var error = Assert.Single(StartupOptions.ErrorsWith(key, value));

        Assert.Contains(key, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_AffinityAndReplay_DefaultsAndGiven()
    {
        var (defaults, _) = StartupOptions.Read(("Proxy:Backends:0:Endpoint", Endpoint0));
        var (given, _) = StartupOptions.Read(("Proxy:Backends:0:Endpoint", Endpoint0), ("Proxy:Affinity:ExpiryDays", "7.5"), ("Proxy:Replay:StatefulRequests", "true"));

        Assert.Equal(TimeSpan.FromDays(30), defaults.AffinityExpiry);
        Assert.False(defaults.ReplayStatefulRequests);
        Assert.Equal(TimeSpan.FromDays(7.5), given.AffinityExpiry);
        Assert.True(given.ReplayStatefulRequests);
    }

    [Theory]
    [InlineData("Proxy:Affinity:ExpiryDays", "0")]
    [InlineData("Proxy:Affinity:ExpiryDays", "400")]
    [InlineData("Proxy:Replay:StatefulRequests", "yes")]
    public void Read_InvalidRoutingSetting_ErrorNamingIt(string key, string value)
    {
        Assert.Contains(StartupOptions.ErrorsWith(key, value), e => e.StartsWith(key, StringComparison.Ordinal));
    }
}
