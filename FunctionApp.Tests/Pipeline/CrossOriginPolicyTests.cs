using AoaiProxy.Configuration;
using AoaiProxy.Pipeline;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.Pipeline;

public sealed class CrossOriginPolicyTests
{
    [Theory]
    [InlineData(true, "OPTIONS", true, true, "AnswerPreflight")]
    [InlineData(true, "options", true, true, "AnswerPreflight")]
    [InlineData(true, "OPTIONS", true, false, "DecorateResponse")]
    [InlineData(true, "POST", true, true, "DecorateResponse")]
    [InlineData(true, "OPTIONS", false, true, "None")]
    [InlineData(true, "POST", false, false, "None")]
    [InlineData(false, "OPTIONS", true, true, "DecorateResponse")]
    [InlineData(false, "POST", true, false, "DecorateResponse")]
    public void Decide_Request_ActionLikeCorsMiddleware(bool configured, string method, bool hasOrigin, bool hasRequestMethod, string expected) =>
        Assert.Equal(expected, CrossOriginPolicy.Decide(configured, method, hasOrigin, hasRequestMethod).ToString());

    [Fact]
    public void ReadOrigins_ListedOrigins_LowercasedInIndexOrder()
    {
        var origins = Read(("Proxy:Cors:AllowedOrigins:1", "http://localhost:5173"), ("Proxy:Cors:AllowedOrigins:0", " https://Chat.Contoso.com ")).Origins;

        Assert.Equal(["https://chat.contoso.com", "http://localhost:5173"], origins);
    }

    [Fact]
    public void ReadOrigins_None_EmptyAndNoPolicy()
    {
        var (origins, errors) = Read();

        Assert.Empty(origins);
        Assert.Empty(errors);
        Assert.Null(CrossOriginPolicy.Build(origins));
    }

    [Fact]
    public void Build_StarAlone_AllowsAnyOrigin()
    {
        var policy = CrossOriginPolicy.Build(["*"])!;

        Assert.True(policy.AllowAnyOrigin);
        Assert.False(policy.SupportsCredentials);
        Assert.Contains("x-proxy-backend", policy.ExposedHeaders);
    }

    [Theory]
    [InlineData("https://chat.contoso.com/", "Proxy:Cors:AllowedOrigins:0 must be an origin")]
    [InlineData("https://chat.contoso.com/app", "Proxy:Cors:AllowedOrigins:0 must be an origin")]
    [InlineData("chat.contoso.com", "Proxy:Cors:AllowedOrigins:0 must be an origin")]
    [InlineData("ftp://chat.contoso.com", "Proxy:Cors:AllowedOrigins:0 must be an origin")]
    [InlineData("https://user@chat.contoso.com", "Proxy:Cors:AllowedOrigins:0 must be an origin")]
    public void ReadOrigins_NotAnOrigin_ErrorNamingTheSetting(string value, string error)
    {
        var (origins, errors) = Read(("Proxy:Cors:AllowedOrigins:0", value));

        Assert.Empty(origins);
        Assert.StartsWith(error, Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void ReadOrigins_StarWithOthers_Error()
    {
        var errors = Read(("Proxy:Cors:AllowedOrigins:0", "*"), ("Proxy:Cors:AllowedOrigins:1", "https://chat.contoso.com")).Errors;

        Assert.Contains(errors, e => e.StartsWith("Proxy:Cors:AllowedOrigins: * admits every origin", StringComparison.Ordinal));
    }

    [Fact]
    public void ReadOrigins_ScalarValue_ErrorSayingItIsAList()
    {
        var errors = Read(("Proxy:Cors:AllowedOrigins", "https://chat.contoso.com")).Errors;

        Assert.Contains(errors, e => e.StartsWith("Proxy:Cors:AllowedOrigins is a list", StringComparison.Ordinal));
    }

    private static (IReadOnlyList<string> Origins, List<string> Errors) Read(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        var errors = new List<string>();
        return (AllowedOriginsReader.ReadOrigins(configuration.GetSection("Proxy"), errors), errors);
    }
}
