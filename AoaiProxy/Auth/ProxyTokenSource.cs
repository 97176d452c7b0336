using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using Azure.Core;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Auth;

/// <summary>When the proxy's own token is refreshed and until when it may be sent. Pure.</summary>
internal static class TokenRefreshPolicy
{
    /// <summary>Refresh this long before expiry (Entra ID tokens for Azure OpenAI live 60-90 minutes).</summary>
    public static readonly TimeSpan RefreshAhead = TimeSpan.FromMinutes(5);

    /// <summary>A token this close to expiry is not sent any more: a fetch is awaited instead.</summary>
    public static readonly TimeSpan MinRemaining = TimeSpan.FromSeconds(30);

    /// <summary>
    /// <see cref="RefreshAhead"/> before expiry, or at half-life for tokens that live less than twice that; earlier when
    /// the issuer suggests a refresh time of its own (<see cref="AccessToken.RefreshOn"/>).
    /// </summary>
    public static DateTimeOffset RefreshAt(DateTimeOffset fetchedAt, DateTimeOffset expiresOn, DateTimeOffset? refreshOn)
    {
        var lifetime = expiresOn - fetchedAt;
        var lead = lifetime < RefreshAhead * 2 ? lifetime / 2 : RefreshAhead;
        var at = expiresOn - lead;
        return refreshOn is { } hint && hint > fetchedAt && hint < at ? hint : at;
    }

    public static bool IsUsable(DateTimeOffset now, DateTimeOffset expiresOn) => now < expiresOn - MinRemaining;
}

/// <summary>
/// The proxy's Entra ID token for the backends (scope https://cognitiveservices.azure.com/.default). Fetched once and
/// reused; refreshed in the background ahead of expiry while the current token is still sent; one fetch at a time however
/// many requests wait; after a failure no new fetch for <see cref="RetryAfterFailure"/>, so an identity outage is never a
/// fetch per request. A failure is a value (<see cref="BackendCredentialKind.Unavailable"/>) naming the cause, never a throw.
/// </summary>
internal sealed class ProxyTokenSource(TokenCredential credential, TimeProvider time, ILogger<ProxyTokenSource> logger)
{
    /// <summary>Upper bound of one fetch (Azure.Identity retries the managed identity endpoint within it).</summary>
    public static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long a failed fetch is remembered before the next one is tried.</summary>
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(5);

    private const int MaxFailureLength = 300;
    private static readonly TokenRequestContext Context = new([AuthOptions.BackendScope]);

    private readonly Lock _gate = new();
    private AccessToken? _token;
    private DateTimeOffset _refreshAt;
    private TaskCompletionSource<BackendCredential>? _fetching;
    private string? _failure;
    private DateTimeOffset _retryAt = DateTimeOffset.MinValue;

    /// <summary>The cached token, or the one fetch every caller waits for.</summary>
    public ValueTask<BackendCredential> GetAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource<BackendCredential>? started = null;
        Task<BackendCredential>? pending = null;
        var ready = default(BackendCredential);
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_token is { } token && TokenRefreshPolicy.IsUsable(now, token.ExpiresOn))
            {
                // Refresh ahead in the background: this request still goes out with the current token.
                ready = BackendCredential.Bearer(token.Token);
                if (now >= _refreshAt && now >= _retryAt && _fetching is null)
                {
                    _fetching = started = new(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
            else if (_fetching is null && now < _retryAt && _failure is { } failure)
            {
                return ValueTask.FromResult(BackendCredential.Unavailable(failure, _retryAt - now));
            }
            else
            {
                _fetching ??= started = new(TaskCreationOptions.RunContinuationsAsynchronously);
                pending = _fetching.Task;
            }
        }

        if (started is not null)
        {
            _ = FetchAsync(started);
        }

        return pending is null ? ValueTask.FromResult(ready) : new ValueTask<BackendCredential>(pending.WaitAsync(cancellationToken));
    }

    private async Task FetchAsync(TaskCompletionSource<BackendCredential> fetching)
    {
        BackendCredential result;
        try
        {
            using var timeout = new CancellationTokenSource(FetchTimeout, time);
            var token = await credential.GetTokenAsync(Context, timeout.Token).ConfigureAwait(false);
            var now = time.GetUtcNow();
            if (!TokenRefreshPolicy.IsUsable(now, token.ExpiresOn))
            {
                throw new InvalidOperationException($"the credential returned a token that expires at {token.ExpiresOn:O}, too soon to be used");
            }

            var refreshAt = TokenRefreshPolicy.RefreshAt(now, token.ExpiresOn, token.RefreshOn);
            lock (_gate)
            {
                _token = token;
                _refreshAt = refreshAt;
                _failure = null;
                _retryAt = DateTimeOffset.MinValue;
                _fetching = null;
            }

            Log.ProxyTokenAcquired(logger, token.ExpiresOn, refreshAt);
            result = BackendCredential.Bearer(token.Token);
        }
#pragma warning disable CA1031 // Any failure of the credential is reported as a value; the proxy must not answer 500.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            var failure = Describe(ex);
            lock (_gate)
            {
                _failure = failure;
                _retryAt = time.GetUtcNow() + RetryAfterFailure;
                _fetching = null;
            }

            Log.ProxyTokenFailed(logger, ex.GetType().Name, ex.Message, (long)RetryAfterFailure.TotalMilliseconds);
            result = BackendCredential.Unavailable(failure, RetryAfterFailure);
        }

        fetching.SetResult(result);
    }

    /// <summary>The exception's type and first line: Azure.Identity's messages name the credential and cause, never a secret.</summary>
    private static string Describe(Exception ex)
    {
        var message = ex is OperationCanceledException
            ? $"no answer within {FetchTimeout.TotalSeconds} seconds"
            : ex.Message.Split('\n', 2)[0].Trim();
        if (message.Length > MaxFailureLength)
        {
            message = message[..MaxFailureLength] + "...";
        }

        return $"{ex.GetType().Name}: {message}";
    }
}
