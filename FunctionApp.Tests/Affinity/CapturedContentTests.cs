using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using AoaiProxy.Affinity;

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
        Assert.Equal("file-1", ObjectReferences.CreatedId(captured.Decoded(), eventStream: false));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("br")]
    [InlineData("deflate")]
    public async Task Decoded_CompressedAnswer_JsonText(string encoding)
    {
        var json = Encoding.UTF8.GetBytes("{\"id\":\"batch_7\",\"object\":\"batch\",\"pad\":\"" + new string('y', 50_000) + "\"}");
        using var compressed = new MemoryStream();
        await using (Stream encoder = encoding switch
        {
            "gzip" => new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true),
            "br" => new BrotliStream(compressed, CompressionLevel.Fastest, leaveOpen: true),
            _ => new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true),
        })
        {
            await encoder.WriteAsync(json);
        }

        var inner = new ByteArrayContent(compressed.ToArray());
        inner.Headers.ContentEncoding.Add(encoding);
        using var captured = new CapturedContent(inner);
        await captured.ReadAsByteArrayAsync();

        Assert.Equal("batch_7", ObjectReferences.CreatedId(captured.Decoded(), eventStream: false));
    }
}
