using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Configuration;

/// <summary>The rules between settings, checked at start-up with the problems of single settings.</summary>
public sealed class ProxyOptionsValidatorTests
{
    private const string Endpoint0 = "https://first.openai.azure.com";
    private const string LongKey = "0123456789abcdef0123456789abcdef";

    public static TheoryData<string, string> CredentialsWithoutCallerAuthentication() => new()
    {
        { "Proxy:Auth:Backend=Identity", "Proxy:Auth: the proxy calls the backends with its own credentials (Proxy:Auth:Backend=Identity) but no caller authentication is configured" },
        { "Proxy:Backends:0:ApiKey=backend-key-0123456789", "own credentials (Proxy:Backends:0:ApiKey) but no caller authentication is configured" },
        { "Proxy:Auth:Backend=Identity|Proxy:Backends:0:ApiKey=backend-key-0123456789", "(Proxy:Auth:Backend=Identity, Proxy:Backends:0:ApiKey)" },
        { "Proxy:Auth:Backend=Identity", "Set Proxy:Auth:EntraId:TenantId (Entra ID tokens, recommended" },
        { "Proxy:Auth:Backend=Identity", "Proxy:Auth:AllowAnonymousCallers=true accepts anyone" },
        { $"Proxy:Auth:AllowAnonymousCallers=true|Proxy:Auth:ClientKeys:0={LongKey}", "Proxy:Auth:AllowAnonymousCallers=true contradicts the configured caller authentication" },
    };

    [Theory]
    [InlineData("61", null)]
    [InlineData("20", "15")]
    public void Validate_DefaultCooldownAboveMax_Refused(string defaultSeconds, string? maxSeconds)
    {
        var (_, errors) = StartupOptions.Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Cooldown:DefaultSeconds", defaultSeconds),
            ("Proxy:Cooldown:MaxSeconds", maxSeconds));

        var error = Assert.Single(errors);
        Assert.Contains("Proxy:Cooldown:DefaultSeconds", error, StringComparison.Ordinal);
        Assert.Contains("Proxy:Cooldown:MaxSeconds", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_DefaultCooldownEqualToMax_Accepted()
    {
        var (options, errors) = StartupOptions.Read(
            ("Proxy:Backends:0:Endpoint", Endpoint0),
            ("Proxy:Cooldown:DefaultSeconds", "15"),
            ("Proxy:Cooldown:MaxSeconds", "15"));

        Assert.Empty(errors);
        Assert.Equal(options.MaxCooldown, options.DefaultThrottleCooldown);
    }

    [Theory]
    [MemberData(nameof(CredentialsWithoutCallerAuthentication))]
    public void Validate_CredentialsWithoutCallerAuthenticationOrAnonymousWithIt_ReportsTheRule(string settings, string expected)
    {
        var (_, errors) = StartupOptions.Read(AuthOptionsReaderTests.Configuration(settings));

        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_ProblemsOfSettingsAndRulesTogether_AllInOneFailure()
    {
        var configuration = AuthOptionsReaderTests.Configuration("Proxy:Backends:0:Weight=0|Proxy:Cooldown:DefaultSeconds=61|Proxy:Auth:Backend=Identity");
        var options = ProxyOptionsReader.Read(configuration, []);

        var result = new ProxyOptionsValidator(configuration).Validate(null, options);

        Assert.True(result.Failed);
        Assert.Collection(
            result.Failures,
            e => Assert.StartsWith("Proxy:Backends:0:Weight must be a whole number from 1 to 100; got '0'.", e, StringComparison.Ordinal),
            e => Assert.Equal("Proxy:Cooldown:DefaultSeconds (61) must not exceed Proxy:Cooldown:MaxSeconds (60).", e),
            e => Assert.StartsWith("Proxy:Auth: the proxy calls the backends with its own credentials (Proxy:Auth:Backend=Identity)", e, StringComparison.Ordinal));
    }
}
