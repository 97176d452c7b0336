using AoaiProxy.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>The options and the start-up failures as a host gets them: read by the readers, then validated.</summary>
internal static class StartupOptions
{
    /// <summary>The options of <paramref name="configuration"/> and every failure that would stop start-up (empty: it starts).</summary>
    public static (ProxyOptions Options, IReadOnlyList<string> Errors) Read(IConfiguration configuration)
    {
        var options = ProxyOptionsReader.Read(configuration, []);
        var result = new ProxyOptionsValidator(configuration).Validate(Options.DefaultName, options);
        return (options, result.Failed ? [.. result.Failures] : []);
    }

    /// <summary>The same for settings given as key and value (a null value is left unset).</summary>
    public static (ProxyOptions Options, IReadOnlyList<string> Errors) Read(params (string Key, string? Value)[] settings) =>
        Read(settings.ToDictionary(s => s.Key, s => s.Value));

    /// <summary>
    /// The start-up failures of one valid backend and <paramref name="key"/> set to <paramref name="value"/> (which may be
    /// that backend's endpoint).
    /// </summary>
    public static IReadOnlyList<string> ErrorsWith(string key, string? value) =>
        Read(new Dictionary<string, string?> { ["Proxy:Backends:0:Endpoint"] = "https://first.openai.azure.com", [key] = value }).Errors;

    public static (ProxyOptions Options, IReadOnlyList<string> Errors) Read(Dictionary<string, string?> settings) =>
        Read(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
}
