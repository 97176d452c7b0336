using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

public class HopByHopHeadersTests
{
    [Theory]
    [InlineData("Connection")]
    [InlineData("connection")]
    [InlineData("CONNECTION")]
    [InlineData("Keep-Alive")]
    [InlineData("keep-alive")]
    [InlineData("Proxy-Authenticate")]
    [InlineData("proxy-authenticate")]
    [InlineData("Proxy-Authorization")]
    [InlineData("PROXY-AUTHORIZATION")]
    [InlineData("Proxy-Connection")]
    [InlineData("proxy-connection")]
    [InlineData("TE")]
    [InlineData("te")]
    [InlineData("Te")]
    [InlineData("Trailer")]
    [InlineData("trailer")]
    [InlineData("Transfer-Encoding")]
    [InlineData("transfer-encoding")]
    [InlineData("TRANSFER-ENCODING")]
    [InlineData("Upgrade")]
    [InlineData("upgrade")]
    public void IsHopByHop_StandardHopByHopName_TrueInAnyCase(string name)
    {
        Assert.True(HopByHopHeaders.IsHopByHop(name, connectionHeader: null));
    }

    [Theory]
    [InlineData(":authority")]
    [InlineData(":method")]
    [InlineData(":path")]
    [InlineData(":scheme")]
    [InlineData(":status")]
    [InlineData(":protocol")]
    public void IsHopByHop_PseudoHeader_True(string name)
    {
        Assert.True(HopByHopHeaders.IsHopByHop(name, connectionHeader: null));
    }

    [Theory]
    [InlineData("X-Foo", "close, X-Foo")]
    [InlineData("x-foo", "close, X-Foo")]
    [InlineData("X-Foo", "X-FOO")]
    [InlineData("X-Foo", "keep-alive,x-foo")]
    [InlineData("X-Foo", "  X-Foo  ,  close ")]
    [InlineData("X-Foo", ",,X-Foo,,")]
    [InlineData("X-Bar", "X-Foo, X-Bar, X-Baz")]
    [InlineData("Keep-Alive", "close")]
    public void IsHopByHop_NamedByConnectionHeader_True(string name, string connection)
    {
        Assert.True(HopByHopHeaders.IsHopByHop(name, connection));
    }

    [Theory]
    [InlineData("Content-Type", null)]
    [InlineData("Content-Length", null)]
    [InlineData("Authorization", null)]
    [InlineData("api-key", null)]
    [InlineData("Retry-After", null)]
    [InlineData("x-ms-region", null)]
    [InlineData("Host", null)]
    [InlineData("TE-Extra", null)]
    [InlineData("X-Connection", null)]
    [InlineData("Content-Type", "")]
    [InlineData("Content-Type", "close")]
    [InlineData("Content-Type", "keep-alive, Upgrade")]
    [InlineData("X-Foo", "X-Foobar, X-Fo")]
    [InlineData("X-Foo", "X-Foo-Bar")]
    [InlineData("X-Foo", ", ,")]
    public void IsHopByHop_OrdinaryHeader_False(string name, string? connection)
    {
        Assert.False(HopByHopHeaders.IsHopByHop(name, connection));
    }

    [Fact]
    public void IsHopByHop_NullName_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => HopByHopHeaders.IsHopByHop(null!, "close"));
    }

    /// <summary>
    /// Checking the headers of a request that carries "Connection: keep-alive" (most HTTP/1.1 clients send it) allocates
    /// nothing: the Connection value is not split again (an array and strings) per header, per attempt, per request.
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
