using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;

namespace AoaiProxy.Throttling;

/// <summary>The throttle-related header values of a 429 answer, as sent (null when absent).</summary>
internal readonly record struct ThrottleHeaderValues(
    string? RetryAfterMs,
    string? RetryAfter,
    string? ResetRequests,
    string? ResetTokens,
    string? RemainingRequests,
    string? RemainingTokens)
{
    public static ThrottleHeaderValues From(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return new(
            First(response.Headers, "retry-after-ms"),
            First(response.Headers, "Retry-After"),
            First(response.Headers, "x-ratelimit-reset-requests"),
            First(response.Headers, "x-ratelimit-reset-tokens"),
            First(response.Headers, "x-ratelimit-remaining-requests"),
            First(response.Headers, "x-ratelimit-remaining-tokens"));
    }

    private static string? First(HttpResponseHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}

/// <summary>What an answer reported its deployment has left in the current window; null where it said nothing.</summary>
/// <param name="Tokens">x-ratelimit-remaining-tokens.</param>
/// <param name="Requests">x-ratelimit-remaining-requests.</param>
internal readonly record struct QuotaLeft(long? Tokens, long? Requests)
{
    /// <summary>The remaining counts of any answer, as sent; a value that is not a whole non-negative number is ignored.</summary>
    public static QuotaLeft From(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var headers = response.Headers.NonValidated;
        return new QuotaLeft(Count(headers, "x-ratelimit-remaining-tokens"), Count(headers, "x-ratelimit-remaining-requests"));
    }

    private static long? Count(HttpHeadersNonValidated headers, string name) =>
        headers.TryGetValues(name, out var values) && long.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? count : null;
}

/// <summary>
/// Turns a 429's headers into how long the backend asks to be left alone. Pure: takes <c>now</c> for HTTP dates.
/// Order: retry-after-ms, then Retry-After (delta seconds or HTTP date), then x-ratelimit-reset-requests /
/// x-ratelimit-reset-tokens (the one whose remaining count is 0, else the longer). Garbage (including "NaN" and
/// "Infinity") and non-positive values are ignored, so the next source (or the caller's default) applies; huge values
/// ("1e300") are clamped.
/// </summary>
internal static class ThrottleHeaders
{
    /// <summary>Anything beyond this is nonsense (the caller caps far below it anyway); avoids TimeSpan overflow.</summary>
    private static readonly TimeSpan Ceiling = TimeSpan.FromDays(1);

    /// <summary>
    /// HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must accept
    /// (asctime pads a one-digit day with a space, hence <see cref="DateTimeStyles.AllowInnerWhite"/>).
    /// </summary>
    private static readonly string[] HttpDateFormats = ["r", "dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'", "ddd MMM d HH':'mm':'ss yyyy"];

    private static readonly SearchValues<char> NumberChars = SearchValues.Create("0123456789.+-eE");

    public static TimeSpan? RequestedDelay(in ThrottleHeaderValues values, DateTimeOffset now)
    {
        if (TryNumber(values.RetryAfterMs, out var ms) && ms > 0)
        {
            return Clamp(ms / 1000);
        }

        if (TryRetryAfter(values.RetryAfter, now, out var retryAfter))
        {
            return retryAfter;
        }

        var requests = TryResetDuration(values.ResetRequests, out var r) ? r : (TimeSpan?)null;
        var tokens = TryResetDuration(values.ResetTokens, out var t) ? t : (TimeSpan?)null;
        if (requests is { } rr && tokens is { } tt)
        {
            if (IsZero(values.RemainingRequests) && !IsZero(values.RemainingTokens))
            {
                return rr;
            }

            if (IsZero(values.RemainingTokens) && !IsZero(values.RemainingRequests))
            {
                return tt;
            }

            return rr > tt ? rr : tt;
        }

        return requests ?? tokens;
    }

    private static bool TryRetryAfter(string? value, DateTimeOffset now, out TimeSpan delay)
    {
        delay = default;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        if (TryNumber(value, out var seconds))
        {
            if (seconds > 0)
            {
                delay = Clamp(seconds);
                return true;
            }

            return false;
        }

        // Exact formats only: a lenient parse takes "10:00" or "1 2" for a date and fills the rest from the machine's clock.
        if (DateTimeOffset.TryParseExact(
                value.Trim(), HttpDateFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowInnerWhite, out var date))
        {
            var remaining = date - now;
            if (remaining > TimeSpan.Zero)
            {
                delay = remaining > Ceiling ? Ceiling : remaining;
                return true;
            }
        }

        return false;
    }

    /// <summary>Parses "12", "1.5", "20ms", "1s", "6m0s", "1h2m3.5s" (the OpenAI reset format).</summary>
    internal static bool TryResetDuration(string? value, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var span = value.AsSpan().Trim();
        if (TryNumber(value, out var plainSeconds))
        {
            if (plainSeconds > 0)
            {
                duration = Clamp(plainSeconds);
                return true;
            }

            return false;
        }

        double totalSeconds = 0;
        var any = false;
        while (!span.IsEmpty)
        {
            var numberLength = 0;
            while (numberLength < span.Length && (char.IsAsciiDigit(span[numberLength]) || span[numberLength] == '.'))
            {
                numberLength++;
            }

            if (numberLength == 0 ||
                !double.TryParse(span[..numberLength], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            span = span[numberLength..];
            double unitSeconds;
            if (span.StartsWith("ms", StringComparison.Ordinal)) { unitSeconds = 0.001; span = span[2..]; }
            else if (span.StartsWith("h", StringComparison.Ordinal)) { unitSeconds = 3600; span = span[1..]; }
            else if (span.StartsWith("m", StringComparison.Ordinal)) { unitSeconds = 60; span = span[1..]; }
            else if (span.StartsWith("s", StringComparison.Ordinal)) { unitSeconds = 1; span = span[1..]; }
            else { return false; }

            totalSeconds += number * unitSeconds;
            any = true;
        }

        // +∞ (a number too large for a double) is a huge wait: Clamp makes it the ceiling.
        if (!any || !(totalSeconds > 0))
        {
            return false;
        }

        duration = Clamp(totalSeconds);
        return true;
    }

    /// <summary>
    /// A number in plain decimal or exponent notation. "NaN", "Infinity" and "∞" are refused by their characters; a
    /// number too large for a double ("1e400") is still a huge wait, parses as +∞ and is clamped like "1e300".
    /// </summary>
    private static bool TryNumber(string? value, out double number)
    {
        number = 0;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var text = value.AsSpan().Trim();
        return text.IndexOfAnyExcept(NumberChars) < 0 &&
               double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out number) &&
               !double.IsNaN(number);
    }

    private static bool IsZero(string? value) => TryNumber(value, out var n) && n == 0;

    private static TimeSpan Clamp(double seconds) => seconds >= Ceiling.TotalSeconds ? Ceiling : TimeSpan.FromSeconds(seconds);
}
