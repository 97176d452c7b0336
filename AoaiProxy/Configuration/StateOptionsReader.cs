using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// Reads what the instances share and how: the storage connection (AzureWebJobsStorage), the state's time budget and
/// sync interval (Proxy:State), and the objects it records (Proxy:Affinity, Proxy:Replay).
/// </summary>
internal static class StateOptionsReader
{
    private const double MaxAffinityDays = 366;

    /// <summary>Sets the state settings of <paramref name="options"/>; <paramref name="section"/> is Proxy.</summary>
    public static void Read(IConfiguration configuration, IConfigurationSection section, ProxyOptions options, List<string> errors)
    {
        options.StateTimeout = SettingValues.Milliseconds(section, "State:TimeoutMilliseconds", ProxyOptions.DefaultStateTimeout, errors);
        options.StateSyncInterval = SettingValues.Milliseconds(section, "State:SyncIntervalMilliseconds", ProxyOptions.DefaultStateSyncInterval, errors);
        options.AffinityExpiry = SettingValues.Days(section, "Affinity:ExpiryDays", ProxyOptions.DefaultAffinityExpiry, MaxAffinityDays, errors);
        options.ReplayStatefulRequests = SettingValues.Boolean(section, "Replay:StatefulRequests", false, errors);
        var storage = StorageConnection.FromConfiguration(configuration);
        options.Storage = storage.Connection;
        if (storage.Error is not null)
        {
            errors.Add(storage.Error);
        }
    }
}
