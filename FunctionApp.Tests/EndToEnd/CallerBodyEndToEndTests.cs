using System.Net.Sockets;
using System.Text;
using AoaiProxy.Observability;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// A caller's body that fails over real sockets: a caller that resets its connection mid-upload is logged at Debug, blames
/// no backend and leaves no read of its body pending for the server to trip over; malformed chunked framing is the
/// caller's 400 in Azure's error shape.
/// </summary>
public sealed class CallerBodyEndToEndTests
{
    private const string UploadTarget = "/openai/deployments/whisper/audio/transcriptions?api-version=2024-10-21";
    private const int KiB = 1024;
    private const int MiB = 1024 * KiB;
    private const int AnnouncedLength = 50 * MiB;

    /// <summary>The events of a request that ends by the caller's doing: gone during an attempt, refused, gone while its body was read.</summary>
    private static readonly string[] CallersOwnEnds = ["CallerCancelled", "RequestRejected", "CallerBodyGone"];

    /// <summary>
    /// Announced uploads (streamed through the first attempt) and chunked ones (read whole first), reset by the caller
    /// after 64 KiB or 5 MiB while the proxy waits for the rest.
    /// </summary>
    [Theory]
    [InlineData(64 * KiB, true, 25)]
    [InlineData(5 * MiB, true, 8)]
    [InlineData(64 * KiB, false, 12)]
    [InlineData(5 * MiB, false, 6)]
    public async Task ProxyAsync_CallerResetsMidUpload_NothingAtWarningNoDrainingErrorNoBackendBlamed(int sentBeforeReset, bool announced, int times)
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");

        // Any failure counted against a backend would cool it at once: one failure in two attempts is enough.
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, settings =>
        {
            settings["Proxy:FailureRate:Ratio"] = "0.1";
            settings["Proxy:FailureRate:MinimumRequests"] = "2";
        });
        using var metrics = new MetricsRecorder(proxy.Services.GetRequiredService<ProxyMetrics>().Meter);
        using var bodyStarted = new SemaphoreSlim(0);
        var startup = proxy.Logs.Entries.Count;
        foreach (var backend in backends.All)
        {
            backend.BeforeBody = _ =>
            {
                bodyStarted.Release();
                return Task.FromResult(false);
            };
        }

        for (var i = 0; i < times; i++)
        {
            using var caller = await ConnectAsync(proxy);
            var stream = caller.GetStream();
            var head = $"POST {UploadTarget} HTTP/1.1\r\nHost: {proxy.BaseAddress.Authority}\r\nContent-Type: application/octet-stream\r\n" +
                (announced ? $"Content-Length: {AnnouncedLength}\r\n\r\n" : "Transfer-Encoding: chunked\r\n\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            await stream.WriteAsync(announced ? BodyBytes.Random(sentBeforeReset) : Chunked(BodyBytes.Random(sentBeforeReset)));
            await stream.FlushAsync();

            // Reset only once the proxy is inside the upload: streamed, its first attempt reached a backend; read whole,
            // the proxy's handler started (Kestrel then has every byte sent so far).
            if (announced)
            {
                Assert.True(await bodyStarted.WaitAsync(Wait.Patience), "the upload never reached a backend");
            }
            else
            {
                await WaitForAsync(() => proxy.Logs.Entries.Count(IsRequestStart) > i, "the request's start", proxy);
            }

            Reset(caller);
            await WaitForAsync(() => metrics.Of(MetricNames.Instruments.Requests).Count == i + 1, "the request's end", proxy);
        }

        // Kestrel drains a request's body after the handler returned, then closes the connection.
        await WaitForAsync(() => proxy.Logs.Entries.Count(e => e.EventId.Name == "ConnectionStop") >= times, "every connection's end", proxy);
        var logged = proxy.Logs.Entries.Skip(startup).ToList();
        Assert.True(!logged.Any(e => e.Level >= LogLevel.Warning), proxy.Logs.AllText());
        Assert.DoesNotContain(logged, e => e.Message.Contains("draining", StringComparison.OrdinalIgnoreCase));
        // Each request ended as a caller that went away, at Debug: during its attempt, or while its body was read.
        var wentAway = proxy.Logs.Named("CallerCancelled").Concat(proxy.Logs.Named("CallerBodyGone")).ToList();
        Assert.Equal(times, wentAway.Count);
        Assert.All(wentAway, e => Assert.Equal(LogLevel.Debug, e.Level));
        Assert.Empty(metrics.Of(MetricNames.Instruments.CooldownsStarted));
        // Counted as the caller's own outcome, never as a failure of the proxy or a backend.
        Assert.All(metrics.Of(MetricNames.Instruments.Requests), m => Assert.Equal(MetricNames.Outcomes.Cancelled, m[MetricNames.Tags.Outcome]));
        Assert.DoesNotContain(metrics.Of(MetricNames.Instruments.Attempts), m => m[MetricNames.Tags.Status] is
            MetricNames.AttemptStatuses.TransportError or MetricNames.AttemptStatuses.Timeout);

        // Both backends still serve in turn.
        var servedBy = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var next = await proxy.Client.PostAsync(UploadTarget.TrimStart('/'), new ByteArrayContent(BodyBytes.Random(100)));
            servedBy.Add(next.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(2, servedBy.Count(n => n == "a"));
    }

    /// <summary>Chunk sizes beyond what the server can parse (past 2^31), and other framing it refuses.</summary>
    [Theory]
    [InlineData("ffffffffffffffffff1\r\nabc\r\n0\r\n\r\n")]
    [InlineData("8000000000000000\r\nabc\r\n0\r\n\r\n")]
    [InlineData("80000000\r\nabc\r\n0\r\n\r\n")]
    [InlineData("zz\r\nabc\r\n0\r\n\r\n")]
    [InlineData("3\r\nabcXY0\r\n\r\n")]
    [InlineData("3\nabc\r\n0\r\n\r\n")]
    [InlineData("012345678\r\nabc\r\n0\r\n\r\n")]
    public async Task ProxyAsync_MalformedChunkedBody_400InAzureShapeLoggedAtDebug(string framing)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var startup = proxy.Logs.Entries.Count;
        var request = Encoding.ASCII.GetBytes(
            $"POST {UploadTarget} HTTP/1.1\r\nHost: {proxy.BaseAddress.Authority}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + framing);

        var answer = await RawBytes.SendAsync(proxy.BaseAddress, request);

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        var (code, message) = AzureError.Of(answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
        Assert.Equal("BadRequest", code);
        Assert.StartsWith("The request could not be read: ", message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Debug, Assert.Single(proxy.Logs.Named("RequestRejected")).Level);
        Assert.True(!proxy.Logs.Entries.Skip(startup).Any(e => e.Level >= LogLevel.Warning), proxy.Logs.AllText());
        Assert.Empty(backends[0].Requests);
    }

    /// <summary>
    /// A caller that closes its side of the connection before the bytes it announced, read whole or streamed: the server
    /// resets the connection (it takes a FIN as the client leaving), so no answer reaches it; the request ends at Debug as
    /// the caller's doing and nothing is logged at Warning.
    /// </summary>
    [Theory]
    [InlineData(100, 10)]
    [InlineData(6 * MiB, 5 * MiB)]
    public async Task ProxyAsync_CallerClosesBeforeItsContentLength_EndsAtDebugNothingAtWarning(int announced, int sent)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = new MetricsRecorder(proxy.Services.GetRequiredService<ProxyMetrics>().Meter);
        var startup = proxy.Logs.Entries.Count;
        using (var caller = await ConnectAsync(proxy))
        {
            var stream = caller.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"POST {UploadTarget} HTTP/1.1\r\nHost: {proxy.BaseAddress.Authority}\r\nContent-Length: {announced}\r\n\r\n"));
            await stream.WriteAsync(BodyBytes.Random(sent));
            caller.Client.Shutdown(SocketShutdown.Send);
            await WaitForAsync(() => metrics.Of(MetricNames.Instruments.Requests).Count == 1, "the request's end", proxy);
        }

        // Which the server reports first (the short body, or the connection it aborted) is a race: either is the caller's.
        var ended = Assert.Single(CallersOwnEnds.SelectMany(proxy.Logs.Named));
        Assert.Equal(LogLevel.Debug, ended.Level);
        await WaitForAsync(() => proxy.Logs.Entries.Any(e => e.EventId.Name == "ConnectionStop"), "the connection's end", proxy);
        Assert.True(!proxy.Logs.Entries.Skip(startup).Any(e => e.Level >= LogLevel.Warning), proxy.Logs.AllText());
        Assert.Empty(metrics.Of(MetricNames.Instruments.CooldownsStarted));
    }

    private static bool IsRequestStart(CapturedLog entry) =>
        entry.Category == "Microsoft.AspNetCore.Hosting.Diagnostics" && entry.Message.StartsWith("Request starting", StringComparison.Ordinal);

    private static async Task<TcpClient> ConnectAsync(ProxyTestHost proxy)
    {
        var caller = new TcpClient();
        await caller.ConnectAsync(proxy.BaseAddress.Host, proxy.BaseAddress.Port);
        return caller;
    }

    /// <summary>Closes with a TCP reset rather than a FIN: the caller's connection breaks, as a crashed client's does.</summary>
    private static void Reset(TcpClient caller)
    {
        caller.Client.LingerState = new LingerOption(true, 0);
        caller.Client.Close();
    }

    private static byte[] Chunked(byte[] data)
    {
        using var framed = new MemoryStream();
        for (var at = 0; at < data.Length; at += 64 * KiB)
        {
            var count = Math.Min(64 * KiB, data.Length - at);
            framed.Write(Encoding.ASCII.GetBytes(count.ToString("x", System.Globalization.CultureInfo.InvariantCulture) + "\r\n"));
            framed.Write(data, at, count);
            framed.Write("\r\n"u8);
        }

        return framed.ToArray();
    }

    private static Task WaitForAsync(Func<bool> condition, string what, ProxyTestHost proxy) =>
        Wait.UntilAsync(condition, what, detail: () => "\nThe proxy logged:\n" + proxy.Logs.AllText());
}
