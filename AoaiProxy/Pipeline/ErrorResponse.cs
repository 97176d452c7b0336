using System.Globalization;
using System.Text.Json;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Pipeline;

/// <summary>Writes the proxy's own answers in Azure's error shape: {"error":{"code":"...","message":"..."}}.</summary>
internal static class ErrorResponse
{
    public static async Task WriteAsync(HttpContext context, ProxyOutcome outcome, string message, TimeSpan? retryAfter = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = ProxyOutcomes.StatusCode(outcome);
        if (retryAfter is { } wait && wait > TimeSpan.Zero)
        {
            response.Headers.RetryAfter = CooldownPolicy.RetryAfterSeconds(wait).ToString(CultureInfo.InvariantCulture);
            response.Headers[ProxyHeaders.RetryAfterMs] = CooldownPolicy.RetryAfterMilliseconds(wait).ToString(CultureInfo.InvariantCulture);
        }

        response.ContentType = "application/json";
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new ErrorEnvelope(new ErrorDetail(ProxyOutcomes.ErrorCode(outcome), message)), ErrorJsonContext.Default.ErrorEnvelope);
        response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }
}

/// <summary>Header names the proxy sets or reads.</summary>
internal static class ProxyHeaders
{
    /// <summary>Names the backend that served the response.</summary>
    public const string Backend = "x-proxy-backend";

    /// <summary>How many backends this request was sent to.</summary>
    public const string Attempts = "x-proxy-attempts";

    /// <summary>Azure OpenAI's millisecond form of Retry-After (honoured by the OpenAI SDKs).</summary>
    public const string RetryAfterMs = "retry-after-ms";

    /// <summary>Names the backends a merged list page lacks (cooling or failed), so that a partial list is never silent.</summary>
    public const string ListIncomplete = "x-proxy-list-incomplete";
}

internal sealed record ErrorEnvelope(ErrorDetail Error);

internal sealed record ErrorDetail(string Code, string Message);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorEnvelope))]
internal sealed partial class ErrorJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
