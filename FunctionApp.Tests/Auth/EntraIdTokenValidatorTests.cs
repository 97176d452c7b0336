using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.Tokens;

namespace AoaiProxy.Tests.Auth;

/// <summary>Caller tokens against a fake tenant on loopback: real discovery, real JWKS, real RS256 signatures.</summary>
public sealed class EntraIdTokenValidatorTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private readonly ManualTimeProvider _clock = new(T0);
    private FakeEntraId _entra = null!;

    public async Task InitializeAsync() => _entra = await FakeEntraId.StartAsync();

    public async Task DisposeAsync() => await _entra.DisposeAsync();

    /// <summary>Case name -> expected reason (null: valid).</summary>
    public static TheoryData<string, string?> Cases() => new()
    {
        { "valid v1 issuer", null },
        { "valid v2 issuer", null },
        { "audience with trailing slash", null },
        { "expired within clock skew", null },
        { "not yet valid within clock skew", null },
        { "expired", "The bearer token has expired." },
        { "not yet valid", "The bearer token is not valid yet." },
        { "wrong audience", "The bearer token is not for this proxy: its audience must be https://cognitiveservices.azure.com." },
        { "other tenant v1", "was not issued by the proxy's tenant" },
        { "other tenant v2", "was not issued by the proxy's tenant" },
        { "other instance v2", "was not issued by the proxy's tenant" },
        { "bad signature, same key id", "The bearer token's signature is invalid." },
        { "unpublished key", "signed with a key that the proxy's tenant does not publish" },
        { "tampered payload", "The bearer token's signature is invalid." },
        { "unsigned", "The bearer token" },
        { "malformed", "The bearer token is malformed." },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ValidateAsync_Token_AcceptedOrRefusedWithReason(string name, string? reason)
    {
        using var keys = Keys();
        var validator = new EntraIdTokenValidator(Options(), keys, _clock);

        var check = await validator.ValidateAsync(TokenFor(name), CancellationToken.None);

        if (reason is null)
        {
            Assert.True(check.IsAllowed, check.Message);
        }
        else
        {
            Assert.Equal(ProxyOutcome.Unauthenticated, check.Refusal);
            Assert.Contains(reason, check.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ValidateAsync_RefusedToken_MessageNeverContainsTheToken()
    {
        using var keys = Keys();
        var validator = new EntraIdTokenValidator(Options(), keys, _clock);
        var token = TokenFor("expired");

        var check = await validator.ValidateAsync(token, CancellationToken.None);

        Assert.DoesNotContain(token.Split('.')[1], check.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidateAsync_KeyRollover_NewKeyIdPickedUpOnFirstUse()
    {
        using var keys = Keys();
        var validator = new EntraIdTokenValidator(Options(), keys, _clock);
        Assert.True((await validator.ValidateAsync(_entra.Issue(_entra.Token(T0)), CancellationToken.None)).IsAllowed);
        Assert.Equal(1, _entra.KeySetRequests);

        _entra.RotateKey("key-2");
        var check = await validator.ValidateAsync(_entra.Issue(_entra.Token(T0)), CancellationToken.None);

        Assert.True(check.IsAllowed, check.Message);
        Assert.Equal(2, _entra.KeySetRequests);

        // The fresh keys are now the cached ones: no further fetch.
        Assert.True((await validator.ValidateAsync(_entra.Issue(_entra.Token(T0)), CancellationToken.None)).IsAllowed);
        Assert.Equal(2, _entra.KeySetRequests);
    }

    [Fact]
    public async Task ValidateAsync_UnknownKeyIdsRepeatedly_AtMostOneRefreshPerInterval()
    {
        using var keys = Keys();
        var validator = new EntraIdTokenValidator(Options(), keys, _clock);
        await validator.ValidateAsync(_entra.Issue(_entra.Token(T0)), CancellationToken.None);

        for (var i = 0; i < 5; i++)
        {
            var forged = _entra.Issue(_entra.Token(T0) with { Key = FakeEntraId.NewKey("made-up-" + i) });
            Assert.False((await validator.ValidateAsync(forged, CancellationToken.None)).IsAllowed);
        }

        Assert.Equal(2, _entra.KeySetRequests);

        // Past the interval a real rollover is picked up again. Microsoft.IdentityModel's ConfigurationManager also spaces
        // requested refreshes by its RefreshInterval (at least BaseConfigurationManager.MinimumRefreshInterval, one second),
        // on a clock of its own that cannot be injected (an internal field): that second has to pass in real time.
        await Task.Delay(BaseConfigurationManager.MinimumRefreshInterval + TimeSpan.FromMilliseconds(100));
        _clock.Advance(OpenIdConfigurationSource.UnknownKeyRefreshInterval);
        _entra.RotateKey("key-3");
        var check = await validator.ValidateAsync(_entra.Issue(_entra.Token(_clock.GetUtcNow())), CancellationToken.None);

        Assert.True(check.IsAllowed, check.Message);
        Assert.Equal(3, _entra.KeySetRequests);
    }

    [Fact]
    public async Task ValidateAsync_TenantKeysUnreachable_UnavailableNotAllowed()
    {
        _entra.Down = true;
        using var keys = Keys();
        var validator = new EntraIdTokenValidator(Options(), keys, _clock);

        var check = await validator.ValidateAsync(_entra.Issue(_entra.Token(T0)), CancellationToken.None);

        Assert.Equal(ProxyOutcome.AuthenticationUnavailable, check.Refusal);
        Assert.Contains(_entra.TenantId.ToString(), check.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, bool> AllowList() => new()
    {
        { "oid", true },
        { "appid", true },
        { "azp", true },
        { "someone else", false },
    };

    [Theory]
    [MemberData(nameof(AllowList))]
    public async Task ValidateAsync_AllowedCallers_AdmitsListedOidOrAppIdAndForbidsOthers(string listed, bool allowed)
    {
        var oid = Guid.NewGuid();
        var app = Guid.NewGuid();
        var entry = listed switch
        {
            "oid" => oid,
            "appid" or "azp" => app,
            _ => Guid.NewGuid(),
        };
        using var keys = Keys();
        var validator = new EntraIdTokenValidator(Options(new HashSet<Guid> { entry }), keys, _clock);
        var spec = _entra.Token(T0) with { ObjectId = oid.ToString() };
        spec = listed == "azp" ? spec with { AppId = null, Azp = app.ToString() } : spec with { AppId = app.ToString() };

        var check = await validator.ValidateAsync(_entra.Issue(spec), CancellationToken.None);

        Assert.Equal(allowed, check.IsAllowed);
        if (!allowed)
        {
            Assert.Equal(ProxyOutcome.Forbidden, check.Refusal);
            Assert.Equal(oid.ToString(), check.Caller!.Value.ObjectId);
        }
    }

    [Theory]
    [InlineData(-301, "expired")]
    [InlineData(-299, null)]
    [InlineData(0, null)]
    public void CheckLifetime_SecondsFromExpiry_FiveMinutesSkew(double expiresInSeconds, string? problem)
    {
        var expires = (T0 + TimeSpan.FromSeconds(expiresInSeconds)).UtcDateTime;

        if (problem is null)
        {
            Assert.True(EntraIdTokenValidator.CheckLifetime(T0.UtcDateTime.AddHours(-1), expires, T0));
        }
        else
        {
            Assert.Throws<SecurityTokenExpiredException>(() => EntraIdTokenValidator.CheckLifetime(null, expires, T0));
        }
    }

    [Fact]
    public void CheckLifetime_NoExpiry_Refused()
    {
        Assert.Throws<SecurityTokenNoExpirationException>(() => EntraIdTokenValidator.CheckLifetime(null, null, T0));
    }

    private string TokenFor(string name)
    {
        var valid = _entra.Token(T0);
        var skew = AuthOptions.TokenClockSkew;
        return name switch
        {
            "valid v1 issuer" => _entra.Issue(valid),
            "valid v2 issuer" => _entra.Issue(valid with { Issuer = _entra.V2Issuer, AppId = null, Azp = Guid.NewGuid().ToString() }),
            "audience with trailing slash" => _entra.Issue(valid with { Audience = FakeEntraId.Audience + "/" }),
            "expired within clock skew" => _entra.Issue(valid with { NotBefore = T0.AddHours(-1), Expires = T0 - skew + TimeSpan.FromSeconds(30) }),
            "not yet valid within clock skew" => _entra.Issue(valid with { NotBefore = T0 + skew - TimeSpan.FromSeconds(30) }),
            "expired" => _entra.Issue(valid with { NotBefore = T0.AddHours(-2), Expires = T0 - skew - TimeSpan.FromSeconds(30) }),
            "not yet valid" => _entra.Issue(valid with { NotBefore = T0 + skew + TimeSpan.FromSeconds(30), Expires = T0.AddHours(2) }),
            "wrong audience" => _entra.Issue(valid with { Audience = "https://management.azure.com" }),
            "other tenant v1" => _entra.Issue(valid with { Issuer = $"https://sts.windows.net/{Guid.NewGuid()}/" }),
            "other tenant v2" => _entra.Issue(valid with { Issuer = $"{_entra.Instance}{Guid.NewGuid()}/v2.0" }),
            "other instance v2" => _entra.Issue(valid with { Issuer = $"https://login.example.com/{_entra.TenantId}/v2.0" }),
            "bad signature, same key id" => _entra.Issue(valid with { Key = FakeEntraId.NewKey(_entra.CurrentKey.KeyId) }),
            "unpublished key" => _entra.Issue(valid with { Key = FakeEntraId.NewKey("unpublished") }),
            "tampered payload" => Tamper(_entra.Issue(valid)),
            "unsigned" => string.Join('.', _entra.Issue(valid).Split('.')[..2]) + ".",
            "malformed" => "eyJhbGciOiJSUzI1NiJ9.not-json.sig",
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
        };
    }

    /// <summary>The same header and signature over a payload with another object id.</summary>
    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var payload = Base64UrlEncoder.Decode(parts[1]).Replace("\"oid\":\"", "\"oid\":\"0", StringComparison.Ordinal);
        return $"{parts[0]}.{Base64UrlEncoder.Encode(payload)}.{parts[2]}";
    }

    private OpenIdConfigurationSource Keys() => new(Options(), _clock, NullLogger<OpenIdConfigurationSource>.Instance);

    private EntraIdOptions Options(IReadOnlySet<Guid>? allowed = null) =>
        new(_entra.TenantId, _entra.Instance, [FakeEntraId.Audience, FakeEntraId.Audience + "/"], allowed ?? new HashSet<Guid>());
}
