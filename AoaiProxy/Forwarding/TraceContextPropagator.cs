using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace AoaiProxy.Forwarding;

/// <summary>
/// Injects the trace context of the proxy's own outgoing activity, replacing whatever the caller sent. HttpClient's
/// default propagation leaves a header that is already on the request alone, so the caller's copied traceparent would
/// reach the backend and the proxy's own span would vanish from the trace. YARP does the same (its
/// ReverseProxyPropagator); ours is these few lines rather than a reference to all of YARP.
/// </summary>
internal sealed class TraceContextPropagator(DistributedContextPropagator inner) : DistributedContextPropagator
{
    /// <summary>The trace-flags version 00 defines: sampled (01) and, since Trace Context Level 2, random trace id (02).</summary>
    private const int KnownFlags = 0x03;

    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    /// <summary>The W3C header that names the parent span.</summary>
    public const string TraceparentHeader = "traceparent";

    /// <summary>The W3C header of vendor-specific trace data, which belongs to the trace its traceparent names.</summary>
    public const string TracestateHeader = "tracestate";

    public override IReadOnlyCollection<string> Fields => inner.Fields;

    /// <summary>
    /// The traceparent an attempt sends when no activity is current (nothing traces this process, and the host made no
    /// activity for the request): a span id of the proxy's own under the caller's trace, or a new trace when the caller
    /// sent none or an invalid one. That is what the activity-based propagation sends, without the two activities
    /// (server and client) per request that only exist to carry it, except that reserved trace-flags bits are zeroed as
    /// W3C requires (an activity passes them on).
    /// </summary>
    /// <param name="caller">The caller's traceparent, if any.</param>
    /// <param name="continued">
    /// True when the caller's trace goes on; false for a new trace, to which the caller's tracestate does not belong
    /// (W3C Trace Context, processing model: it is then discarded).
    /// </param>
    public static string ChildTraceparent(string? caller, out bool continued)
    {
        // Written out rather than through ActivityContext.TryParse and ActivityTraceId/SpanId.CreateRandom: each of
        // those holds its id as a hex string of its own, three strings per request for the one this returns.
        continued = TryParseParent(caller, out var flags);
        return string.Create(55, (Parent: continued ? caller : null, Flags: flags), static (chars, state) =>
        {
            Span<byte> random = stackalloc byte[24];
            Random.Shared.NextBytes(random);
            random[0] |= 1;
            random[16] |= 1;
            "00-".CopyTo(chars);
            if (state.Parent is null)
            {
                // A new trace (not all zeros: the lowest bit of its first byte is set), not sampled.
                Convert.TryToHexStringLower(random[..16], chars.Slice(3, 32), out _);
            }
            else
            {
                state.Parent.AsSpan(3, 32).CopyTo(chars[3..]);
            }

            chars[35] = '-';
            Convert.TryToHexStringLower(random[16..], chars.Slice(36, 16), out _);
            chars[52] = '-';
            chars[53] = '0';
            chars[54] = (char)('0' + state.Flags);
        });
    }

    /// <summary>
    /// A traceparent whose trace goes on (W3C Trace Context §3.2): version "00" and exactly 55 characters, or a higher
    /// version ("01" to "fe", never "ff") read by the rules of "00" ("Versioning of traceparent": at least 55
    /// characters, a dash after the flags if more follow); then 32 lowercase hex digits, not all zero, "-", 16, not all
    /// zero, "-", 2. <paramref name="flags"/> keeps only the flags version 00 defines (sampled, random trace id):
    /// "Vendors MUST set those [other flags] to zero".
    /// </summary>
    private static bool TryParseParent([NotNullWhen(true)] string? value, out int flags)
    {
        flags = 0;
        if (value is not { Length: >= 55 } || !IsLowerHex(value.AsSpan(0, 2)) || value.StartsWith("ff", StringComparison.Ordinal) ||
            value[2] != '-' || value[35] != '-' || value[52] != '-' ||
            (value.Length > 55 && (value.StartsWith("00", StringComparison.Ordinal) || value[55] != '-')))
        {
            return false;
        }

        var traceId = value.AsSpan(3, 32);
        var spanId = value.AsSpan(36, 16);
        var traceFlags = value.AsSpan(53, 2);
        if (!IsLowerHex(traceId) || !IsLowerHex(spanId) || !IsLowerHex(traceFlags) ||
            !traceId.ContainsAnyExcept('0') || !spanId.ContainsAnyExcept('0'))
        {
            return false;
        }

        flags = byte.Parse(traceFlags, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture) & KnownFlags;
        return true;
    }

    private static bool IsLowerHex(ReadOnlySpan<char> value) => !value.ContainsAnyExcept(LowerHex);

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
    {
        if (carrier is HttpRequestMessage request)
        {
            foreach (var field in inner.Fields)
            {
                request.Headers.Remove(field);
            }
        }

        inner.Inject(activity, carrier, setter);
    }

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState) =>
        inner.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) =>
        inner.ExtractBaggage(carrier, getter);
}
