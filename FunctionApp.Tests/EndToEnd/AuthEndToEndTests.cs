using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AoaiProxy.Auth;
using AoaiProxy.Tests.TestSupport;
using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>The three modes over real HTTP: who gets in, and what each backend receives.</summary>
public sealed class AuthEndToEndTests
{
    private const string ClientKey = AuthSettings.ClientKey;
    private const string SecondClientKey = AuthSettings.SecondClientKey;
    private const string KeyOfA = "backend-a-key-9f8e7d6c5b4a39281706";

    [Fact]
    public async Task ProxyAsync_IdentityModeWithClientKey_BackendGetsProxyTokenAndNoCallerCredential()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var credential = new FakeTokenCredential();
        await using var proxy = await StartAsync(backends, s => Identity(s).Keys(), credential);

        using (await SendAsync(proxy, apiKey: ClientKey)) { }
        using (await SendAsync(proxy, bearer: ClientKey)) { }

        Assert.All(backends[0].Requests, received =>
        {
            Assert.Equal("Bearer " + credential.TokenOf(1), received.Headers["Authorization"]);
            Assert.False(received.Headers.ContainsKey("api-key"));
        });
        Assert.Equal(2, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_IdentityModeWithEntraIdCaller_BackendGetsProxyTokenNotTheCallersToken()
    {
        await using var entra = await FakeEntraId.StartAsync();
        await using var backends = await FakeBackends.StartAsync("a");
        var credential = new FakeTokenCredential();
        await using var proxy = await StartAsync(backends, s => entra.AddSettings(Identity(s)), credential);
        var callerToken = entra.Issue(entra.Token(DateTimeOffset.UtcNow));

        using var response = await SendAsync(proxy, bearer: callerToken, apiKey: "stale-backend-key");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = backends[0].Requests.Single();
        Assert.Equal("Bearer " + credential.TokenOf(1), received.Headers["Authorization"]);
        Assert.False(received.Headers.ContainsKey("api-key"));
    }

    [Fact]
    public async Task ProxyAsync_PassThroughWithOneBackendKey_ThatBackendGetsItsKeyTheOtherNotTheProxysClientKey()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await StartAsync(backends, s => s.Keys()["Proxy:Backends:0:ApiKey"] = KeyOfA);

        await SendOncePerBackendAsync(proxy, backends, apiKey: ClientKey);

        // The caller's credential was one of the proxy's client keys: the proxy's secret, never a backend's.
        AssertOnlyItsOwnKey(backends[0]);
        Assert.False(backends[1].Requests.Single().Headers.ContainsKey("api-key"));
        Assert.False(backends[1].Requests.Single().Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task ProxyAsync_IdentityWithOneBackendKey_ThatBackendGetsItsKeyTheOtherTheProxyToken()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var credential = new FakeTokenCredential();
        await using var proxy = await StartAsync(backends, s => Identity(s).Keys()["Proxy:Backends:0:ApiKey"] = KeyOfA, credential);

        await SendOncePerBackendAsync(proxy, backends, bearer: ClientKey);

        AssertOnlyItsOwnKey(backends[0]);
        var atB = backends[1].Requests.Single();
        Assert.Equal("Bearer " + credential.TokenOf(1), atB.Headers["Authorization"]);
        Assert.False(atB.Headers.ContainsKey("api-key"));
    }

    [Fact]
    public async Task ProxyAsync_PassThroughWithClientKeysOnly_EnforcedAndTheProxysKeyNotForwarded()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends, s => s.Keys());

        using var without = await SendAsync(proxy);
        using var with = await SendAsync(proxy, apiKey: ClientKey);

        Assert.Equal(HttpStatusCode.Unauthorized, without.StatusCode);
        Assert.Equal(HttpStatusCode.OK, with.StatusCode);
        Assert.False(backends[0].Requests.Single().Headers.ContainsKey("api-key"));
    }

    [Theory]
    [InlineData(ClientKey, "api-key")]
    [InlineData(ClientKey, "bearer")]
    [InlineData(SecondClientKey, "api-key")]
    [InlineData(SecondClientKey, "bearer")]
    public async Task ProxyAsync_EachOfSeveralClientKeys_Admitted(string key, string form)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends, s => Identity(s).Keys(), new FakeTokenCredential());

        using var response = form == "api-key" ? await SendAsync(proxy, apiKey: key) : await SendAsync(proxy, bearer: key);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public static TheoryData<string, string?, string?, string> Refusals() => new()
    {
        { "missing", null, null, "No credentials." },
        { "wrong api-key", null, "client-key-three-0123456789abcdef01234567", "The api-key is not a valid client key for this proxy." },
        { "wrong bearer key", "Bearer client-key-three-0123456789abcdef01234567", null, "The bearer value is not a valid client key for this proxy." },
        { "basic", "Basic dXNlcjpwYXNz", null, "The Authorization header must be 'Bearer <token or key>'." },
        { "empty api-key", null, "", "No credentials." },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task ProxyAsync_MissingOrWrongCredential_401WithChallengeAndAzureErrorAndNoBackend(string name, string? authorization, string? apiKey, string message)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends, s => Identity(s).Keys(), new FakeTokenCredential());
        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        if (apiKey is not null)
        {
            request.Headers.TryAddWithoutValidation("api-key", apiKey);
        }

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = response.Headers.WwwAuthenticate.Single();
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.StartsWith("realm=\"aoai-proxy\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.Equal(name is not "missing" and not "empty api-key", challenge.Parameter!.Contains("error=\"invalid_token\"", StringComparison.Ordinal));
        var (code, text) = await AzureError.OfAsync(response);
        Assert.Equal("401", code);
        Assert.StartsWith(message, text, StringComparison.Ordinal);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_ClientKeyCheck_GoesThroughTheConstantTimeVerifier()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var spy = new SpyVerifier(new ClientKeyVerifier([ClientKey]));
        await using var proxy = await StartAsync(backends, s => Identity(s).Keys(), new FakeTokenCredential(),
            services => services.AddSingleton<IClientKeyVerifier>(spy));

        using var good = await SendAsync(proxy, apiKey: ClientKey);
        using var bad = await SendAsync(proxy, bearer: SecondClientKey);

        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        Assert.Equal([ClientKey, SecondClientKey], spy.Presented);
    }

    [Fact]
    public async Task ProxyAsync_EntraIdCallerNotInAllowList_403WithAzureErrorAndNoBackend()
    {
        await using var entra = await FakeEntraId.StartAsync();
        await using var backends = await FakeBackends.StartAsync("a");
        var allowed = Guid.NewGuid();
        await using var proxy = await StartAsync(backends, s =>
        {
            entra.AddSettings(Identity(s));
            s["Proxy:Auth:EntraId:AllowedCallers:0"] = allowed.ToString();
        }, new FakeTokenCredential());

        using var stranger = await SendAsync(proxy, bearer: entra.Issue(entra.Token(DateTimeOffset.UtcNow)));
        using var listed = await SendAsync(proxy, bearer: entra.Issue(entra.Token(DateTimeOffset.UtcNow) with { AppId = allowed.ToString() }));

        Assert.Equal(HttpStatusCode.Forbidden, stranger.StatusCode);
        Assert.Equal("PermissionDenied", (await AzureError.OfAsync(stranger)).Code);
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        Assert.Equal(1, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_EntraIdTokenExpired_401InvalidTokenNamingTheProblem()
    {
        await using var entra = await FakeEntraId.StartAsync();
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends, s => entra.AddSettings(Identity(s)), new FakeTokenCredential());
        var now = DateTimeOffset.UtcNow;

        using var response = await SendAsync(proxy, bearer: entra.Issue(entra.Token(now) with { NotBefore = now.AddHours(-2), Expires = now.AddHours(-1) }));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("error=\"invalid_token\"", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
        Assert.Equal("The bearer token has expired.", (await AzureError.OfAsync(response)).Message);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_EntraIdKeysUnreachable_503AndNoBackend()
    {
        await using var entra = await FakeEntraId.StartAsync();
        await using var backends = await FakeBackends.StartAsync("a");
        entra.Down = true;
        await using var proxy = await StartAsync(backends, s => entra.AddSettings(Identity(s)), new FakeTokenCredential());

        using var response = await SendAsync(proxy, bearer: entra.Issue(entra.Token(DateTimeOffset.UtcNow)));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("AuthenticationUnavailable", (await AzureError.OfAsync(response)).Code);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_ProxyTokenUnavailable_503NamingTheCauseWithRetryAfterAndNoBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var credential = new FakeTokenCredential { Failure = new CredentialUnavailableException("ManagedIdentityCredential authentication unavailable. No managed identity endpoint found.") };
        await using var proxy = await StartAsync(backends, s => Identity(s).Keys(), credential);

        using var response = await SendAsync(proxy, apiKey: ClientKey);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        var (code, message) = await AzureError.OfAsync(response);
        Assert.Equal("ProxyIdentityUnavailable", code);
        Assert.Contains("CredentialUnavailableException: ManagedIdentityCredential authentication unavailable.", message, StringComparison.Ordinal);
        Assert.All(backends.All, b => Assert.Equal(0, b.RequestCount));
    }

    [Fact]
    public async Task ProxyAsync_ManyConcurrentRequests_OneProxyTokenFetch()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var credential = new FakeTokenCredential { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var admission = new SpyVerifier(new ClientKeyVerifier([ClientKey, SecondClientKey]));
        await using var proxy = await StartAsync(backends, s => Identity(s).Keys(), credential, services => services.AddSingleton<IClientKeyVerifier>(admission));

        var requests = Enumerable.Range(0, 40).Select(_ => SendAsync(proxy, apiKey: ClientKey)).ToList();

        // All 40 are in the proxy at once, past its caller check, while the one fetch (started at start-up) is held: none
        // can be answered without the token.
        await Wait.UntilAsync(() => admission.Count == 40, "all 40 requests past the caller check");
        Assert.Equal(1, credential.Calls);
        Assert.DoesNotContain(requests, r => r.IsCompleted);
        Assert.All(backends.All, b => Assert.Equal(0, b.RequestCount));
        credential.Gate.SetResult();
        var responses = await Task.WhenAll(requests);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, credential.Calls);
        Assert.All(backends.All.SelectMany(b => b.Requests), r => Assert.Equal("Bearer " + credential.TokenOf(1), r.Headers["Authorization"]));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task StartAsync_AnonymousOptOut_LoudWarningAndAnyoneAdmitted()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var credential = new FakeTokenCredential();
        await using var proxy = await StartAsync(backends, s => Identity(s)["Proxy:Auth:AllowAnonymousCallers"] = "true", credential);

        using var response = await SendAsync(proxy);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var warning = Assert.Single(proxy.Logs.Named("AnonymousCallersAllowed"));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("ANONYMOUS CALLERS ALLOWED", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyAsync_EveryOutcome_NoProxyTokenBackendKeyOrCallerCredentialInLogsOrResponses()
    {
        await using var entra = await FakeEntraId.StartAsync();
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var credential = new FakeTokenCredential();
        var allowed = Guid.NewGuid();
        await using var proxy = await StartAsync(backends, s =>
        {
            entra.AddSettings(Identity(s).Keys());
            s["Proxy:Backends:0:ApiKey"] = KeyOfA;
            s["Proxy:Auth:EntraId:AllowedCallers:0"] = allowed.ToString();
        }, credential);
        var allowedToken = entra.Issue(entra.Token(DateTimeOffset.UtcNow) with { ObjectId = allowed.ToString() });
        var strangerToken = entra.Issue(entra.Token(DateTimeOffset.UtcNow));
        var expiredToken = entra.Issue(entra.Token(DateTimeOffset.UtcNow) with { NotBefore = DateTimeOffset.UtcNow.AddHours(-2), Expires = DateTimeOffset.UtcNow.AddHours(-1) });
        const string wrongKey = "wrong-key-0123456789abcdef0123456789abc";
        var seen = new StringBuilder();

        async Task Record(Task<HttpResponseMessage> sending)
        {
            using var response = await sending;
            seen.AppendLine(response.ToString()).AppendLine(response.Headers.ToString()).AppendLine(response.Content.Headers.ToString());
            seen.AppendLine(await response.Content.ReadAsStringAsync());
        }

        await Record(SendAsync(proxy, apiKey: ClientKey));
        await Record(SendAsync(proxy, bearer: allowedToken));
        await Record(SendAsync(proxy, bearer: strangerToken));
        await Record(SendAsync(proxy, bearer: expiredToken));
        await Record(SendAsync(proxy, apiKey: wrongKey));
        await Record(SendAsync(proxy, bearer: wrongKey));
        backends[0].Handler = FakeResponses.Throttle();
        backends[1].Handler = FakeResponses.Json(500, new { error = "boom" });
        await Record(SendAsync(proxy, apiKey: ClientKey));
        await Record(SendAsync(proxy, bearer: allowedToken));

        Assert.Equal(1, credential.Calls);
        var logs = proxy.Logs.AllText();
        string[] secrets = [credential.TokenOf(1), KeyOfA, ClientKey, wrongKey, allowedToken, strangerToken, expiredToken,
            allowedToken.Split('.')[2], strangerToken.Split('.')[1]];
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, logs, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, seen.ToString(), StringComparison.Ordinal);
        }

        Assert.NotEmpty(proxy.Logs.Named("CallerRefused"));
        Assert.NotEmpty(proxy.Logs.Named("CallerForbidden"));
    }

    /// <summary>Round robin: one successful request per backend.</summary>
    private static async Task SendOncePerBackendAsync(ProxyTestHost proxy, FakeBackends backends, string? apiKey = null, string? bearer = null)
    {
        foreach (var _ in backends.All)
        {
            using var response = await SendAsync(proxy, apiKey, bearer);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private static void AssertOnlyItsOwnKey(FakeOpenAIBackend backend)
    {
        var received = backend.Requests.Single();
        Assert.Equal(KeyOfA, received.Headers["api-key"]);
        Assert.False(received.Headers.ContainsKey("Authorization"));
    }

    private static Task<HttpResponseMessage> SendAsync(ProxyTestHost proxy, string? apiKey = null, string? bearer = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("""{"messages":[]}""") };
        if (apiKey is not null)
        {
            request.Headers.Add("api-key", apiKey);
        }

        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return proxy.Client.SendAsync(request);
    }

    private static Task<ProxyTestHost> StartAsync(
        FakeBackends backends, Action<Dictionary<string, string?>> settings, TokenCredential? credential = null, Action<IServiceCollection>? services = null) =>
        ProxyTestHost.StartAsync(backends.All, settings, s =>
        {
            if (credential is not null)
            {
                s.AddSingleton(credential);
            }

            services?.Invoke(s);
        });

    private static Dictionary<string, string?> Identity(Dictionary<string, string?> settings)
    {
        settings["Proxy:Auth:Backend"] = "Identity";
        return settings;
    }

    private sealed class SpyVerifier(IClientKeyVerifier inner) : IClientKeyVerifier
    {
        public List<string> Presented { get; } = [];

        public int Count
        {
            get
            {
                lock (Presented)
                {
                    return Presented.Count;
                }
            }
        }

        public int IndexOf(string presented)
        {
            lock (Presented)
            {
                Presented.Add(presented);
            }

            return inner.IndexOf(presented);
        }
    }

    /// <summary>
    /// When the proxy calls a backend with its own credentials (Identity mode, a backend's own key) every caller
    /// credential header is stripped, Ocp-Apim-Subscription-Key too: it is the Azure AI services key header (and what API
    /// Management in front of Azure OpenAI expects), and a caller's value must not reach the backend next to the proxy's
    /// own token.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_IdentityMode_DoesNotForwardTheCallersSubscriptionKeyHeader()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var credential = new FakeTokenCredential();
        await using var proxy = await StartAsync(backends, s =>
        {
            s["Proxy:Auth:Backend"] = "Identity";
            s.Keys();
        }, credential);
        using var request = new HttpRequestMessage(HttpMethod.Post, "openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21")
        {
            Content = JsonBody.Of("{}"),
        };
        request.Headers.Add("api-key", ClientKey);
        request.Headers.Add("Ocp-Apim-Subscription-Key", "callers-own-azure-key");

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(backends[0].Requests.Single().Headers.ContainsKey("Ocp-Apim-Subscription-Key"));
    }

    /// <summary>A proxy that would call the backends with its own credentials for anyone does not start, and says which settings to add.</summary>
    [Fact]
    public async Task StartAsync_HoldsCredentialsWithoutCallerAuthentication_RefusesToStartNamingTheSettings()
    {
        await using var backends = await FakeBackends.StartAsync("a");

        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            ProxyTestHost.StartAsync(backends.All, s => s["Proxy:Auth:Backend"] = "Identity"));

        var message = Assert.Single(refused.Failures);
        Assert.Contains("anyone who finds its URL could spend your quota", message, StringComparison.Ordinal);
        Assert.Contains("Proxy:Auth:EntraId:TenantId", message, StringComparison.Ordinal);
        Assert.Contains("Proxy:Auth:ClientKeys:0", message, StringComparison.Ordinal);
    }
}
