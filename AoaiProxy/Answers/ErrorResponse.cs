using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Answers;

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

        RequestOutcome.Note(context, outcome);
        response.StatusCode = ProxyOutcomes.StatusCode(outcome);
        if (retryAfter is { } wait && wait > TimeSpan.Zero)
        {
            response.Headers.RetryAfter = RetryAfter.Seconds(wait).ToString(CultureInfo.InvariantCulture);
            response.Headers[ProxyHeaders.RetryAfterMs] = RetryAfter.Milliseconds(wait).ToString(CultureInfo.InvariantCulture);
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

internal sealed record ErrorEnvelope(ErrorDetail Error);

internal sealed record ErrorDetail(string Code, string Message);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorEnvelope))]
internal sealed partial class ErrorJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
