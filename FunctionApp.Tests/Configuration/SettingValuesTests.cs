using AoaiProxy.Configuration;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.Configuration;

/// <summary>The shared reading primitives: value, fallback when unset, and the exact message when invalid.</summary>
public sealed class SettingValuesTests
{
    [Theory]
    [InlineData(null, 5L, null)]
    [InlineData(" 7 ", 7L, null)]
    [InlineData("0", 5L, "Proxy:N must be a whole number from 1 to 10; got '0'.")]
    [InlineData("1.5", 5L, "Proxy:N must be a whole number from 1 to 10; got '1.5'.")]
    public void WholeNumber_Value_ParsedOrRefused(string? value, long expected, string? error)
    {
        var (section, errors) = Setting("N", value);

        Assert.Equal(expected, SettingValues.WholeNumber(section, "N", 5, 1, 10, errors));
        AssertErrors(error, errors);
    }

    [Theory]
    [InlineData(null, 0.5, null)]
    [InlineData("1", 1.0, null)]
    [InlineData("0", 0.5, "Proxy:R must be a number greater than 0 and at most 1; got '0'.")]
    [InlineData("NaN", 0.5, "Proxy:R must be a number greater than 0 and at most 1; got 'NaN'.")]
    public void Ratio_Value_ParsedOrRefused(string? value, double expected, string? error)
    {
        var (section, errors) = Setting("R", value);

        Assert.Equal(expected, SettingValues.Ratio(section, "R", 0.5, errors));
        AssertErrors(error, errors);
    }

    [Theory]
    [InlineData("seconds", "2.5", 2500, null)]
    [InlineData("seconds", "3600", 3_600_000, null)]
    [InlineData("seconds", "3601", 1000, "Proxy:D must be a number of seconds greater than 0 and at most 3600; got '3601'.")]
    [InlineData("milliseconds", "250", 250, null)]
    [InlineData("milliseconds", "3600001", 1000, "Proxy:D must be a number of milliseconds greater than 0 and at most 3600000; got '3600001'.")]
    [InlineData("days", "7.5", 648_000_000, null)]
    [InlineData("days", "400", 1000, "Proxy:D must be a number of days greater than 0 and at most 366; got '400'.")]
    [InlineData("days", "-1", 1000, "Proxy:D must be a number of days greater than 0 and at most 366; got '-1'.")]
    [InlineData("seconds", null, 1000, null)]
    public void Duration_EachUnit_ParsedOrRefused(string unit, string? value, long expectedMs, string? error)
    {
        var (section, errors) = Setting("D", value);
        var fallback = TimeSpan.FromSeconds(1);

        var read = unit switch
        {
            "seconds" => SettingValues.Seconds(section, "D", fallback, errors),
            "milliseconds" => SettingValues.Milliseconds(section, "D", fallback, errors),
            _ => SettingValues.Days(section, "D", fallback, 366, errors),
        };

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), read);
        AssertErrors(error, errors);
    }

    [Theory]
    [InlineData(null, false, null)]
    [InlineData("True", true, null)]
    [InlineData("yes", false, "Proxy:B must be true or false; got 'yes'.")]
    public void Boolean_Value_ParsedOrRefused(string? value, bool expected, string? error)
    {
        var (section, errors) = Setting("B", value);

        Assert.Equal(expected, SettingValues.Boolean(section, "B", false, errors));
        AssertErrors(error, errors);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("5b0c1d7e-9d5a-4c1e-8f3e-2a6b7c8d9e0f", null)]
    [InlineData("contoso", "Proxy:G must be the tenant, a GUID; got 'contoso'.")]
    public void Guid_Value_ParsedOrRefused(string? value, string? error)
    {
        var (section, errors) = Setting("G", value);

        Assert.Equal(value is null || error is not null ? null : Guid.Parse(value), SettingValues.Guid(section, "G", "the tenant", errors));
        AssertErrors(error, errors);
    }

    [Fact]
    public void ListItems_IndexedValues_InIndexOrderSkippingEmptyAndNamingBadIndices()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:L:10"] = "ten", ["Proxy:L:2"] = " two ", ["Proxy:L:3"] = " ", ["Proxy:L:x"] = "bad",
        }).Build();
        var errors = new List<string>();

        var items = SettingValues.ListItems(configuration.GetSection("Proxy:L"), errors);

        Assert.Equal(["Proxy:L:2", "Proxy:L:10"], items.Select(i => i.Path));
        Assert.Equal("Proxy:L:x is not a list index: use Proxy:L:0, Proxy:L:1, ...", Assert.Single(errors));
    }

    [Fact]
    public void ListItems_PlainValue_SaysItIsAList()
    {
        var errors = new List<string>();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Proxy:L"] = "one" }).Build();

        Assert.Empty(SettingValues.ListItems(configuration.GetSection("Proxy:L"), errors));
        Assert.Equal("Proxy:L is a list: set Proxy:L:0, Proxy:L:1, ... (environment variables Proxy__L__0, ...).", Assert.Single(errors));
    }

    [Theory]
    [InlineData("http://localhost:5000", true)]
    [InlineData("http://127.0.0.2", true)]
    [InlineData("http://[::1]:5000", true)]
    [InlineData("http://10.0.0.1", false)]
    [InlineData("http://localhost.example.com", false)]
    public void IsLoopback_Host_OnlyLoopback(string uri, bool expected)
    {
        Assert.Equal(expected, SettingValues.IsLoopback(new Uri(uri)));
    }

    private static (IConfigurationSection Section, List<string> Errors) Setting(string key, string? value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"Proxy:{key}"] = value }).Build();
        return (configuration.GetSection("Proxy"), []);
    }

    private static void AssertErrors(string? expected, List<string> errors)
    {
        if (expected is null)
        {
            Assert.Empty(errors);
        }
        else
        {
            Assert.Equal(expected, Assert.Single(errors));
        }
    }
}
