using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace AoaiProxy.Auth;

/// <summary>
/// The tenant's OpenID configuration (issuer, signing keys) from {instance}{tenant}/v2.0/.well-known/openid-configuration,
/// cached by the library's <see cref="ConfigurationManager{T}"/> (automatic refresh every 12 hours plus jitter).
/// <para>
/// Key rollover: a token whose key id is unknown makes <see cref="RefreshAsync"/> ask for fresh keys. In
/// Microsoft.IdentityModel 8.x <see cref="ConfigurationManager{T}.RequestRefresh"/> only starts a background fetch and
/// keeps returning the old configuration until it completes, so the library's own retry inside token validation would
/// still fail the request that carried the new key. This class therefore waits (bounded) for that fetch and hands the
/// fresh configuration to the waiting requests. It also limits such refreshes to one per
/// <see cref="UnknownKeyRefreshInterval"/> with the injected clock, so tokens with made-up key ids cannot make the proxy
/// hammer the metadata endpoint; the library's own limit is set to its minimum so it never swallows a refresh asked for here.
/// </para>
/// </summary>
internal sealed class OpenIdConfigurationSource : IDisposable
{
    /// <summary>At most one refresh for an unknown signing key per interval (the library's default RefreshInterval).</summary>
    public static readonly TimeSpan UnknownKeyRefreshInterval = BaseConfigurationManager.DefaultRefreshInterval;

    /// <summary>How long a request with an unknown key id waits for the refreshed keys.</summary>
    public static readonly TimeSpan RefreshWait = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound of one metadata or key set download.</summary>
    public static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;
    private readonly ConfigurationManager<OpenIdConnectConfiguration> _manager;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private TaskCompletionSource<OpenIdConnectConfiguration?>? _refreshing;
    private long? _lastRefresh;

    public OpenIdConfigurationSource(EntraIdOptions options, TimeProvider time, ILogger<OpenIdConfigurationSource> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _time = time;
        _logger = logger;
        _http = new HttpClient { Timeout = MetadataTimeout };
        var address = options.MetadataAddress;
        var documents = new HttpDocumentRetriever(_http) { RequireHttps = address.Scheme == Uri.UriSchemeHttps };
        _manager = new ConfigurationManager<OpenIdConnectConfiguration>(address.AbsoluteUri, new ObservedRetriever(this), documents)
        {
            RefreshInterval = BaseConfigurationManager.MinimumRefreshInterval,
        };
    }

    public Uri MetadataAddress => new(_manager.MetadataAddress);

    /// <summary>The cached configuration; fetched on first use. Throws when it was never obtained.</summary>
    public Task<OpenIdConnectConfiguration> GetAsync(CancellationToken cancellationToken) => _manager.GetConfigurationAsync(cancellationToken);

    /// <summary>
    /// Fresh keys after a token named an unknown key id: the configuration of the next completed fetch, or null when no
    /// refresh is allowed yet, the fetch failed or it took longer than <see cref="RefreshWait"/>.
    /// </summary>
    public async Task<OpenIdConnectConfiguration?> RefreshAsync(CancellationToken cancellationToken)
    {
        Task<OpenIdConnectConfiguration?> next;
        var request = false;
        lock (_gate)
        {
            if (_refreshing is null)
            {
                var now = _time.GetTimestamp();
                if (_lastRefresh is { } last && _time.GetElapsedTime(last, now) < UnknownKeyRefreshInterval)
                {
                    return null;
                }

                _lastRefresh = now;
                _refreshing = new(TaskCreationOptions.RunContinuationsAsynchronously);
                request = true;
            }

            next = _refreshing.Task;
        }

        if (request)
        {
            Log.SigningKeysRefreshing(_logger, MetadataAddress.AbsoluteUri);
            _manager.RequestRefresh();
        }

        try
        {
            return await next.WaitAsync(RefreshWait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Every fetch (first, automatic or requested) ends here, successful or not.</summary>
    private void Fetched(OpenIdConnectConfiguration? configuration)
    {
        TaskCompletionSource<OpenIdConnectConfiguration?>? waiting;
        lock (_gate)
        {
            waiting = _refreshing;
            _refreshing = null;
        }

        waiting?.TrySetResult(configuration);
    }

    /// <summary>The library's retriever, observed: the configuration manager calls it for every fetch.</summary>
    private sealed class ObservedRetriever(OpenIdConfigurationSource owner) : IConfigurationRetriever<OpenIdConnectConfiguration>
    {
        public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
        {
            try
            {
                var configuration = await OpenIdConnectConfigurationRetriever.GetAsync(address, retriever, cancel).ConfigureAwait(false);
                Log.OpenIdConfigurationRetrieved(owner._logger, address, configuration.SigningKeys.Count);
                owner.Fetched(configuration);
                return configuration;
            }
            catch (Exception ex)
            {
                Log.OpenIdConfigurationFailed(owner._logger, address, ex.GetType().Name, ex.Message);
                owner.Fetched(null);
                throw;
            }
        }
    }
}
