using System.Text.Json;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>Reads the proxy's own answers, which come in Azure's error shape: {"error":{"code":"...","message":"..."}}.</summary>
internal static class AzureError
{
    /// <summary>The code and message of <paramref name="response"/>; fails the test unless it is JSON in Azure's error shape.</summary>
    public static async Task<(string Code, string Message)> OfAsync(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return Of(await response.Content.ReadAsStringAsync());
    }

    /// <summary>The code and message of an error body in Azure's shape (as read off a raw socket, say).</summary>
    public static (string Code, string Message) Of(string body)
    {
        using var doc = JsonDocument.Parse(body);
        var error = doc.RootElement.GetProperty("error");
        return (error.GetProperty("code").GetString()!, error.GetProperty("message").GetString()!);
    }
}
