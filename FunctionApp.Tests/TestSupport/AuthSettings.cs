namespace AoaiProxy.Tests.TestSupport;

/// <summary>Caller authentication settings for tests: the proxy's client keys, as a caller presents them.</summary>
internal static class AuthSettings
{
    /// <summary>Proxy:Auth:ClientKeys:0.</summary>
    public const string ClientKey = "client-key-one-0123456789abcdef0123456789";

    /// <summary>Proxy:Auth:ClientKeys:1.</summary>
    public const string SecondClientKey = "client-key-two-0123456789abcdef0123456789";

    /// <summary>Two client keys (Proxy:Auth:ClientKeys:0 and :1).</summary>
    public static Dictionary<string, string?> Keys(this Dictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings["Proxy:Auth:ClientKeys:0"] = ClientKey;
        settings["Proxy:Auth:ClientKeys:1"] = SecondClientKey;
        return settings;
    }
}
