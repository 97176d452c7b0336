using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// Configuration that remembers every key the code looked up (set or not), so a test can state exactly which settings
/// the engine reads rather than trusting a hand-kept list.
/// </summary>
internal sealed class RecordingConfiguration
{
    private readonly Provider _provider;

    public RecordingConfiguration(IEnumerable<KeyValuePair<string, string?>> values)
    {
        _provider = new Provider(values);
        Root = new ConfigurationBuilder().Add(new Source(_provider)).Build();
    }

    public IConfigurationRoot Root { get; }

    /// <summary>Every key looked up, with numeric segments (array indices) written as {i}.</summary>
    public IReadOnlySet<string> LookedUp => _provider.LookedUp.Select(Normalize).ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>"Proxy__Backends__0__Endpoint" and "Proxy:Backends:0:Endpoint" both become "Proxy:Backends:{i}:Endpoint".</summary>
    public static string Normalize(string key) =>
        string.Join(':', key.Replace("__", ":", StringComparison.Ordinal).Split(':').Select(s => s.Length > 0 && s.All(char.IsAsciiDigit) ? "{i}" : s));

    private sealed class Provider : ConfigurationProvider
    {
        public Provider(IEnumerable<KeyValuePair<string, string?>> values)
        {
            foreach (var (key, value) in values)
            {
                Data[key.Replace("__", ":", StringComparison.Ordinal)] = value;
            }
        }

        public HashSet<string> LookedUp { get; } = new(StringComparer.OrdinalIgnoreCase);

        public override bool TryGet(string key, out string? value)
        {
            lock (LookedUp)
            {
                LookedUp.Add(key);
            }

            return base.TryGet(key, out value);
        }
    }

    private sealed class Source(Provider provider) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => provider;
    }
}
