using AoaiProxy.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace AoaiProxy.Tests.Auth;

public sealed class CallerCredentialTests
{
    [Theory]
    [InlineData(null, null, nameof(CallerCredentialKind.None), "")]
    [InlineData(null, "the-key", nameof(CallerCredentialKind.ApiKey), "the-key")]
    [InlineData(null, " the-key ", nameof(CallerCredentialKind.ApiKey), "the-key")]
    [InlineData(null, "", nameof(CallerCredentialKind.None), "")]
    [InlineData("Bearer eyJ.a.b", null, nameof(CallerCredentialKind.Bearer), "eyJ.a.b")]
    [InlineData("bearer the-key", null, nameof(CallerCredentialKind.Bearer), "the-key")]
    [InlineData("Bearer eyJ.a.b", "the-key", nameof(CallerCredentialKind.Bearer), "eyJ.a.b")]
    [InlineData("Bearer ", null, nameof(CallerCredentialKind.Unsupported), "")]
    [InlineData("Bearer", null, nameof(CallerCredentialKind.Unsupported), "")]
    [InlineData("Basic dXNlcjpwYXNz", null, nameof(CallerCredentialKind.Unsupported), "")]
    [InlineData("Bearerx token", null, nameof(CallerCredentialKind.Unsupported), "")]
    [InlineData("Bearer a|Bearer b", null, nameof(CallerCredentialKind.Ambiguous), "")]
    [InlineData(null, "k1|k2", nameof(CallerCredentialKind.Ambiguous), "")]
    public void From_Headers_AuthorizationFirstThenApiKey(string? authorization, string? apiKey, string kind, string value)
    {
        IHeaderDictionary headers = new HeaderDictionary();
        if (authorization is not null)
        {
            headers.Authorization = new StringValues(authorization.Split('|'));
        }

        if (apiKey is not null)
        {
            headers["api-key"] = new StringValues(apiKey.Split('|'));
        }

        var credential = CallerCredential.From(headers);

        Assert.Equal(kind, credential.Kind.ToString());
        Assert.Equal(value, credential.Value);
    }

    [Fact]
    public void ToString_Credential_ShowsTheKindOnly()
    {
        Assert.Equal("ApiKey", new CallerCredential(CallerCredentialKind.ApiKey, "secret-value").ToString());
    }

    [Theory]
    [InlineData("api-key", true)]
    [InlineData("API-KEY", true)]
    [InlineData("Authorization", true)]
    [InlineData("authorization", true)]
    [InlineData("x-ms-client-request-id", false)]
    [InlineData("Proxy-Authorization", false)]
    public void IsCredentialHeader_Name_TrueForApiKeyAndAuthorization(string name, bool expected)
    {
        Assert.Equal(expected, CallerCredential.IsCredentialHeader(name));
    }
}
