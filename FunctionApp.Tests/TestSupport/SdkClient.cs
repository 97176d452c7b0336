using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>The OpenAI .NET SDK as a caller of a proxy under test.</summary>
internal static class SdkClient
{
    /// <summary>A client of the proxy's /openai/v1 with the SDK's retries off, so that each call is one request.</summary>
    public static OpenAIClient For(ProxyTestHost proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        return new(new ApiKeyCredential("test-key"), new OpenAIClientOptions
        {
            Endpoint = new Uri(proxy.BaseAddress, "openai/v1"),
            RetryPolicy = new ClientRetryPolicy(0),
        });
    }
}
