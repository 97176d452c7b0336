using AoaiProxy.Content;

namespace AoaiProxy.Tests.Content;

public sealed class ContentCodingsTests
{
    [Theory]
    [InlineData(null, "Identity")]
    [InlineData("", "Identity")]
    [InlineData("identity", "Identity")]
    [InlineData("Identity", "Identity")]
    [InlineData("gzip", "Gzip")]
    [InlineData(" GZip ", "Gzip")]
    [InlineData("x-gzip", "Gzip")]
    [InlineData("X-GZIP", "Gzip")]
    [InlineData("deflate", "Deflate")]
    [InlineData("br", "Brotli")]
    [InlineData("BR", "Brotli")]
    [InlineData("identity, gzip", "Gzip")]
    [InlineData("br,identity", "Brotli")]
    [InlineData("zstd", "Unsupported")]
    [InlineData("compress", "Unsupported")]
    [InlineData("x-deflate", "Unsupported")]
    [InlineData("gzip, br", "Unsupported")]
    [InlineData("gzip,gzip", "Unsupported")]
    [InlineData("x-gzip, deflate", "Unsupported")]
    public void Of_HeaderValue_Coding(string? contentEncoding, string expected)
    {
        Assert.Equal(Enum.Parse<ContentCoding>(expected), ContentCodings.Of(contentEncoding));
    }

    [Theory]
    [InlineData(new string[0], "Identity")]
    [InlineData(new[] { "identity" }, "Identity")]
    [InlineData(new[] { "x-gzip" }, "Gzip")]
    [InlineData(new[] { "identity", "br" }, "Brotli")]
    [InlineData(new[] { "gzip", "br" }, "Unsupported")]
    [InlineData(new[] { "zstd" }, "Unsupported")]
    public void Of_ParsedValues_Coding(string[] contentEncodings, string expected)
    {
        Assert.Equal(Enum.Parse<ContentCoding>(expected), ContentCodings.Of(contentEncodings));
    }
}
