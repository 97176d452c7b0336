using System.Buffers;
using System.Collections.Immutable;
using System.Text;
using AoaiProxy.State;

namespace AoaiProxy.Tests.State;

public sealed class CooldownCodecTests
{
    private static readonly DateTimeOffset Deadline = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_123);

    [Fact]
    public void Write_OneEntry_WritesCompactJson()
    {
        var cooldowns = Cooldowns(("east/*", new Cooldown(Deadline, CooldownReason.Throttled)));

        Assert.Equal("""{"east/*":[1750000000123,"t"]}""", WriteText(cooldowns));
    }

    [Fact]
    public void Write_Empty_WritesEmptyObject()
    {
        Assert.Equal("{}", WriteText(StoreRead.NoCooldowns));
    }

    [Fact]
    public void WriteThenRead_EveryReasonAndAwkwardKeys_RoundTrips()
    {
        var cooldowns = Cooldowns(
            ("east/*", new Cooldown(Deadline, CooldownReason.Throttled)),
            ("west/gpt-4o", new Cooldown(Deadline.AddSeconds(1), CooldownReason.Failed)),
            ("north/\"quoted\" \\ + <tag> é 日本", new Cooldown(Deadline.AddMinutes(1), CooldownReason.TimedOut)),
            (string.Empty, new Cooldown(DateTimeOffset.UnixEpoch, CooldownReason.Failed)),
            ("min", new Cooldown(DateTimeOffset.MinValue, CooldownReason.Throttled)),
            ("max", new Cooldown(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()), CooldownReason.Throttled)));

        AssertSameEntries(cooldowns, RoundTrip(cooldowns));
    }

    [Fact]
    public void WriteThenRead_SubMillisecondAndOffsetDeadline_KeepsTheInstantToTheMillisecond()
    {
        var deadline = new DateTimeOffset(2025, 6, 15, 12, 0, 0, TimeSpan.FromHours(2)).AddTicks(12_345);
        var read = RoundTrip(Cooldowns(("k", new Cooldown(deadline, CooldownReason.Throttled))));

        Assert.Equal(deadline.ToUnixTimeMilliseconds(), read["k"].Until.ToUnixTimeMilliseconds());
        Assert.Equal(TimeSpan.Zero, read["k"].Until.Offset);
    }

    [Fact]
    public void WriteThenRead_TenThousandEntries_RoundTrips()
    {
        var cooldowns = Cooldowns(Enumerable.Range(0, 10_000)
            .Select(i => ($"backend{i}/deployment{i}", new Cooldown(Deadline.AddMilliseconds(i), (CooldownReason)(i % 3))))
            .ToArray());

        AssertSameEntries(cooldowns, RoundTrip(cooldowns));
    }

    [Fact]
    public void Read_Result_UsesOrdinalKeys()
    {
        var read = Read("""{"a/*":[1,"t"],"A/*":[2,"f"]}""");

        Assert.Equal(2, read.Count);
        Assert.Same(StringComparer.Ordinal, read.KeyComparer);
    }

    [Theory]
    [InlineData("", 0)]
    [InlineData("   ", 0)]
    [InlineData("null", 0)]
    [InlineData("42", 0)]
    [InlineData("\"text\"", 0)]
    [InlineData("[]", 0)]
    [InlineData("[[1,\"t\"]]", 0)]
    [InlineData("not json at all", 0)]
    [InlineData("{", 0)]
    [InlineData("{}", 0)]
    [InlineData("{\"a\":5}", 0)]
    [InlineData("{\"a\":null}", 0)]
    [InlineData("{\"a\":{\"until\":1,\"reason\":\"t\"}}", 0)]
    [InlineData("{\"a\":[]}", 0)]
    [InlineData("{\"a\":[1]}", 0)]
    [InlineData("{\"a\":[1,\"x\"]}", 0)]
    [InlineData("{\"a\":[1,\"throttled\"]}", 0)]
    [InlineData("{\"a\":[1,5]}", 0)]
    [InlineData("{\"a\":[\"1\",\"t\"]}", 0)]
    [InlineData("{\"a\":[1.5,\"t\"]}", 0)]
    [InlineData("{\"a\":[[1],\"t\"]}", 0)]
    [InlineData("{\"a\":[\"t\",1]}", 0)]
    [InlineData("{\"a\":[1,\"t\"]}", 1)]
    [InlineData("{\"a\":[1,\"t\",\"future field\",{\"nested\":[1,2]}]}", 1)]
    [InlineData("{\"a\":[1,\"t\"],\"b\":{\"x\":[1,\"t\"]},\"c\":[2,\"f\"]}", 2)]
    [InlineData("{\"a\":[1,\"t\"],\"b\":[1,\"?\"],\"c\":[2,\"o\"]}", 2)]
    [InlineData("{\"a\":[1,\"t\"],\"b\":[2", 1)]
    [InlineData("{\"a\":[1,\"t\"],\"b\":[2,\"f\"]} trailing", 2)]
    [InlineData("{\"a\":[1,\"t\"],\"a\":[2,\"f\"]}", 1)]
    public void Read_MalformedInput_SkipsWhatItCannotRead(string json, int expectedCount)
    {
        Assert.Equal(expectedCount, Read(json).Count);
    }

    [Theory]
    [InlineData("""{"a":[1,"t",1200]}""", 1200L)]
    [InlineData("""{"a":[1,"t",0]}""", 0L)]
    [InlineData("""{"a":[1,"t"]}""", null)]
    [InlineData("""{"a":[1,"t",-5]}""", null)]
    [InlineData("""{"a":[1,"t","1200"]}""", null)]
    [InlineData("""{"a":[1,"t",1.5]}""", null)]
    [InlineData("""{"a":[1,"f",1200]}""", null)]
    public void Read_ThrottledWindowsHeadroom_KeptOnlyForThrottlingAndAsTokens(string json, long? headroom)
    {
        Assert.Equal(headroom, Read(json)["a"].Headroom);
    }

    [Fact]
    public void WriteThenRead_Headroom_RoundTripsAndOnlyWhenSet()
    {
        var cooldowns = Cooldowns(
            ("a/gpt-4o", new Cooldown(DateTimeOffset.FromUnixTimeMilliseconds(1000), CooldownReason.Throttled, 1500)),
            ("b/gpt-4o", new Cooldown(DateTimeOffset.FromUnixTimeMilliseconds(2000), CooldownReason.Throttled)));

        var text = WriteText(cooldowns);
        Assert.Contains("\"a/gpt-4o\":[1000,\"t\",1500]", text, StringComparison.Ordinal);
        Assert.Contains("\"b/gpt-4o\":[2000,\"t\"]", text, StringComparison.Ordinal);
        AssertSameEntries(cooldowns, RoundTrip(cooldowns));
    }

    [Fact]
    public void Read_InvalidUtf8_ReturnsEmpty()
    {
        Assert.Empty(CooldownCodec.Read([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x5B, 0x31, 0x2C, 0x22, 0x74, 0x22, 0x5D, 0x7D]));
    }

    [Fact]
    public void Read_DuplicateKey_LastOneWins()
    {
        var read = Read("""{"a":[1,"t"],"a":[2,"f"]}""");

        Assert.Equal(new Cooldown(DateTimeOffset.FromUnixTimeMilliseconds(2), CooldownReason.Failed), read["a"]);
    }

    [Theory]
    [InlineData("253402300799999", true)]
    [InlineData("-62135596800000", true)]
    [InlineData("253402300800000", false)]
    [InlineData("-62135596800001", false)]
    [InlineData("9223372036854775807", false)]
    [InlineData("9223372036854775808", false)]
    [InlineData("-9223372036854775808", false)]
    [InlineData("1e300", false)]
    [InlineData("123456789012345678901234567890", false)]
    public void Read_ExtremeDeadline_KeepsOnlyRepresentableInstants(string milliseconds, bool kept)
    {
        var read = Read($$"""{"a":[{{milliseconds}},"t"],"b":[1,"f"]}""");

        Assert.Equal(kept, read.ContainsKey("a"));
        Assert.True(read.ContainsKey("b"));
    }

    [Fact]
    public void Read_HugeKeyAndDeepNesting_DoesNotThrow()
    {
        var hugeKey = new string('k', 100_000);
        var deep = new string('[', 10_000) + new string(']', 10_000);

        Assert.True(Read($$"""{"{{hugeKey}}":[1,"t"]}""").ContainsKey(hugeKey));
        Assert.Empty(Read($$"""{"a":{{deep}}}"""));
    }

    private static ImmutableDictionary<string, Cooldown> Cooldowns(params (string Key, Cooldown Cooldown)[] entries) =>
        entries.ToImmutableDictionary(e => e.Key, e => e.Cooldown, StringComparer.Ordinal);

    private static void AssertSameEntries(
        ImmutableDictionary<string, Cooldown> expected, ImmutableDictionary<string, Cooldown> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (key, cooldown) in expected)
        {
            Assert.Equal(cooldown, actual[key]);
        }
    }

    private static string WriteText(ImmutableDictionary<string, Cooldown> cooldowns)
    {
        var buffer = new ArrayBufferWriter<byte>();
        CooldownCodec.Write(buffer, cooldowns);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static ImmutableDictionary<string, Cooldown> RoundTrip(ImmutableDictionary<string, Cooldown> cooldowns) =>
        Read(WriteText(cooldowns));

    private static ImmutableDictionary<string, Cooldown> Read(string json) => CooldownCodec.Read(Encoding.UTF8.GetBytes(json));
}
