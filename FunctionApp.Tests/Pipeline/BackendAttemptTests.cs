using System.Net;
using AoaiProxy.Affinity;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Pipeline;
using AoaiProxy.Routing;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.Pipeline;

public sealed class BackendAttemptTests
{
    private readonly ManualTimeProvider _time = new();
    private readonly ProxyOptions _options = new()
    {
        Backends =
        [
            new("a", new Uri("https://a.openai.azure.com/"), 1, 1),
            new("b", new Uri("https://b.openai.azure.com/"), 1, 1, Deployments: DeploymentMap.Parse(["chat=gpt-4o-b"], "Proxy:Backends:1:Deployments", [])),
        ],
    };

    [Theory]
    [InlineData(200, nameof(AttemptError.None), true)]
    [InlineData(201, nameof(AttemptError.None), true)]
    [InlineData(400, nameof(AttemptError.None), true)]
    [InlineData(404, nameof(AttemptError.None), true)]
    [InlineData(501, nameof(AttemptError.None), true)]
    [InlineData(101, nameof(AttemptError.NotFinal), false)]
    [InlineData(429, nameof(AttemptError.Throttled), false)]
    [InlineData(408, nameof(AttemptError.FailureStatus), false)]
    [InlineData(500, nameof(AttemptError.FailureStatus), false)]
    [InlineData(502, nameof(AttemptError.FailureStatus), false)]
    [InlineData(503, nameof(AttemptError.FailureStatus), false)]
    [InlineData(504, nameof(AttemptError.FailureStatus), false)]
    public async Task SendAsync_BackendStatus_ClassifiedAndOnlyARelayableAnswerReturned(int status, string error, bool returned)
    {
        var answer = new HttpResponseMessage((HttpStatusCode)status) { Content = new TrackedContent() };
        var attempt = Attempt((_, _) =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            return Task.FromResult(answer);
        });

        var (outcome, response) = await attempt.SendAsync(await RequestAsync(), 1, 2, BackendCredential.PassThrough);

        Assert.Equal(new AttemptOutcome(1, Enum.Parse<AttemptError>(error), status), outcome with { Attempt = 0, Started = 0, Elapsed = default, Throttle = default });
        Assert.Equal(2, outcome.Attempt);
        Assert.Equal(250, outcome.Elapsed.TotalMilliseconds, precision: 0);
        Assert.Equal(returned, response is not null);
        Assert.Equal(!returned, ((TrackedContent)answer.Content).Disposed);
    }

    [Fact]
    public async Task SendAsync_429_KeepsItsThrottleHeadersForTheCooldown()
    {
        var attempt = Attempt((_, _) =>
        {
            var answer = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
            answer.Headers.Add("retry-after-ms", "1500");
            answer.Headers.Add("Retry-After", "2");
            answer.Headers.Add("x-ratelimit-remaining-tokens", "120");
            return Task.FromResult(answer);
        });

        var (outcome, _) = await attempt.SendAsync(await RequestAsync(), 0, 1, BackendCredential.PassThrough);

        Assert.Equal(AttemptError.Throttled, outcome.Error);
        Assert.Equal("1500", outcome.Throttle.RetryAfterMs);
        Assert.Equal("2", outcome.Throttle.RetryAfter);
        Assert.Equal("120", outcome.Throttle.RemainingTokens);
    }

    public static TheoryData<string, string> TransportFailures => new()
    {
        { nameof(HttpRequestError.ConnectionError), nameof(AttemptError.NotStarted) },
        { nameof(HttpRequestError.NameResolutionError), nameof(AttemptError.NotStarted) },
        { nameof(HttpRequestError.SecureConnectionError), nameof(AttemptError.NotStarted) },
        { nameof(HttpRequestError.ResponseEnded), nameof(AttemptError.Transport) },
        { nameof(HttpRequestError.InvalidResponse), nameof(AttemptError.Transport) },
        { nameof(HttpRequestError.Unknown), nameof(AttemptError.Transport) },
    };

    [Theory]
    [MemberData(nameof(TransportFailures))]
    public async Task SendAsync_TransportFailure_NotStartedOnlyWhenNoConnectionWasMade(string failure, string error)
    {
        var attempt = Attempt((_, _) => throw new HttpRequestException(Enum.Parse<HttpRequestError>(failure), "boom " + failure));

        var (outcome, response) = await attempt.SendAsync(await RequestAsync(), 0, 1, BackendCredential.PassThrough);

        Assert.Null(response);
        Assert.Equal(Enum.Parse<AttemptError>(error), outcome.Error);
        Assert.Equal("boom " + failure, outcome.Detail);
    }

    [Fact]
    public async Task SendAsync_IOExceptionBeforeHeaders_Transport()
    {
        var attempt = Attempt((_, _) => throw new IOException("reset"));

        var (outcome, _) = await attempt.SendAsync(await RequestAsync(), 0, 1, BackendCredential.PassThrough);

        Assert.Equal(AttemptError.Transport, outcome.Error);
    }

    [Fact]
    public async Task SendAsync_HandlersOwnTimeout_NotStarted()
    {
        // SocketsHttpHandler's connect timeout surfaces as a cancellation that is neither the caller's nor the deadline's.
        var attempt = Attempt((_, _) => throw new TaskCanceledException("connect timeout"));

        var (outcome, _) = await attempt.SendAsync(await RequestAsync(), 0, 1, BackendCredential.PassThrough);

        Assert.Equal(AttemptError.NotStarted, outcome.Error);
    }

    [Fact]
    public async Task SendAsync_DeadlinePassesWhileTheBackendWorks_DeadlineExceeded()
    {
        var attempt = Attempt(async (_, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            throw new InvalidOperationException("unreachable");
        });
        var request = await RequestAsync(deadline: TimeSpan.FromSeconds(30));

        var sending = attempt.SendAsync(request, 0, 1, BackendCredential.PassThrough);
        _time.Advance(TimeSpan.FromSeconds(30));
        var (outcome, response) = await sending.WaitAsync(Wait.Patience);

        Assert.Null(response);
        Assert.Equal(AttemptError.DeadlineExceeded, outcome.Error);
        Assert.False(outcome.AllowsFailover);
    }

    [Fact]
    public async Task SendAsync_CallerGoneWhileTheBackendWorks_CallerGone()
    {
        using var caller = new CancellationTokenSource();
        var attempt = Attempt(async (_, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            throw new InvalidOperationException("unreachable");
        });
        var request = await RequestAsync(aborted: caller.Token);

        var sending = attempt.SendAsync(request, 0, 1, BackendCredential.PassThrough);
        await caller.CancelAsync();
        var (outcome, _) = await sending.WaitAsync(Wait.Patience);

        Assert.Equal(AttemptError.CallerGone, outcome.Error);
    }

    [Fact]
    public async Task SendAsync_BackendWithItsOwnDeploymentName_PathRewrittenForIt()
    {
        var attempt = Attempt((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)));
        var handler = _handler!;

        await attempt.SendAsync(await RequestAsync("/openai/deployments/chat/chat/completions?api-version=2024-10-21", "chat"), 1, 1, BackendCredential.PassThrough);

        Assert.Equal("https://b.openai.azure.com/openai/deployments/gpt-4o-b/chat/completions?api-version=2024-10-21", handler.Requests[0].RequestUri!.AbsoluteUri);
    }

    private ScriptedHttpHandler? _handler;

    private BackendAttempt Attempt(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> script)
    {
        _handler = new ScriptedHttpHandler(script);
        return new BackendAttempt(_options, new HttpMessageInvoker(_handler), _time);
    }

    private async Task<AttemptRequest> RequestAsync(
        string target = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", string deployment = "gpt-4o",
        TimeSpan? deadline = null, CancellationToken aborted = default)
    {
        var context = new DefaultHttpContext { RequestAborted = aborted };
        context.Request.Method = "POST";
        var read = await RequestBody.ReadAsync(new MemoryStream("{}"u8.ToArray()), 1024, CancellationToken.None);
        return new AttemptRequest(context, new ProxyPath(target, deployment, false), deployment, read.Body!, HasBody: true,
            new RequestCancellation(deadline ?? TimeSpan.FromMinutes(1), _time, aborted), new RequestRoute(RequestKind.Inference, [], Creates: false, Deleted: null), ByClientKey: false);
    }

    private sealed class TrackedContent : HttpContent
    {
        public bool Disposed { get; private set; }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => Task.CompletedTask;

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return true;
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
