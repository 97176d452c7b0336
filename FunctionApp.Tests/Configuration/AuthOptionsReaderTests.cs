using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.Configuration;

/// <summary>Proxy:Auth and Proxy:Backends:{i}:ApiKey as read at start-up: values, and each refusal with its message.</summary>
public sealed class AuthOptionsReaderTests
{
    private const string Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    private const string ClientId = "5b0c1d7e-9d5a-4c1e-8f3e-2a6b7c8d9e0f";
    private const string LongKey = "0123456789abcdef0123456789abcdef";

    public static TheoryData<string, string> UnsafeOrInvalid() => new()
    {
        { "Proxy:Auth:Backend=Magic", "Proxy:Auth:Backend must be PassThrough (forward the caller's credentials) or Identity" },
        { "Proxy:Auth:Backend=1", "Proxy:Auth:Backend must be PassThrough" },
        { $"Proxy:Auth:Backend=Identity|Proxy:Auth:EntraId:TenantId=contoso.onmicrosoft.com", "Proxy:Auth:EntraId:TenantId must be the directory (tenant) id whose tokens callers present, a GUID; got 'contoso.onmicrosoft.com'" },
        { $"Proxy:Auth:EntraId:TenantId={Tenant}|Proxy:Auth:EntraId:Instance=http://login.example.com/", "Proxy:Auth:EntraId:Instance must be an absolute https URL of the Entra ID authority host" },
        { $"Proxy:Auth:EntraId:TenantId={Tenant}|Proxy:Auth:EntraId:Instance=login.microsoftonline.com", "Proxy:Auth:EntraId:Instance must be an absolute https URL" },
        { $"Proxy:Auth:EntraId:TenantId={Tenant}|Proxy:Auth:EntraId:Audience=https://cognitive services", "Proxy:Auth:EntraId:Audience must be the token audience (aud)" },
        { $"Proxy:Auth:EntraId:TenantId={Tenant}|Proxy:Auth:EntraId:AllowedCallers:0={ClientId}|Proxy:Auth:EntraId:AllowedCallers:1=chat-app", "Proxy:Auth:EntraId:AllowedCallers:1 must be the object id (oid) or app id (appid/azp) of a caller, a GUID; got 'chat-app'" },
        { $"Proxy:Auth:EntraId:TenantId={Tenant}|Proxy:Auth:EntraId:AllowedCallers={ClientId}", "Proxy:Auth:EntraId:AllowedCallers is a list: set Proxy:Auth:EntraId:AllowedCallers:0" },
        { "Proxy:Auth:EntraId:Audience=api://my-proxy", "Proxy:Auth:EntraId:TenantId is required when other Proxy:Auth:EntraId settings are set" },
        { "Proxy:Auth:ClientKeys:0=too-short-key", "Proxy:Auth:ClientKeys:0 must be at least 32 characters without spaces or control characters (value not shown)" },
        { "Proxy:Auth:ClientKeys:0=0123456789abcdef 0123456789abcdef", "Proxy:Auth:ClientKeys:0 must be at least 32 characters" },
        { $"Proxy:Auth:ClientKeys={LongKey}", "Proxy:Auth:ClientKeys is a list: set Proxy:Auth:ClientKeys:0, Proxy:Auth:ClientKeys:1, ... (environment variables Proxy__Auth__ClientKeys__0" },
        { $"Proxy:Auth:ClientKeys:first={LongKey}", "Proxy:Auth:ClientKeys:first is not a list index" },
        { "Proxy:Auth:AllowAnonymousCallers=yes", "Proxy:Auth:AllowAnonymousCallers must be true or false; got 'yes'" },
        { "Proxy:Auth:IdentityClientId=my-identity", "Proxy:Auth:IdentityClientId must be the client id of a user-assigned managed identity, a GUID; got 'my-identity'" },
        { $"Proxy:Backends:0:ApiKey=key with spaces|Proxy:Auth:ClientKeys:0={LongKey}", "Proxy:Backends:0:ApiKey must be the backend's key without spaces or control characters (value not shown)" },
    };

    [Theory]
    [MemberData(nameof(UnsafeOrInvalid))]
    public void Read_UnsafeOrInvalidSetting_ReportsItByName(string settings, string expected)
    {
        var (_, errors) = StartupOptions.Read(Configuration(settings));

        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Proxy:Auth:ClientKeys:0=too-short-key", "too-short-key")]
    [InlineData("Proxy:Backends:0:ApiKey=key with spaces|Proxy:Auth:ClientKeys:0=0123456789abcdef0123456789abcdef", "key with spaces")]
    public void Read_InvalidSecret_NeverRepeatsTheValue(string settings, string secret)
    {
        var (_, errors) = StartupOptions.Read(Configuration(settings));

        Assert.NotEmpty(errors);
        Assert.DoesNotContain(errors, e => e.Contains(secret, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Proxy:Auth:Backend=PassThrough")]
    [InlineData("Proxy:Auth:Backend=passthrough|Proxy:Auth:ClientKeys:0=" + LongKey)]
    [InlineData("Proxy:Auth:Backend=Identity|Proxy:Auth:EntraId:TenantId=" + Tenant)]
    [InlineData("Proxy:Auth:Backend=Identity|Proxy:Auth:ClientKeys:0=" + LongKey)]
    [InlineData("Proxy:Backends:0:ApiKey=backend-key-0123456789|Proxy:Auth:ClientKeys:0=" + LongKey)]
    [InlineData("Proxy:Auth:Backend=Identity|Proxy:Auth:AllowAnonymousCallers=true")]
    [InlineData("Proxy:Auth:Backend=Identity|Proxy:Auth:IdentityClientId=" + ClientId + "|Proxy:Auth:EntraId:TenantId=" + Tenant +
        "|Proxy:Auth:EntraId:Audience=https://cognitiveservices.azure.com")]
    [InlineData("Proxy:Auth:EntraId:TenantId=" + Tenant + "|Proxy:Auth:EntraId:Instance=http://127.0.0.1:5000|Proxy:Auth:EntraId:AllowedCallers:0=" + ClientId)]
    public void Read_SafeConfiguration_HasNoErrors(string settings)
    {
        var (_, errors) = StartupOptions.Read(Configuration(settings));

        Assert.Empty(errors);
    }

    [Fact]
    public void Read_NothingSet_PassThroughWithoutCallerAuthentication()
    {
        var auth = StartupOptions.Read(Configuration("")).Options.Auth;

        Assert.Equal(BackendAuthMode.PassThrough, auth.Backend);
        Assert.False(auth.AuthenticatesCallers);
        Assert.Null(auth.EntraId);
        Assert.Null(auth.IdentityClientId);
    }

    [Theory]
    [InlineData("", "https://cognitiveservices.azure.com", "https://login.microsoftonline.com/")]
    [InlineData("|Proxy:Auth:EntraId:Audience=https://cognitiveservices.azure.com/", "https://cognitiveservices.azure.com", "https://login.microsoftonline.com/")]
    [InlineData("|Proxy:Auth:EntraId:Audience=api://my-proxy|Proxy:Auth:EntraId:Instance=https://login.microsoftonline.us", "api://my-proxy", "https://login.microsoftonline.us/")]
    public void Read_EntraId_AudienceWithAndWithoutSlashAndInstanceEndingWithSlash(string extra, string audience, string instance)
    {
        var entraId = StartupOptions.Read(Configuration($"Proxy:Auth:EntraId:TenantId={Tenant}" + extra)).Options.Auth.EntraId!;

        Assert.Equal([audience, audience + "/"], entraId.Audiences);
        Assert.Equal(instance, entraId.Instance.ToString());
        Assert.Equal([$"https://sts.windows.net/{Tenant}/", $"{instance}{Tenant}/v2.0"], entraId.Issuers);
        Assert.Equal(new Uri($"{instance}{Tenant}/v2.0/.well-known/openid-configuration"), entraId.MetadataAddress);
    }

    [Fact]
    public void Read_AllowedCallersAndKeys_InIndexOrder()
    {
        var other = Guid.NewGuid();
        var auth = StartupOptions.Read(Configuration(
            $"Proxy:Auth:EntraId:TenantId={Tenant}|Proxy:Auth:EntraId:AllowedCallers:1={ClientId.ToUpperInvariant()}|Proxy:Auth:EntraId:AllowedCallers:0={other}" +
            $"|Proxy:Auth:ClientKeys:1={LongKey}-second|Proxy:Auth:ClientKeys:0={LongKey}")).Options.Auth;

        Assert.Equal(new HashSet<Guid> { Guid.Parse(ClientId), other }, auth.EntraId!.AllowedCallers);
        Assert.Equal([LongKey, LongKey + "-second"], auth.ClientKeys);
    }

    [Fact]
    public void Read_BackendApiKey_OnThatBackendOnlyAndNeverInItsText()
    {
        var (options, _) = StartupOptions.Read(Configuration(
            $"Proxy:Backends:0:ApiKey=backend-key-0123456789|Proxy:Backends:1:Endpoint=https://b.openai.azure.com|Proxy:Auth:ClientKeys:0={LongKey}"));

        Assert.Equal("backend-key-0123456789", options.Backends[0].ApiKey!.Value);
        Assert.Null(options.Backends[1].ApiKey);
        Assert.DoesNotContain("backend-key-0123456789", options.Backends[0].ToString(), StringComparison.Ordinal);
    }

    /// <summary>One valid backend plus "key=value|key=value" settings.</summary>
    internal static IConfiguration Configuration(string settings)
    {
        var values = new Dictionary<string, string?> { ["Proxy:Backends:0:Endpoint"] = "https://a.openai.azure.com" };
        foreach (var pair in settings.Split('|', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            values[pair[..at]] = pair[(at + 1)..];
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }
}
