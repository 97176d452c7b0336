using System.Text;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>JSON request bodies a caller sends through the proxy.</summary>
internal static class JsonBody
{
    /// <summary><paramref name="json"/> as UTF-8 with Content-Type application/json, as the OpenAI SDKs send it.</summary>
    public static StringContent Of(string json) => new(json, Encoding.UTF8, "application/json");
}
