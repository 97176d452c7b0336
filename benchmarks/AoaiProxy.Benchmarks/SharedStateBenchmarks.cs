using AoaiProxy.Configuration;
using AoaiProxy.State;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;

namespace AoaiProxy.Benchmarks;

/// <summary>
/// <see cref="SharedState.ClaimAsync"/> with the in-memory store: the per-request claim of a round-robin turn, alone and
/// with 16 callers at once (batched by the state loop into fewer swaps). Numbers are per claim.
/// </summary>
[MemoryDiagnoser]
public class SharedStateBenchmarks
{
    private const int Concurrent = 16;

    private readonly ValueTask<TurnClaim>[] _claims = new ValueTask<TurnClaim>[Concurrent];

    // A request's RequestAborted can be cancelled; CancellationToken.None would take a cheaper path the proxy never takes.
    private readonly CancellationTokenSource _requestAborted = new();
    private SharedStateParts _parts = null!;
    private SharedState _state = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _parts = SharedStateParts.Create(new InMemoryStateStore(), new ProxyOptions(), TimeProvider.System, NullLogger<SharedState>.Instance);
        _state = _parts.View;
        await _parts.Sync.StartingAsync(CancellationToken.None);

        // Until the (instant) store initialization has run, claims are served locally: wait for shared ones.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(await _state.ClaimAsync(_requestAborted.Token)).Shared)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException("The in-memory store never became shared.");
            }

            await Task.Delay(10);
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _parts.Sync.StoppedAsync(CancellationToken.None);
        _parts.Sync.Dispose();
        await _state.DisposeAsync();
        _requestAborted.Dispose();
    }

    [Benchmark(Description = "SharedState.ClaimAsync: 1 caller")]
    public async Task<long> ClaimSingle() => (await _state.ClaimAsync(_requestAborted.Token)).Turn;

    [Benchmark(OperationsPerInvoke = Concurrent, Description = "SharedState.ClaimAsync: 16 concurrent callers (per claim)")]
    public async Task<long> ClaimConcurrent()
    {
        // Each ValueTask is stored once and awaited once below: all 16 claims must be pending at the same time.
#pragma warning disable CA2012
        for (var i = 0; i < Concurrent; i++)
        {
            _claims[i] = _state.ClaimAsync(_requestAborted.Token);
        }
#pragma warning restore CA2012

        long last = 0;
        for (var i = 0; i < Concurrent; i++)
        {
            last = (await _claims[i]).Turn;
        }

        return last;
    }
}
