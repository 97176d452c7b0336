using System.Net;
using AoaiProxy.Tests.EndToEnd;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Auth;

/// <summary>Pre-release review of the credential hygiene: each test fails on main at the time of the review.</summary>
public sealed class AuthReviewTests
{
    /// <summary>
    /// Finding 8. Only api-key and Authorization are stripped in Identity / per-backend-key modes. Ocp-Apim-Subscription-Key
    /// is the Azure AI services key header (and what API Management in front of Azure OpenAI expects): a caller's value
    /// goes to the backend next to the proxy's own token.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_IdentityMode_DoesNotForwardTheCallersSubscriptionKeyHeader()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var credential = new FakeTokenCredential();
        await using var proxy = await AuthEndToEndTests.StartAsync(backends, s =>
        {
            s["Proxy:Auth:Backend"] = "Identity";
            s.Keys();
        }, credential);
        using var request = new HttpRequestMessage(HttpMethod.Post, "openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21")
        {
            Content = ProxyEndToEndTests.Json("{}"),
        };
        request.Headers.Add("api-key", AuthEndToEndTests.ClientKey);
        request.Headers.Add("Ocp-Apim-Subscription-Key", "callers-own-azure-key");

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(backends[0].Requests.Single().Headers.ContainsKey("Ocp-Apim-Subscription-Key"));
    }
}
