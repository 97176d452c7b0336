using System.Buffers;
using System.Text;
using AoaiProxy.Configuration;
using AoaiProxy.Planning;
using AoaiProxy.Routing;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using BenchmarkDotNet.Attributes;

namespace AoaiProxy.Benchmarks;

/// <summary>The pure pieces every request (or every 429) runs through, one call each. Allocations matter here.</summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    // Three backends, two tiers: a and b share priority 1, c is the priority-2 fallback.
    private readonly BackendOptions[] _backends =
    [
        new("sweden", new Uri("https://sweden.openai.azure.com/"), 1, 1),
        new("france", new Uri("https://france.openai.azure.com/"), 1, 1),
        new("fallback", new Uri("https://fallback.openai.azure.com/"), 2, 1),
    ];

    private readonly Cooldown?[] _noneCooling = [null, null, null];
    private readonly Cooldown?[] _oneCooling = [null, new Cooldown(Now.AddSeconds(10), CooldownReason.Throttled), null];

    // What Azure OpenAI sends with a 429, and the OpenAI-style reset headers alone (the longest parse).
    private readonly ThrottleHeaderValues _retryAfterMs = new("10000", "10", null, null, "0", "12000");
    private readonly ThrottleHeaderValues _resetHeaders = new(null, null, "1s", "6m0s", "42", "0");

    private ReadOnlySequence<byte> _v1Body;
    private long _turn;

    [GlobalSetup]
    public void Setup()
    {
        // A 2 KB v1 chat request as the OpenAI SDK writes it: messages first, "model" after them.
        var user = new StringBuilder();
        while (user.Length < 1800)
        {
            user.Append("Summarize the following paragraph in one sentence. ");
        }

        var json = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},{\"role\":\"user\",\"content\":\"" +
                   user.ToString(0, 1800) + "\"}],\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":200,\"stream\":false}";
        _v1Body = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json));
    }

    [Benchmark(Description = "AttemptPlanner.Plan: 3 backends, 2 tiers, none cooling")]
    public int PlanNoneCooling() => AttemptPlanner.Plan(_backends, _noneCooling, _turn++, Now).Attempts.Count;

    [Benchmark(Description = "AttemptPlanner.Plan: 3 backends, 2 tiers, 1 cooling")]
    public int PlanOneCooling() => AttemptPlanner.Plan(_backends, _oneCooling, _turn++, Now).Attempts.Count;

    [Benchmark(Description = "ProxyPathParser.Parse: /openai/deployments/{d}/chat/completions?api-version")]
    public string? ParseDeploymentPath() =>
        ProxyPathParser.Parse("/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21").Path.Deployment;

    [Benchmark(Description = "ProxyPathParser.Parse: /openai/v1/chat/completions")]
    public bool ParseV1Path() => ProxyPathParser.Parse("/openai/v1/chat/completions").Path.IsV1;

    [Benchmark(Description = "ThrottleHeaders.RequestedDelay: retry-after-ms")]
    public TimeSpan? RequestedDelayRetryAfterMs() => ThrottleHeaders.RequestedDelay(_retryAfterMs, Now);

    [Benchmark(Description = "ThrottleHeaders.RequestedDelay: x-ratelimit-reset-* only")]
    public TimeSpan? RequestedDelayResetHeaders() => ThrottleHeaders.RequestedDelay(_resetHeaders, Now);

    [Benchmark(Description = "ModelName.FromJson: 2 KB body, model after messages")]
    public string? ModelFromJson() => ModelName.FromJson(_v1Body);
}
