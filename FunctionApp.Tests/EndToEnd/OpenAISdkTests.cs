using System.ClientModel;
using System.Text;
using AoaiProxy.Tests.TestSupport;
using OpenAI;
using OpenAI.Chat;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>A real client library (the OpenAI .NET SDK) pointed at the proxy's v1 API.</summary>
public sealed class OpenAISdkTests
{
    [Fact]
    public async Task CompleteChat_ThroughProxyV1_ServedAndRotated()
    {
        await using var backends = await FakeBackends.StartAsync("east", "west");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var chat = ClientFor(proxy).GetChatClient("gpt-4o-mini");

        var first = await chat.CompleteChatAsync("Say hello");
        var second = await chat.CompleteChatAsync("Say hello");

        var answers = new[] { first.Value.Content[0].Text, second.Value.Content[0].Text };
        Assert.Contains("Hello from east", answers);
        Assert.Contains("Hello from west", answers);
        var sent = backends[0].Requests.Single();
        Assert.Equal("/openai/v1/chat/completions", sent.PathAndQuery);
        Assert.Equal("Bearer test-key", sent.Headers["Authorization"]);
    }

    [Fact]
    public async Task CompleteChatStreaming_FirstBackendThrottled_StreamsFromNext()
    {
        await using var backends = await FakeBackends.StartAsync("east", "west");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "5000" });
        var chat = ClientFor(proxy).GetChatClient("gpt-4o-mini");

        var text = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync("Say hello"))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }
        }

        Assert.Equal("Hello from west", text.ToString());
        Assert.Equal(1, backends[0].RequestCount);
    }

    [Fact]
    public async Task CompleteChat_AllThrottled_SdkSeesRateLimitError()
    {
        await using var backends = await FakeBackends.StartAsync("east");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "60000" });
        var options = new OpenAIClientOptions { Endpoint = new Uri(proxy.BaseAddress, "openai/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) };
        var chat = new OpenAIClient(new ApiKeyCredential("test-key"), options).GetChatClient("gpt-4o-mini");

        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync("Say hello"));

        Assert.Equal(429, error.Status);
        Assert.Equal("60", error.GetRawResponse()!.Headers.TryGetValue("Retry-After", out var retryAfter) ? retryAfter : null);
    }

    private static OpenAIClient ClientFor(ProxyTestHost proxy) =>
        new(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = new Uri(proxy.BaseAddress, "openai/v1") });
}
