using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// A fake backend's quota as Azure OpenAI enforces it: each request is charged at admission its estimate (prompt
/// characters / 4 plus max_tokens) against a window of <paramref name="window"/> holding <paramref name="tokens"/> tokens
/// and <paramref name="requests"/> requests; a refused request gets 429 with retry-after-ms to the window's end, and
/// every answer says what the window has left (x-ratelimit-remaining-tokens / -requests). Windows run on real time,
/// from the moment this is made.
/// </summary>
internal sealed class QuotaWindow(long tokens, int requests, TimeSpan window)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _gate = new();
    private long _current = -1;
    private long _tokensUsed;
    private int _requestsUsed;
    private int _admitted;
    private int _refused;

    public int Admitted => Volatile.Read(ref _admitted);

    public int Refused => Volatile.Read(ref _refused);

    /// <summary>The backend's handler: a chat completion when the window takes the request, else its 429.</summary>
    public Func<HttpContext, RecordedRequest, Task> Handler => async (context, request) =>
    {
        var cost = Estimate(request.Body);
        bool admitted;
        long tokensLeft;
        int requestsLeft;
        TimeSpan untilNext;
        lock (_gate)
        {
            var elapsed = _clock.Elapsed;
            var index = elapsed.Ticks / window.Ticks;
            if (index != _current)
            {
                _current = index;
                _tokensUsed = 0;
                _requestsUsed = 0;
            }

            admitted = _tokensUsed + cost <= tokens && _requestsUsed < requests;
            if (admitted)
            {
                _tokensUsed += cost;
                _requestsUsed++;
            }

            tokensLeft = tokens - _tokensUsed;
            requestsLeft = requests - _requestsUsed;
            untilNext = TimeSpan.FromTicks(((index + 1) * window.Ticks) - elapsed.Ticks);
        }

        context.Response.Headers["x-ratelimit-remaining-tokens"] = tokensLeft.ToString(CultureInfo.InvariantCulture);
        context.Response.Headers["x-ratelimit-remaining-requests"] = requestsLeft.ToString(CultureInfo.InvariantCulture);
        if (!admitted)
        {
            Interlocked.Increment(ref _refused);
            var ms = (long)Math.Ceiling(untilNext.TotalMilliseconds);
            await FakeResponses.Throttle(new Dictionary<string, string>
            {
                ["retry-after-ms"] = ms.ToString(CultureInfo.InvariantCulture),
                ["Retry-After"] = ((ms + 999) / 1000).ToString(CultureInfo.InvariantCulture),
            })(context, request);
            return;
        }

        Interlocked.Increment(ref _admitted);
        await FakeResponses.Json(200, new
        {
            id = "chatcmpl-" + Guid.NewGuid().ToString("N"),
            @object = "chat.completion",
            choices = new[] { new { index = 0, message = new { role = "assistant", content = "ok" }, finish_reason = "stop" } },
            usage = new { prompt_tokens = cost, completion_tokens = 1, total_tokens = cost + 1 },
        })(context, request);
    };

    /// <summary>A chat body whose estimate is <paramref name="tokens"/>: a prompt of 4 characters per token, max_tokens 0.</summary>
    public static string ChatCosting(long tokens) =>
        JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = new string('x', (int)(tokens * 4)) } }, max_tokens = 0 });

    private static long Estimate(byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        var characters = 0L;
        foreach (var message in json.RootElement.GetProperty("messages").EnumerateArray())
        {
            characters += message.GetProperty("content").GetString()!.Length;
        }

        var max = json.RootElement.TryGetProperty("max_tokens", out var m) ? m.GetInt64() : 1000;
        return ((characters + 3) / 4) + max;
    }
}
