using AoaiProxy.Configuration;
using System.Net;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>Proxy instances sharing one real Table Storage (Azurite), as scaled-out Functions instances do.</summary>
[Collection(AzuriteCollectionDefinition.Name)]
public sealed class SharedStateEndToEndTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task ProxyAsync_TwoInstancesAlternating_EachRotatesAndTogetherEven()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b", "c");
        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);

        var servedBy = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            using var response = await (i % 2 == 0 ? one : two).Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            servedBy.Add(response.Headers.GetValues("x-proxy-backend").Single());
        }

        // Each instance walks its own block of shared turns: its consecutive requests hit consecutive backends...
        for (var i = 2; i < servedBy.Count; i++)
        {
            Assert.Equal(Next(servedBy[i - 2]), servedBy[i]);
        }

        // ...and the blocks are distinct turns of one cursor, so together the spread is exact.
        Assert.All(backends.All, b => Assert.Equal(10, b.RequestCount));
    }

    [Fact]
    public async Task ProxyAsync_TwoInstancesConcurrently_ShareWithinAFewPercent()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b", "c");
        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);
        const int total = 300;

        using var gate = new SemaphoreSlim(8);
        await Task.WhenAll(Enumerable.Range(0, total).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                using var response = await (i % 2 == 0 ? one : two).Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            finally
            {
                gate.Release();
            }
        }));

        Assert.All(backends.All, b => Assert.InRange(b.RequestCount, total / 3 * 0.95, total / 3 * 1.05));
    }

    [Fact]
    public async Task ProxyAsync_CooldownRecordedByOneInstance_HonouredByTheOther()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "30000" });

        // Whichever backend the shared turn names first, "a" is tried at most once here and throttles.
        for (var i = 0; i < 2 && backends[0].RequestCount == 0; i++)
        {
            using var throttled = await one.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal("b", throttled.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(1, backends[0].RequestCount);

        // Written to the table within a second...
        var store = TableStateStore.Create(azurite.Connection(table));
        await Wait.UntilAsync(
            async () => (await store.ReadAsync(CancellationToken.None)).Cooldowns.ContainsKey("a/gpt-4o"), "the cooldown in the table", within: TimeSpan.FromSeconds(1));

        // ...and known to the other instance within one sync interval (background reads; no request waits for them)...
        var otherView = two.Services.GetRequiredService<SharedState>();
        // One interval (800 ms) plus a read; twice that as slack for a loaded test machine. The 1 s p99 across 100
        // instances is measured by the fleet simulation (benchmarks/), not timed here.
        await Wait.UntilAsync(
            () => otherView.Cooldowns.ContainsKey("a/gpt-4o"), "the other instance to learn the cooldown (two sync intervals)",
            within: (2 * ProxyOptions.DefaultStateSyncInterval) + TimeSpan.FromMilliseconds(200));

        // ...so it honours it from then on.
        for (var i = 0; i < 6; i++)
        {
            using var response = await two.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(1, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_AzuriteStoppedMidTest_StillServesAndUsesStoreAgainAfterRestart()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var table = azurite.NewTableName();
        await using var proxy = await StartAsync(backends, table);
        var state = proxy.Services.GetRequiredService<SharedState>();
        try
        {
            await azurite.StopAsync();

            // The background sync notices within an interval; requests never wait for it.
            await Wait.UntilAsync(() => !state.StoreHealthy, "the outage to be noticed", poll: TimeSpan.FromMilliseconds(50));

            for (var i = 0; i < 10; i++)
            {
                using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}")).WaitAsync(Wait.Patience);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            // One warning for the outage, not one per request.
            Assert.Single(proxy.Logs.Named("StateStoreUnavailable").Concat(proxy.Logs.Named("StateStoreTimedOut")));
        }
        finally
        {
            await azurite.RestartAsync();
        }

        // The probe (every few seconds) re-creates the table in the restarted, empty Azurite and the turns are shared again.
        await Wait.UntilAsync(() => state.StoreHealthy, "the store to be used again after Azurite restarted", poll: TimeSpan.FromMilliseconds(100));

        // Enough requests to need the next block of turns: it is claimed from the re-created table.
        for (var i = 0; i < TurnBlockPolicy.MinBlock; i++)
        {
            using var after = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        }

        Assert.Single(proxy.Logs.Named("StateStoreRecovered"));
        var store = TableStateStore.Create(azurite.Connection(table));
        await Wait.UntilAsync(
            async () => (await store.ReadAsync(CancellationToken.None)).CursorETag is not null, "turns claimed from the re-created table", poll: TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task ProxyAsync_ThreeInstancesBehindASlowStore_RotationSharedAndNoRequestWaitsForTheStore()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b", "c");
        await using var slow = new DelayingTcpProxy(azurite.Port, TimeSpan.FromMilliseconds(25));
        var table = azurite.NewTableName();
        var connectionString = azurite.ConnectionString.Replace($"127.0.0.1:{azurite.Port}", $"127.0.0.1:{slow.Port}", StringComparison.Ordinal);
        var proxies = new List<ProxyTestHost>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                // A loaded test machine can take longer than the default 300 ms through this slow link; what is tested
                // is that no request waits for the store, not how slow the store may be before it counts as down.
                proxies.Add(await StartAsync(backends, table, connectionString, stateTimeoutMilliseconds: "3000"));
            }

            // Warm-up at the same steady rate: each instance learns its rate (its first block is small) before counting.
            await SendAsync(proxies, 150);
            var states = proxies.Select(p => p.Services.GetRequiredService<SharedState>()).ToArray();
            var waitedBefore = states.Select(s => s.Counters.WaitedClaims).ToArray();
            var localBefore = states.Select(s => s.Counters.LocalClaims).ToArray();
            var servedBefore = backends.All.Select(b => b.RequestCount).ToArray();

            await SendAsync(proxies, 150);

            // 50 ms per store round trip, yet no request waited for the store, and none was served on local state...
            Assert.Equal(waitedBefore, states.Select(s => s.Counters.WaitedClaims));
            Assert.Equal(localBefore, states.Select(s => s.Counters.LocalClaims));

            // ...and the three instances' blocks of one cursor spread the load evenly.
            var served = backends.All.Select((b, i) => b.RequestCount - servedBefore[i]).ToArray();
            Assert.Equal(150, served.Sum());
            Assert.All(served, n => Assert.InRange(n, 46, 54));
        }
        finally
        {
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync();
            }
        }
    }

    /// <summary>Steady traffic: one request every 20 ms (50 per second), round robin over the instances.</summary>
    private static async Task SendAsync(List<ProxyTestHost> proxies, int count)
    {
        var requests = new List<Task>();
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        for (var i = 0; i < count; i++)
        {
            await pace.WaitForNextTickAsync();
            var proxy = proxies[i % proxies.Count];
            requests.Add(Task.Run(async () =>
            {
                using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }));
        }

        await Task.WhenAll(requests);
    }

    /// <summary>
    /// A caller-chosen v1 "model" of 40,000 characters whose 503s cool its deployment records a cooldown that the table
    /// accepts: a key of the model as given would exceed Table Storage's 64 KiB string property, every write would
    /// answer 400 PropertyValueTooLarge, and the instance would drop to per-instance state until the cooldown expired.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_V1ModelLongerThanATableProperty_StateStaysShared()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var table = azurite.NewTableName();

        // Two failures in two attempts cool the deployment (the failure rate's smallest sample).
        await using var proxy = await StartAsync(backends, table, settings: s =>
        {
            s["Proxy:FailureRate:MinimumRequests"] = "2";
            s["Proxy:FailureRate:Ratio"] = "1";
        });
        var state = proxy.Services.GetRequiredService<SharedState>();

        backends[0].Handler = FakeResponses.Json(503, new { error = new { code = "Busy", message = "busy" } });
        for (var i = 0; i < 2; i++)
        {
            using var response = await proxy.Client.PostAsync("openai/v1/chat/completions",
                JsonBody.Of("{\"model\":\"" + new string('m', 40_000) + "\"}"));
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        // The cooldown went through a sync round into the table: the write that a key of the whole model would fail.
        var cooldown = Assert.Single(state.Cooldowns.Keys);
        var store = TableStateStore.Create(azurite.Connection(table));
        await Wait.UntilAsync(async () => (await store.ReadAsync(CancellationToken.None)).Cooldowns.ContainsKey(cooldown), "the cooldown in the table");
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await state.ClaimAsync(CancellationToken.None)).Shared);
        }

        Assert.Empty(proxy.Logs.Named("StateStoreUnavailable"));
    }

    private async Task<ProxyTestHost> StartAsync(
        FakeBackends backends, string table, string? connectionString = null, string? stateTimeoutMilliseconds = null, Action<Dictionary<string, string?>>? settings = null)
    {
        var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            if (stateTimeoutMilliseconds is not null)
            {
                s["Proxy:State:TimeoutMilliseconds"] = stateTimeoutMilliseconds;
            }

            s["AzureWebJobsStorage"] = connectionString ?? azurite.ConnectionString;
            s["Proxy:State:TableName"] = table;
            settings?.Invoke(s);
        });

        // Both instances use the table before the test counts anything (the first claims may precede table creation).
        var state = proxy.Services.GetRequiredService<SharedState>();
        await Wait.UntilAsync(async () => (await state.ClaimAsync(CancellationToken.None)).Shared, "the proxy to reach the table");

        return proxy;
    }

    private static string Next(string name) => name switch { "a" => "b", "b" => "c", _ => "a" };
}
