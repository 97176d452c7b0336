using Azure.Core;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// Stands in for the proxy's managed identity: counts GetTokenAsync calls, records the scopes, can hold fetches back
/// (to pile up concurrent callers) or fail. Each fetch returns a distinct, recognizable token valid for <see cref="Lifetime"/>.
/// </summary>
internal sealed class FakeTokenCredential(TimeProvider time) : TokenCredential
{
    private readonly string _prefix = "proxy-token-" + Guid.NewGuid().ToString("N");
    private int _calls;

    public FakeTokenCredential() : this(TimeProvider.System) { }

    public int Calls => Volatile.Read(ref _calls);

    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>When set, fetches wait for it (they started counting already).</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>When set, fetches throw it.</summary>
    public Exception? Failure { get; set; }

    public List<string> Scopes { get; } = [];

    /// <summary>The token the n-th fetch (1-based) returns.</summary>
    public string TokenOf(int fetch) => $"{_prefix}-{fetch}";

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _calls);
        lock (Scopes)
        {
            Scopes.AddRange(requestContext.Scopes);
        }

        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        if (Failure is { } failure)
        {
            throw failure;
        }

        return new AccessToken(TokenOf(call), time.GetUtcNow() + Lifetime);
    }
}
