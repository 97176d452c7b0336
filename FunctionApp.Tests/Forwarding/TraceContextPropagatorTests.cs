using System.Diagnostics;
using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

public sealed class TraceContextPropagatorTests
{
    [Fact]
    public void Inject_RequestCarriesCallersTraceparent_ReplacedByTheActivitysOwn()
    {
        var propagator = new TraceContextPropagator(DistributedContextPropagator.CreateW3CPropagator());
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://a.openai.azure.com/");
        request.Headers.TryAddWithoutValidation("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        request.Headers.TryAddWithoutValidation("tracestate", "caller=1");
        using var activity = new Activity("out").SetIdFormat(ActivityIdFormat.W3C).Start();

        propagator.Inject(activity, request, static (carrier, name, value) =>
        {
            // As HttpClient's own setter: it adds only what is not there yet.
            var message = (HttpRequestMessage)carrier!;
            if (!message.Headers.Contains(name))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        });

        Assert.Equal([activity.Id!], request.Headers.GetValues("traceparent"));
        Assert.False(request.Headers.Contains("tracestate"));
    }

    [Fact]
    public void ChildTraceparent_CallersTraceparent_SameTraceAndFlagsNewSpan()
    {
        const string caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

        var child = TraceContextPropagator.ChildTraceparent(caller);

        Assert.True(ActivityContext.TryParse(child, null, out var parsed), child);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", parsed.TraceId.ToHexString());
        Assert.NotEqual("b7ad6b7169203331", parsed.SpanId.ToHexString());
        Assert.Equal(ActivityTraceFlags.Recorded, parsed.TraceFlags);
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", child);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("garbage")]
    [InlineData("00-00000000000000000000000000000000-b7ad6b7169203331-01")]
    public void ChildTraceparent_NoValidCallerTraceparent_NewTrace(string? caller)
    {
        var child = TraceContextPropagator.ChildTraceparent(caller);

        Assert.True(ActivityContext.TryParse(child, null, out var parsed), child);
        Assert.NotEqual(default, parsed.TraceId);
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-00$", child);
    }
}
