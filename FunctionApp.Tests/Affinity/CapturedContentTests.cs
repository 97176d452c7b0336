using System.Net.Http.Headers;
using System.Text;
using AoaiProxy.Affinity;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Affinity;

public class CapturedContentTests
{
    [Fact]
    public async Task ReadAsStream_Answer_RelayedUnchangedAndPrefixKept()
    {
        var answer = Encoding.UTF8.GetBytes("{\"id\":\"file-1\",\"pad\":\"" + new string('x', 20_000) + "\"}");
        var inner = new ByteArrayContent(answer);
        inner.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var captured = new CapturedContent(inner);

        var relayed = await captured.ReadAsByteArrayAsync();

        Assert.Equal(answer, relayed);
        Assert.Equal("application/json", captured.Headers.ContentType!.MediaType);
        Assert.Equal(CapturedContent.Limit, captured.Captured.Length);
        Assert.Equal("file-1", CreatedObjectId.Of(captured.Decoded(), eventStream: false));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("x-gzip")]
    [InlineData("br")]
    [InlineData("deflate")]
    public async Task Decoded_CompressedAnswer_JsonText(string encoding)
    {
        var json = Encoding.UTF8.GetBytes("{\"id\":\"batch_7\",\"object\":\"batch\",\"pad\":\"" + new string('y', 50_000) + "\"}");
        var inner = new ByteArrayContent(Compression.Encode(encoding, json, System.IO.Compression.CompressionLevel.Fastest));
        inner.Headers.ContentEncoding.Add(encoding);
        using var captured = new CapturedContent(inner);
        await captured.ReadAsByteArrayAsync();

        Assert.Equal("batch_7", CreatedObjectId.Of(captured.Decoded(), eventStream: false));
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("gzip, br")]
    public async Task Decoded_EncodingItCannotRead_Nothing(string encoding)
    {
        var inner = new ByteArrayContent("{\"id\":\"batch_7\"}"u8.ToArray());
        inner.Headers.TryAddWithoutValidation("Content-Encoding", encoding);
        using var captured = new CapturedContent(inner);
        await captured.ReadAsByteArrayAsync();

        Assert.Empty(captured.Decoded());
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public async Task Decoded_Bomb_RelayedUnchangedDecodedOnlyUpToTheLimitWithLittleMemory(string encoding)
    {
        var bomb = Compression.Bomb(encoding);
        var inner = new ByteArrayContent(bomb);
        inner.Headers.ContentEncoding.Add(encoding);
        using var captured = new CapturedContent(inner);
        var relayed = await captured.ReadAsByteArrayAsync();

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var decoded = captured.Decoded();
        var used = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.Equal(bomb, relayed);
        Assert.Equal(CapturedContent.Limit, decoded.Length);
        Assert.Null(CreatedObjectId.Of(decoded, eventStream: false));
        Assert.InRange(used, 0, 256 * 1024);
    }
}
