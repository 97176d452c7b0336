using System.Net;
using System.Text;
using AoaiProxy.Configuration;
using AoaiProxy.Pipeline;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Pipeline;

public sealed class ResponseRelayTests
{
    private static readonly BackendOptions Backend = new("a", new Uri("https://a.openai.azure.com/"), 1, 1);
    private readonly FakeTimeProvider _time = new();
    private readonly ProxyOptions _options = new() { RelayIdleTimeout = TimeSpan.FromSeconds(30) };

    /// <summary>As in YARP, a zero-byte read waits for data before a relay buffer is rented for it.</summary>
    [Fact]
    public async Task RelayAsync_Stream_ZeroByteReadBeforeEachBufferedRead()
    {
        var source = new ScriptedStream("data: one\n\n", "data: two\n\n");
        var (context, lifetime) = Context();

        var result = await Relay().RelayAsync(context, Backend, Answer(source), 1, Relaying(context));

        Assert.Equal(RelayResult.Completed, result);
        Assert.Equal("data: one\n\ndata: two\n\n", Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()));
        Assert.Equal(0, source.ReadSizes[0]);
        Assert.All(source.ReadSizes.Where((_, i) => i % 2 == 1), size => Assert.True(size > 0));
        Assert.All(source.ReadSizes.Where((_, i) => i % 2 == 0), size => Assert.Equal(0, size));
        Assert.False(lifetime.Aborted);
    }

    /// <summary>A backend that stops sending mid-stream is cut after the idle timeout, and it is the backend's failure.</summary>
    [Fact]
    public async Task RelayAsync_BackendStallsPastIdleTimeout_AbortsCallerAndBlamesBackend()
    {
        var source = new ScriptedStream("data: one\n\n") { StallAtEnd = true };
        var (context, lifetime) = Context();

        var relay = Relay().RelayAsync(context, Backend, Answer(source), 1, Relaying(context));
        await source.Stalled.Task.WaitAsync(Wait.Patience);
        _time.Advance(_options.RelayIdleTimeout - TimeSpan.FromSeconds(1));
        Assert.False(relay.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(RelayResult.BackendStalled, await relay.WaitAsync(Wait.Patience));
        Assert.True(lifetime.Aborted);
    }

    /// <summary>A caller that stops reading is cut too, but that is not the backend's failure.</summary>
    [Fact]
    public async Task RelayAsync_CallerStopsReadingPastIdleTimeout_AbortsAndBlamesCaller()
    {
        var source = new ScriptedStream("data: one\n\n");
        var (context, lifetime) = Context();
        var sink = new StallingStream();
        context.Response.Body = sink;
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(sink));

        var relay = Relay().RelayAsync(context, Backend, Answer(source), 1, Relaying(context));
        await sink.Stalled.Task.WaitAsync(Wait.Patience);
        _time.Advance(_options.RelayIdleTimeout);

        Assert.Equal(RelayResult.CallerFailed, await relay.WaitAsync(Wait.Patience));
        Assert.True(lifetime.Aborted);
    }

    /// <summary>With both, Transfer-Encoding frames the answer, so its Content-Length is not relayed.</summary>
    [Fact]
    public async Task RelayAsync_TransferEncodingAndContentLength_ContentLengthDropped()
    {
        var answer = Answer(new ScriptedStream("{}"));
        answer.Headers.TryAddWithoutValidation("Transfer-Encoding", "chunked");
        answer.Content.Headers.ContentLength = 99;
        var (context, _) = Context();

        await Relay().RelayAsync(context, Backend, answer, 1, Relaying(context));

        Assert.Null(context.Response.ContentLength);
        Assert.False(context.Response.Headers.ContainsKey("Transfer-Encoding"));
    }

    private ResponseRelay Relay() => new(_options, NullLogger.Instance);

    /// <summary>The request's cancellation as the handler hands it over, its timers on the test clock.</summary>
    private RequestCancellation Relaying(HttpContext context) => new(TimeSpan.FromMinutes(10), _time, context.RequestAborted);

    private static HttpResponseMessage Answer(Stream body) => new(HttpStatusCode.OK) { Content = new StreamContent(body) };

    private static (DefaultHttpContext Context, Lifetime Lifetime) Context()
    {
        var context = new DefaultHttpContext();
        var lifetime = new Lifetime();
        context.Features.Set<IHttpRequestLifetimeFeature>(lifetime);
        context.Response.Body = new MemoryStream();
        return (context, lifetime);
    }

    private sealed class Lifetime : IHttpRequestLifetimeFeature
    {
        public CancellationToken RequestAborted { get; set; }

        public bool Aborted { get; private set; }

        public void Abort() => Aborted = true;
    }

    /// <summary>Gives one chunk per non-empty read; zero-byte reads complete at once while data remains.</summary>
    private sealed class ScriptedStream(params string[] chunks) : ReadOnlyTestStream
    {
        private int _next;

        public List<int> ReadSizes { get; } = [];

        public bool StallAtEnd { get; init; }

        public TaskCompletionSource Stalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ReadSizes.Add(buffer.Length);
            if (_next == chunks.Length && StallAtEnd)
            {
                Stalled.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            if (buffer.Length == 0 || _next == chunks.Length)
            {
                return 0;
            }

            var bytes = Encoding.UTF8.GetBytes(chunks[_next++]);
            bytes.CopyTo(buffer);
            return bytes.Length;
        }
    }

    /// <summary>A caller that never takes what is written.</summary>
    private sealed class StallingStream : MemoryStream
    {
        public TaskCompletionSource Stalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Stalled.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }
}
