using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// Reads <see cref="ProxyOptions"/> from configuration by hand rather than with the binder, so that every problem of a
/// setting is reported with the exact setting it concerns (e.g. "Proxy:Backends:2:Endpoint must be ...") and all of them
/// at once. One reader per section; rules between settings are <see cref="ProxyOptionsValidator"/>'s.
/// </summary>
internal static class ProxyOptionsReader
{
    /// <summary>The options as configured, adding each problem of a setting to <paramref name="errors"/>.</summary>
    public static ProxyOptions Read(IConfiguration configuration, List<string> errors)
    {
        var options = new ProxyOptions();
        Fill(options, configuration, errors);
        return options;
    }

    /// <summary>Sets every property of <paramref name="options"/>, adding each problem of a setting to <paramref name="errors"/>.</summary>
    public static void Fill(ProxyOptions options, IConfiguration configuration, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(errors);
        var section = configuration.GetSection(ProxyOptions.SectionName);
        options.Backends = BackendsReader.Read(section.GetSection("Backends"), errors);
        options.MaxRequestBodyBytes = SettingValues.WholeNumber(section, "MaxRequestBodyBytes", ProxyOptions.DefaultMaxRequestBodyBytes, 1, long.MaxValue - ProxyOptions.BodyDrainAllowanceBytes, errors);
        options.MaxDecodedBodyBytes = SettingValues.WholeNumber(section, "MaxDecodedBodyBytes", ProxyOptions.DefaultMaxDecodedBodyBytes, ProxyOptions.MinMaxDecodedBodyBytes, ProxyOptions.MaxMaxDecodedBodyBytes, errors);
        FailoverOptionsReader.Read(section, options, errors);
        options.Auth = AuthOptionsReader.Read(section, errors);
        options.AllowedOrigins = AllowedOriginsReader.ReadOrigins(section, errors);
        StateOptionsReader.Read(configuration, section, options, errors);
    }
}
