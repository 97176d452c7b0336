using Microsoft.AspNetCore.Http;

namespace AoaiProxy;

/// <summary>The engine as a host sees it: one call per /openai/{*path} request.</summary>
public interface IAzureOpenAIProxy
{
    /// <summary>
    /// Handles one request completely: picks backends, forwards, fails over, and writes status, headers and the
    /// streamed body to <see cref="HttpContext.Response"/>. Never throws for a backend's or the caller's failure.
    /// </summary>
    Task ProxyAsync(HttpContext context);
}
