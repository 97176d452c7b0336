using System.Net;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Azure.Core;
using Azure.Core.Pipeline;

namespace AoaiProxy.Tests.State;

public sealed class TableSharedKeyPolicyTests
{
    private const string Account = "devstoreaccount1";
    private static readonly DateTimeOffset Now = new(2025, 7, 1, 12, 0, 0, TimeSpan.Zero);

    // Expected signatures computed independently (Python hmac/sha256 over the documented string to sign:
    // date + "\n" + "/" + account + path [+ "?comp=" + value]).
    [Theory]
    [InlineData("http://127.0.0.1:10002/devstoreaccount1/mytable(PartitionKey='p',RowKey='r')",
        "SharedKeyLite devstoreaccount1:yv5ZchBQYsyxs1uh5R8ooXvEQOWuFn4j/H4fRZVH3Ik=")]
    [InlineData("https://devstoreaccount1.table.core.windows.net/Tables",
        "SharedKeyLite devstoreaccount1:Ek9gVP6eJ1Myy62jvbSKCsoAyvZN3wUv99VJtV2K2yQ=")]
    [InlineData("https://devstoreaccount1.table.core.windows.net/mytable?timeout=5&comp=acl",
        "SharedKeyLite devstoreaccount1:w6VAHlbYy07rvOVk+cZ/BUzi0Jn82qgsrQLMyKkpBuE=")]
    [InlineData("https://devstoreaccount1.table.core.windows.net/mytable?COMP=acl",
        "SharedKeyLite devstoreaccount1:w6VAHlbYy07rvOVk+cZ/BUzi0Jn82qgsrQLMyKkpBuE=")]
    [InlineData("https://devstoreaccount1.table.core.windows.net/Tables?xcomp=acl&timeout=5",
        "SharedKeyLite devstoreaccount1:Ek9gVP6eJ1Myy62jvbSKCsoAyvZN3wUv99VJtV2K2yQ=")]
    public async Task OnSendingRequest_KnownRequest_SendsExpectedSignatureAndDate(string uri, string authorization)
    {
        var handler = new StubHttpHandler(_ => new HttpResponseMessage(HttpStatusCode.NoContent));
        var policy = new TableSharedKeyPolicy(Account, Convert.FromBase64String(AzuriteFixture.AccountKey), new ManualTimeProvider(Now));
        var pipeline = new HttpPipeline(handler.Transport(), [policy]);
        using var message = pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Get;
        message.Request.Uri.Reset(new Uri(uri));

        await pipeline.SendAsync(message, CancellationToken.None);

        var sent = Assert.Single(handler.Requests);
        Assert.Equal("Tue, 01 Jul 2025 12:00:00 GMT", Assert.Single(sent.Headers.GetValues("x-ms-date")));
        Assert.Equal(authorization, sent.Headers.Authorization?.ToString());
    }

    [Fact]
    public async Task OnSendingRequest_ClockMoves_DatesEachRequestAnew()
    {
        var handler = new StubHttpHandler(_ => new HttpResponseMessage(HttpStatusCode.NoContent));
        var time = new ManualTimeProvider(Now);
        var pipeline = new HttpPipeline(handler.Transport(), [new TableSharedKeyPolicy(Account, new byte[] { 1, 2, 3 }, time)]);

        foreach (var _ in Enumerable.Range(0, 2))
        {
            using var message = pipeline.CreateMessage();
            message.Request.Uri.Reset(new Uri("https://devstoreaccount1.table.core.windows.net/Tables"));
            await pipeline.SendAsync(message, CancellationToken.None);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(
            ["Tue, 01 Jul 2025 12:00:00 GMT", "Tue, 01 Jul 2025 12:01:00 GMT"],
            handler.Requests.Select(r => r.Headers.GetValues("x-ms-date").Single()));
        Assert.NotEqual(handler.Requests[0].Headers.Authorization, handler.Requests[1].Headers.Authorization);
    }
}
