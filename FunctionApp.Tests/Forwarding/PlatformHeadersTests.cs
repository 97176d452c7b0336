using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

public class PlatformHeadersTests
{
    [Theory]
    [InlineData("x-ms-invocation-id")]
    [InlineData("X-Original-For")]
    [InlineData("x-original-host")]
    [InlineData("X-Original-Proto")]
    [InlineData("X-Original-Prefix")]
    [InlineData("X-Forwarded-For")]
    [InlineData("x-forwarded-proto")]
    [InlineData("X-Forwarded-TlsVersion")]
    [InlineData("X-ARR-LOG-ID")]
    [InlineData("X-ARR-SSL")]
    [InlineData("X-ARR-ClientCert")]
    [InlineData("X-MS-CLIENT-PRINCIPAL")]
    [InlineData("X-MS-CLIENT-PRINCIPAL-NAME")]
    [InlineData("x-ms-client-principal-idp")]
    [InlineData("X-MS-TOKEN-AAD-ACCESS-TOKEN")]
    [InlineData("Cookie")]
    [InlineData("DISGUISED-HOST")]
    [InlineData("X-Client-IP")]
    [InlineData("X-ZUMO-AUTH")]
    [InlineData("x-zumo-auth")]
    public void IsPlatform_PlatformOrAuthHeader_True(string name) => Assert.True(PlatformHeaders.IsPlatform(name));

    [Theory]
    [InlineData("x-ms-client-request-id")]
    [InlineData("x-ms-useragent")]
    [InlineData("api-key")]
    [InlineData("Authorization")]
    [InlineData("Content-Type")]
    [InlineData("X")]
    [InlineData("x-")]
    [InlineData("traceparent")]
    [InlineData("X-Original")]
    public void IsPlatform_CallerHeader_False(string name) => Assert.False(PlatformHeaders.IsPlatform(name));
}
