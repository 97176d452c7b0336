using System.Net;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>Pre-release review: a caller-chosen v1 "model" against the real Table store (Azurite).</summary>
[Collection(AzuriteCollectionDefinition.Name)]
public sealed class SharedStateReviewEndToEndTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Finding 5, end to end. One v1 request with a 40,000-character "model" that meets a 503 records the cooldown
    /// "a/mmmm...": the state entity's Cooldowns property then exceeds Table Storage's 64 KiB string limit, every write
    /// answers 400 PropertyValueTooLarge, and the instance drops to per-instance state until the cooldown expires.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_V1ModelLongerThanATableProperty_StateStaysShared()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["AzureWebJobsStorage"] = azurite.ConnectionString;
            s["Proxy:State:TableName"] = azurite.NewTableName();
        });
        var state = proxy.Services.GetRequiredService<SharedState>();
        var deadline = DateTime.UtcNow + Patience;
        while (!(await state.ClaimAsync(CancellationToken.None)).Shared)
        {
            Assert.True(DateTime.UtcNow < deadline, "never shared");
            await Task.Delay(50);
        }

        backends[0].Handler = FakeResponses.Json(503, new { error = new { code = "Busy", message = "busy" } });
        using (var response = await proxy.Client.PostAsync("openai/v1/chat/completions",
                   ProxyEndToEndTests.Json("{\"model\":\"" + new string('m', 40_000) + "\"}")))
        {
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        await Task.Delay(TimeSpan.FromMilliseconds(300));
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await state.ClaimAsync(CancellationToken.None)).Shared);
        }

        Assert.Empty(proxy.Logs.WithEventId(9));
    }
}
