using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

/// <summary>Pre-release review of <see cref="HopByHopHeaders"/> on the hot path.</summary>
public sealed class HopByHopHeadersReviewTests
{
    /// <summary>
    /// Finding 10 (nit). Every forwarded header of a request that carries "Connection: keep-alive" (most HTTP/1.1
    /// clients send it) splits the Connection value again: an array and strings per header, per attempt, per request.
    /// </summary>
    [Fact]
    public void IsHopByHop_EndToEndHeaderWithConnectionKeepAlive_DoesNotAllocate()
    {
        Assert.False(HopByHopHeaders.IsHopByHop("x-ms-client-request-id", "keep-alive"));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            HopByHopHeaders.IsHopByHop("x-ms-client-request-id", "keep-alive");
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
