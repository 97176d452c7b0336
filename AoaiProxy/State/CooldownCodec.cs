using System.Buffers;
using System.Collections.Immutable;
using System.Text.Json;

namespace AoaiProxy.State;

/// <summary>
/// The cooldowns as one compact JSON object, stored in a single string property of the state entity:
/// <c>{"key":[untilUnixMilliseconds,"reasonCode"(,headroomTokens)],...}</c>. Reading is tolerant: the document is shared by every
/// instance and every version of the proxy, so an entry this version does not understand is skipped, never fatal.
/// </summary>
internal static class CooldownCodec
{
    // One letter per reason: stable on the wire, independent of the enum's names and numbers.
    private const string ThrottledCode = "t";
    private const string FailedCode = "f";
    private const string TimedOutCode = "o";

    private static readonly long MinUnixMilliseconds = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long MaxUnixMilliseconds = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>Writes <paramref name="cooldowns"/> as UTF-8 JSON. Deadlines keep millisecond precision.</summary>
    public static void Write(IBufferWriter<byte> destination, ImmutableDictionary<string, Cooldown> cooldowns)
    {
        ArgumentNullException.ThrowIfNull(cooldowns);
        using var writer = new Utf8JsonWriter(destination);
        writer.WriteStartObject();
        foreach (var (key, cooldown) in cooldowns)
        {
            writer.WriteStartArray(key);
            writer.WriteNumberValue(cooldown.Until.ToUnixTimeMilliseconds());
            writer.WriteStringValue(CodeOf(cooldown.Reason));
            if (cooldown.Headroom is { } headroom)
            {
                writer.WriteNumberValue(headroom);
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// Reads what <see cref="Write"/> wrote. Never throws: entries that are malformed, out of range or of an unknown
    /// reason are skipped, and on malformed JSON the entries read before the fault are kept.
    /// </summary>
    public static ImmutableDictionary<string, Cooldown> Read(ReadOnlySpan<byte> utf8Json)
    {
        var result = ImmutableDictionary.CreateBuilder<string, Cooldown>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(utf8Json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return result.ToImmutable();
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = reader.GetString()!;
                if (TryReadEntry(ref reader, out var cooldown))
                {
                    result[key] = cooldown;
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Malformed JSON, or text that is not UTF-8: keep what was read before the fault; the next write replaces
            // the whole document anyway.
        }

        return result.ToImmutable();
    }

    /// <summary>
    /// Reads the value after a property name, leaving the reader on that value's last token. An entry is an array whose
    /// first two elements are the deadline and the reason, and the third, for throttling, the window's headroom; later
    /// elements are ignored, so a newer version may add some (and an older one ignores the headroom).
    /// </summary>
    private static bool TryReadEntry(ref Utf8JsonReader reader, out Cooldown cooldown)
    {
        cooldown = default;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return false;
        }

        long until = 0;
        CooldownReason? reason = null;
        long? headroom = null;
        var untilValid = false;
        var index = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (index == 0)
            {
                untilValid = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out until)
                    && until >= MinUnixMilliseconds && until <= MaxUnixMilliseconds;
            }
            else if (index == 1 && reader.TokenType == JsonTokenType.String)
            {
                reason = ReasonOf(ref reader);
            }
            else if (index == 2 && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var tokens) && tokens >= 0)
            {
                headroom = tokens;
            }

            index++;
            reader.Skip();
        }

        if (!untilValid || reason is null)
        {
            return false;
        }

        cooldown = new Cooldown(DateTimeOffset.FromUnixTimeMilliseconds(until), reason.Value, reason == CooldownReason.Throttled ? headroom : null);
        return true;
    }

    private static string CodeOf(CooldownReason reason) => reason switch
    {
        CooldownReason.Throttled => ThrottledCode,
        CooldownReason.Failed => FailedCode,
        CooldownReason.TimedOut => TimedOutCode,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };

    private static CooldownReason? ReasonOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals(ThrottledCode) ? CooldownReason.Throttled
        : reader.ValueTextEquals(FailedCode) ? CooldownReason.Failed
        : reader.ValueTextEquals(TimedOutCode) ? CooldownReason.TimedOut
        : null;
}
