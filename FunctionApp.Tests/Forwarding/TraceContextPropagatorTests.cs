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

        var child = TraceContextPropagator.ChildTraceparent(caller, out _);

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
        var child = TraceContextPropagator.ChildTraceparent(caller, out _);

        Assert.True(ActivityContext.TryParse(child, null, out var parsed), child);
        Assert.NotEqual(default, parsed.TraceId);
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-00$", child);
    }

    /// <summary>
    /// W3C Trace Context, "Versioning of traceparent": a higher version (01-fe) is parsed by the rules of version 00 (what
    /// follows the flags after a dash is ignored) and the trace continued. Only the flags this version defines (sampled,
    /// random trace id) go on; "Other Flags": "Vendors MUST set those to zero". The header sent is always version 00.
    /// </summary>
    [Theory]
    [InlineData("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "01")]
    [InlineData("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-will-be-like", "01")]
    [InlineData("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09", "01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff", "03")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02", "02")]
    public void ChildTraceparent_HigherVersionOrUnknownFlags_SameTraceVersion00KnownFlagsOnly(string caller, string flags)
    {
        var child = TraceContextPropagator.ChildTraceparent(caller, out _);

        Assert.Matches("^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-" + flags + "$", child);
        Assert.DoesNotContain("b7ad6b7169203331", child, StringComparison.Ordinal);
    }

    /// <summary>What the versioning rules still refuse: version ff, a version 00 longer than 55, no dash after the flags.</summary>
    [Theory]
    [InlineData("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra")]
    [InlineData("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x")]
    [InlineData("0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("cc-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01")]
    public void ChildTraceparent_InvalidVersionOrLayout_NewTrace(string caller)
    {
        var child = TraceContextPropagator.ChildTraceparent(caller, out _);

        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-00$", child);
        Assert.DoesNotContain("0af7651916cd43dd8448eb211c80319c", child, StringComparison.OrdinalIgnoreCase);
    }
}
