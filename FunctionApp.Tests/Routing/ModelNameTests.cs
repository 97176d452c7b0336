using System.Buffers;
using System.Text;
using AoaiProxy.Routing;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Routing;

public class ModelNameTests
{
    [Theory]
    [InlineData("""{"model":"gpt-4o","messages":[]}""", "gpt-4o")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"temperature":0.2,"model":"gpt-4o-mini"}""", "gpt-4o-mini")]
    [InlineData("""{"messages":[{"role":"user","model":"nested"}],"model":"outer"}""", "outer")]
    [InlineData("""{"options":{"model":"nested","deep":{"model":"deeper"}},"model":"outer","stream":true}""", "outer")]
    [InlineData("""{"model":"first","model":"second"}""", "first")]
    [InlineData(""" { "model" : "spaced" } """, "spaced")]
    [InlineData("{\n  \"model\": \"multi-line\"\n}", "multi-line")]
    [InlineData("""{"mod\u0065l":"escaped-name"}""", "escaped-name")]
    [InlineData("""{"model":"gpt\u002d4o"}""", "gpt-4o")]
    [InlineData("""{"model":"modèle-ünïcode"}""", "modèle-ünïcode")]
    [InlineData("""{"model":""}""", "")]
    [InlineData("{/* comment */\"model\":\"commented\", // more\n\"n\":1,}", "commented")]
    [InlineData("""{"tools":[1,[2,[3]],{"a":{"b":null}}],"model":"after-nesting"}""", "after-nesting")]
    public void FromJson_TopLevelModel_Found(string json, string expected)
    {
        Assert.Equal(expected, ModelName.FromJson(Sequence(json)));
    }

    [Theory]
    [InlineData("""{"messages":[{"model":"nested"}]}""")]
    [InlineData("""{"options":{"model":"nested"}}""")]
    [InlineData("""{"Model":"wrong-case"}""")]
    [InlineData("""{"models":"other-name"}""")]
    [InlineData("""{}""")]
    [InlineData("""{"model":5}""")]
    [InlineData("""{"model":null}""")]
    [InlineData("""{"model":true}""")]
    [InlineData("""{"model":["gpt-4o"]}""")]
    [InlineData("""{"model":{"name":"gpt-4o"}}""")]
    public void FromJson_NoTopLevelStringModel_Null(string json)
    {
        Assert.Null(ModelName.FromJson(Sequence(json)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("""{"model":""")]
    [InlineData("""{"model":"unterminated""")]
    [InlineData("""{"messages":[}, "model":"gpt-4o"}""")]
    [InlineData("""{"a":1 "model":"gpt-4o"}""")]
    [InlineData("not json")]
    [InlineData("""model=gpt-4o""")]
    [InlineData("""["model","gpt-4o"]""")]
    [InlineData("\"gpt-4o\"")]
    [InlineData("42")]
    [InlineData("null")]
    public void FromJson_MalformedOrNotAnObject_NullWithoutThrowing(string text)
    {
        Assert.Null(ModelName.FromJson(Sequence(text)));
    }

    [Fact]
    public void FromJson_TooDeepBeforeModel_NullWithoutThrowing()
    {
        var json = "{\"a\":" + new string('[', 200) + new string(']', 200) + ",\"model\":\"gpt-4o\"}";

        Assert.Null(ModelName.FromJson(Sequence(json)));
    }

    [Theory]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'m', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}' })]
    [InlineData(new byte[] { 0xFF, 0xFE })]
    [InlineData(new byte[] { 0x00 })]
    public void FromJson_NotUtf8Json_NullWithoutThrowing(byte[] bytes)
    {
        Assert.Null(ModelName.FromJson(new ReadOnlySequence<byte>(bytes)));
    }

    [Fact]
    public void FromJson_InvalidUtf8InModelValue_NullWithoutThrowing()
    {
        byte[] bytes = [.. "{\"model\":\"gpt"u8, 0xC3, 0x28, .. "\"}"u8];

        Assert.Null(ModelName.FromJson(new ReadOnlySequence<byte>(bytes)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(64)]
    public void FromJson_MultiSegmentSequence_Found(int segmentLength)
    {
        const string json = """{"messages":[{"role":"user","content":"hello","model":"nested"}],"model":"gpt-4o-2024-08-06","stream":true}""";

        var sequence = Sequence(json, segmentLength);

        Assert.False(sequence.IsSingleSegment);
        Assert.Equal("gpt-4o-2024-08-06", ModelName.FromJson(sequence));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void FromJson_MultiSegmentMalformed_Null(int segmentLength)
    {
        Assert.Null(ModelName.FromJson(Sequence("""{"messages":[{"model":"x"}],"model":""", segmentLength)));
    }

    [Fact]
    public void FromJson_Utf8ByteOrderMarkBeforeJson_Found()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(System.Text.Encoding.UTF8.GetBytes("""{"model":"bom"}""")).ToArray();

        Assert.Equal("bom", ModelName.FromJson(new System.Buffers.ReadOnlySequence<byte>(bytes)));
    }

    [Fact]
    public void FromJson_EmptySequence_Null()
    {
        Assert.Null(ModelName.FromJson(ReadOnlySequence<byte>.Empty));
    }

    [Theory]
    [InlineData("""{"model":"gpt-4o","messages":[]}""", 1)]
    [InlineData("""{"messages":[{"role":"user"}],  "model" : "gpt\u002d4o" }""", 1)]
    [InlineData("\uFEFF{\"model\":\"gpt-4o\"}", 1)]
    [InlineData("""{"messages":[{"role":"user"}],"model":"gpt-4o"}""", 3)]
    public void Locate_Model_OffsetsOfTheWholeStringToken(string json, int segmentLength)
    {
        var bytes = Encoding.UTF8.GetBytes(json);

        var location = ModelName.Locate(Sequence(json, segmentLength));

        Assert.Equal("gpt-4o", location.Model);
        var token = Encoding.UTF8.GetString(bytes, (int)location.Start, (int)location.Length);
        Assert.StartsWith("\"", token, StringComparison.Ordinal);
        Assert.EndsWith("\"", token, StringComparison.Ordinal);
        Assert.Equal("gpt-4o", System.Text.Json.JsonSerializer.Deserialize<string>(token));
    }

    private static ReadOnlySequence<byte> Sequence(string text) => new(Encoding.UTF8.GetBytes(text));

    /// <summary>The UTF-8 text cut into segments of <paramref name="segmentLength"/> bytes, so tokens straddle segments.</summary>
    private static ReadOnlySequence<byte> Sequence(string text, int segmentLength)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var first = new Chunk(bytes.AsMemory(0, Math.Min(segmentLength, bytes.Length)), 0);
        var last = first;
        for (var offset = segmentLength; offset < bytes.Length; offset += segmentLength)
        {
            last = last.Append(bytes.AsMemory(offset, Math.Min(segmentLength, bytes.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Chunk : ReadOnlySequenceSegment<byte>
    {
        public Chunk(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Chunk Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Chunk(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    public static TheoryData<string, string?> StreamCases() => new()
    {
        { """{"model":"first"}""", "first" },
        { """{"messages":[{"role":"user","content":"hi"}],"model":"after-messages"}""", "after-messages" },
        { """{"tools":[1,[2,[3]],{"model":"nested"}],"model":"top"}""", "top" },
        { """{"a":{"model":"nested-only"}}""", null },
        { """{"model":42}""", null },
        { """[{"model":"array"}]""", null },
        { """{"model":""", null },
        { "\uFEFF{\"model\":\"bom\"}", "bom" },
        { "{/* c */\"model\":\"commented\",}", "commented" },
        { "", null },
        { "not json", null },
    };

    [Theory]
    [MemberData(nameof(StreamCases))]
    public async Task FromStreamAsync_TrickledInSmallReads_AgreesWithFromJson(string json, string? expected)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(json);

        var streamed = await ModelName.FromStreamAsync(new TrickleStream(bytes, 3), CancellationToken.None);

        Assert.Equal(expected, streamed);
        Assert.Equal(expected, ModelName.FromJson(new System.Buffers.ReadOnlySequence<byte>(bytes)));
    }

    [Fact]
    public async Task FromStreamAsync_ModelAfterTokenLargerThanTheWindow_Found()
    {
        // A vision request: a multi-megabyte base64 image before "model", as the SDKs order the properties.
        var image = new string('A', 5 * 1024 * 1024);
        var json = """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,IMAGE"}}]}],"model":"gpt-4o"}""";
        var bytes = System.Text.Encoding.UTF8.GetBytes(json.Replace("IMAGE", image, StringComparison.Ordinal));

        Assert.Equal("gpt-4o", await ModelName.FromStreamAsync(new MemoryStream(bytes), CancellationToken.None));
    }

    /// <summary>
    /// The window stays at its fixed size whatever comes before "model" (here a 50 MB base64 image, which must not grow it
    /// to a 64 MB array): the stream is never asked for more than that at once.
    /// </summary>
    [Fact]
    public async Task FromStreamAsync_FiftyMegabyteStringBeforeModel_FoundWithinFixedWindow()
    {
        var stream = new GeneratedStream(
            """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,"""u8.ToArray(),
            50 * 1024 * 1024,
            "\"}}]}],\"model\":\"gpt-4o\"}"u8.ToArray());

        Assert.Equal("gpt-4o", await ModelName.FromStreamAsync(stream, CancellationToken.None));
        Assert.InRange(stream.LargestRead, 1, 64 * 1024);
    }

    public static TheoryData<string, int, string?> LongTokenCases() => new()
    {
        // Escapes (an escaped quote, an escaped backslash before the closing quote) cut at every place by the reads.
        { "{\"a\":\"" + string.Concat(Enumerable.Repeat("x\\\"y\\\\", 40_000)) + "\",\"model\":\"after-escapes\"}", 3, "after-escapes" },
        { "{\"a\":\"" + new string('b', 200_000) + "\\\\\",\"model\":\"after-backslash\"}", 7, "after-backslash" },

        // A long property name, and a long string inside an array.
        { "{\"" + new string('p', 100_000) + "\":1,\"model\":\"after-name\"}", 4096, "after-name" },
        { "{\"m\":[\"" + new string('c', 100_000) + "\",{\"model\":\"nested\"}],\"model\":\"top\"}", 5000, "top" },

        // The model itself too long for the window, and a number that does not fit: no model, no growth.
        { "{\"model\":\"" + new string('m', 100_000) + "\"}", 4096, "" },
        { "{\"n\":" + new string('1', 100_000) + ",\"model\":\"after-number\"}", 4096, null },
    };

    [Theory]
    [MemberData(nameof(LongTokenCases))]
    public async Task FromStreamAsync_TokenLongerThanTheWindow_SkippedOrGivenUp(string json, int chunk, string? expected)
    {
        var streamed = await ModelName.FromStreamAsync(new TrickleStream(Encoding.UTF8.GetBytes(json), chunk), CancellationToken.None);

        Assert.Equal(expected, streamed);
    }

    /// <summary>Prefix, then <c>count</c> bytes of 'A' made up on the fly, then suffix; remembers the largest read asked for.</summary>
    private sealed class GeneratedStream(byte[] prefix, long count, byte[] suffix) : ReadOnlyTestStream
    {
        private long _position;

        public int LargestRead { get; private set; }

        public override long Length => prefix.Length + count + suffix.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            LargestRead = Math.Max(LargestRead, buffer.Length);
            var written = 0;
            while (written < buffer.Length && _position < Length)
            {
                buffer[written++] = _position < prefix.Length ? prefix[_position]
                    : _position < prefix.Length + count ? (byte)'A'
                    : suffix[_position - prefix.Length - count];
                _position++;
            }

            return written;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }

    /// <summary>Returns at most <c>chunk</c> bytes per read, so tokens are cut at every possible place.</summary>
    private sealed class TrickleStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}
