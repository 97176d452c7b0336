using System.Net;
using AoaiProxy.Observability;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.Observability;

/// <summary>
/// The access rule of <see cref="ProxyStatusEndpoint"/> without a host (the endpoint over real HTTP:
/// <see cref="EndToEnd.StatusEndpointEndToEndTests"/>).
/// </summary>
public sealed class ProxyStatusEndpointTests
{
    [Fact]
    public void IsLoopback_ForwardedHeader_CountsAsRemote()
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.Request.Headers["Forwarded"] = "for=203.0.113.9";

        Assert.False(ProxyStatusEndpoint.IsLoopback(context));
    }
}
