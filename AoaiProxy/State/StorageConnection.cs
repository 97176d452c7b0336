using System.Collections.Frozen;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.State;

/// <summary>How the Table store proves who it is.</summary>
internal enum StorageAuthentication
{
    /// <summary>Account name and key from a connection string (also Azurite's well-known development account).</summary>
    SharedKey = 0,

    /// <summary>A shared access signature from a connection string, appended to every request.</summary>
    SharedAccessSignature = 1,

    /// <summary>Entra ID tokens from the app's managed identity (<c>AzureWebJobsStorage:credential = managedidentity</c>).</summary>
    ManagedIdentity = 2,

    /// <summary>Entra ID tokens from <c>DefaultAzureCredential</c> (developer sign-in locally, managed identity in Azure).</summary>
    DefaultAzureCredential = 3,
}

/// <summary>
/// What reading the storage settings gave: a <see cref="Connection"/>, an <see cref="Error"/> naming the setting at
/// fault, or neither when no storage is configured (the proxy then keeps its state in memory).
/// </summary>
internal readonly record struct StorageConnectionResult(StorageConnection? Connection, string? Error);

/// <summary>
/// Where the shared state table lives and how to reach it, read from the Functions app's own storage settings
/// (<c>AzureWebJobsStorage</c>, as a connection string or as an identity-based connection). Never shows a secret:
/// <see cref="ToString"/> names only the table and its endpoint.
/// </summary>
internal sealed class StorageConnection
{
    /// <summary>The Functions host's storage setting, reused so one storage account serves both.</summary>
    public const string ConnectionSetting = "AzureWebJobsStorage";

    /// <summary>The name of the table that holds the shared state.</summary>
    public const string TableNameSetting = "Proxy:State:TableName";

    /// <summary>Used when <see cref="TableNameSetting"/> is not set.</summary>
    public const string DefaultTableName = "aoaiproxystate";

    /// <summary>Azurite's well-known account, the same on every machine.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    // Public by design (documented for the storage emulator and Azurite), so not a secret.
    private const string DevelopmentAccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private const string DevelopmentHost = "127.0.0.1";
    private const int DevelopmentTablePort = 10002;
    private const string DefaultEndpointSuffix = "core.windows.net";
    private const string ManagedIdentityCredentialName = "managedidentity";
    private const string ReservedTableName = "tables";
    private const int MinTableNameLength = 3;
    private const int MaxTableNameLength = 63;
    private const int MinAccountNameLength = 3;
    private const int MaxAccountNameLength = 24;

    // The connection string names this store uses; any other (BlobEndpoint, ...) is ignored.
    private const string UseDevelopmentStorageName = "UseDevelopmentStorage";
    private const string DevelopmentStorageProxyUriName = "DevelopmentStorageProxyUri";
    private const string DefaultEndpointsProtocolName = "DefaultEndpointsProtocol";
    private const string AccountNameName = "AccountName";
    private const string AccountKeyName = "AccountKey";
    private const string EndpointSuffixName = "EndpointSuffix";
    private const string TableEndpointName = "TableEndpoint";
    private const string SharedAccessSignatureName = "SharedAccessSignature";

    // The identity-based form: AzureWebJobsStorage__accountName etc. in the environment.
    private const string AccountNameKey = "accountName";
    private const string TableServiceUriKey = "tableServiceUri";
    private const string CredentialKey = "credential";
    private const string ClientIdKey = "clientId";
    private const string AccountNameSetting = ConnectionSetting + ":" + AccountNameKey;
    private const string TableServiceUriSetting = ConnectionSetting + ":" + TableServiceUriKey;
    private const string CredentialSetting = ConnectionSetting + ":" + CredentialKey;
    private const string ClientIdSetting = ConnectionSetting + ":" + ClientIdKey;

    private static readonly FrozenSet<string> ConnectionStringNames = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        UseDevelopmentStorageName, DevelopmentStorageProxyUriName, DefaultEndpointsProtocolName, AccountNameName, AccountKeyName,
        EndpointSuffixName, TableEndpointName, SharedAccessSignatureName);


    private StorageConnection(Uri tableEndpoint, string tableName, StorageAuthentication authentication)
    {
        TableEndpoint = tableEndpoint;
        TableName = tableName;
        Authentication = authentication;
    }

    /// <summary>The Table service endpoint, without a query (path-style for Azurite: <c>.../devstoreaccount1</c>).</summary>
    public Uri TableEndpoint { get; }

    /// <summary>The table that holds the shared state.</summary>
    public string TableName { get; }

    /// <summary>How requests are authorized.</summary>
    public StorageAuthentication Authentication { get; }

    /// <summary>The account name; set for <see cref="StorageAuthentication.SharedKey"/>.</summary>
    public string? AccountName { get; private init; }

    /// <summary>The decoded account key; set for <see cref="StorageAuthentication.SharedKey"/>.</summary>
    public ReadOnlyMemory<byte> AccountKey { get; private init; }

    /// <summary>The SAS query (no leading '?'); set for <see cref="StorageAuthentication.SharedAccessSignature"/>.</summary>
    public string? SharedAccessSignature { get; private init; }

    /// <summary>Client id of a user-assigned managed identity, if one was named.</summary>
    public string? ClientId { get; private init; }

    /// <summary>The table and its endpoint, nothing secret.</summary>
    public override string ToString() => $"table '{TableName}' at {TableEndpoint.AbsoluteUri.TrimEnd('/')}";

    /// <summary>Reads <see cref="ConnectionSetting"/> (either form) and <see cref="TableNameSetting"/>.</summary>
    public static StorageConnectionResult FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var tableName = configuration[TableNameSetting];
        if (string.IsNullOrWhiteSpace(tableName))
        {
            tableName = DefaultTableName;
        }
        else if (!IsValidTableName(tableName))
        {
            return Failure(
                $"{TableNameSetting} must be 3 to 63 letters and digits starting with a letter, and not '{ReservedTableName}'");
        }

        var connectionString = configuration[ConnectionSetting];
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            return FromConnectionString(connectionString, tableName);
        }

        var section = configuration.GetSection(ConnectionSetting);
        return section.GetChildren().Any() ? FromIdentitySettings(section, tableName) : default;
    }

    private static StorageConnectionResult FromIdentitySettings(IConfigurationSection section, string tableName)
    {
        var authentication = StorageAuthentication.DefaultAzureCredential;
        var credential = section[CredentialKey];
        if (!string.IsNullOrEmpty(credential))
        {
            if (!string.Equals(credential, ManagedIdentityCredentialName, StringComparison.OrdinalIgnoreCase))
            {
                return Failure($"{CredentialSetting} must be '{ManagedIdentityCredentialName}' or absent");
            }

            authentication = StorageAuthentication.ManagedIdentity;
        }

        var clientId = section[ClientIdKey];
        if (string.IsNullOrEmpty(clientId))
        {
            clientId = null;
        }
        else if (!Guid.TryParse(clientId, out _))
        {
            return Failure($"{ClientIdSetting} must be a GUID (the client id of a user-assigned managed identity)");
        }

        Uri? endpoint;
        var tableServiceUri = section[TableServiceUriKey];
        var accountName = section[AccountNameKey];
        if (!string.IsNullOrEmpty(tableServiceUri))
        {
            // Https only: Azure.Core refuses to send a bearer token over plain http.
            endpoint = ParseEndpoint(tableServiceUri);
            if (endpoint is null || endpoint.Scheme != Uri.UriSchemeHttps)
            {
                return Failure($"{TableServiceUriSetting} must be an absolute https URL without a query");
            }
        }
        else if (!string.IsNullOrEmpty(accountName))
        {
            if (!IsValidAccountName(accountName))
            {
                return Failure($"{AccountNameSetting} must be a storage account name (3 to 24 lowercase letters and digits)");
            }

            endpoint = new Uri($"https://{accountName}.table.{DefaultEndpointSuffix}");
        }
        else
        {
            return Failure($"{AccountNameSetting} or {TableServiceUriSetting} must be set for an identity-based connection");
        }

        return new StorageConnectionResult(new StorageConnection(endpoint, tableName, authentication) { ClientId = clientId }, null);
    }

    private static StorageConnectionResult FromConnectionString(string connectionString, string tableName)
    {
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var parseError = ParseConnectionString(connectionString, settings);
        if (parseError is not null)
        {
            return InvalidConnectionString(parseError);
        }

        if (settings.TryGetValue(UseDevelopmentStorageName, out var useDevelopmentStorage))
        {
            return FromDevelopmentStorage(useDevelopmentStorage, settings.GetValueOrDefault(DevelopmentStorageProxyUriName), tableName);
        }

        var accountName = settings.GetValueOrDefault(AccountNameName);
        if (accountName is not null && !IsValidAccountName(accountName))
        {
            return InvalidConnectionString($"{AccountNameName} must be 3 to 24 lowercase letters and digits");
        }

        Uri? endpoint;
        if (settings.TryGetValue(TableEndpointName, out var tableEndpoint))
        {
            endpoint = ParseEndpoint(tableEndpoint);
            if (endpoint is null)
            {
                return InvalidConnectionString($"{TableEndpointName} must be an absolute http or https URL without a query");
            }
        }
        else if (accountName is null)
        {
            return InvalidConnectionString($"{AccountNameName} or {TableEndpointName} is required");
        }
        else
        {
            var protocol = settings.GetValueOrDefault(DefaultEndpointsProtocolName, Uri.UriSchemeHttps).ToLowerInvariant();
            if (protocol != Uri.UriSchemeHttps && protocol != Uri.UriSchemeHttp)
            {
                return InvalidConnectionString($"{DefaultEndpointsProtocolName} must be 'https' or 'http'");
            }

            var suffix = settings.GetValueOrDefault(EndpointSuffixName, DefaultEndpointSuffix);
            endpoint = ParseEndpoint($"{protocol}://{accountName}.table.{suffix}");
            if (endpoint is null || suffix.Length == 0)
            {
                return InvalidConnectionString($"{EndpointSuffixName} must be a host name suffix such as {DefaultEndpointSuffix}");
            }
        }

        var sas = settings.GetValueOrDefault(SharedAccessSignatureName)?.TrimStart('?');
        if (settings.TryGetValue(AccountKeyName, out var accountKey))
        {
            if (sas is not null)
            {
                return InvalidConnectionString($"give either {AccountKeyName} or {SharedAccessSignatureName}, not both");
            }

            if (accountName is null)
            {
                return InvalidConnectionString($"{AccountKeyName} requires {AccountNameName}");
            }

            var key = DecodeKey(accountKey);
            return key is null
                ? InvalidConnectionString($"{AccountKeyName} is not valid base64")
                : SharedKey(endpoint, tableName, accountName, key);
        }

        if (string.IsNullOrEmpty(sas))
        {
            return InvalidConnectionString(
                $"{AccountKeyName} or {SharedAccessSignatureName} is required (for an identity-based connection set {AccountNameSetting} instead)");
        }

        return new StorageConnectionResult(
            new StorageConnection(endpoint, tableName, StorageAuthentication.SharedAccessSignature) { SharedAccessSignature = sas },
            null);
    }

    private static StorageConnectionResult FromDevelopmentStorage(string useDevelopmentStorage, string? proxyUri, string tableName)
    {
        if (!string.Equals(useDevelopmentStorage, bool.TrueString, StringComparison.OrdinalIgnoreCase))
        {
            return InvalidConnectionString($"{UseDevelopmentStorageName} can only be 'true'");
        }

        var (scheme, host) = (Uri.UriSchemeHttp, DevelopmentHost);
        if (proxyUri is not null)
        {
            // As the storage SDKs do: the proxy's scheme and host, the emulator's own port and account path.
            if (!Uri.TryCreate(proxyUri, UriKind.Absolute, out var proxy))
            {
                return InvalidConnectionString($"{DevelopmentStorageProxyUriName} must be an absolute URL");
            }

            (scheme, host) = (proxy.Scheme, proxy.Host);
        }

        var endpoint = new UriBuilder(scheme, host, DevelopmentTablePort, DevelopmentAccountName).Uri;
        return SharedKey(endpoint, tableName, DevelopmentAccountName, Convert.FromBase64String(DevelopmentAccountKey));
    }

    /// <summary>Collects the known <c>name=value</c> parts; returns what is wrong, naming no value.</summary>
    private static string? ParseConnectionString(string connectionString, Dictionary<string, string> settings)
    {
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // Split at the first '=' only: base64 keys and SAS tokens contain '=' themselves.
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                return "every part must be name=value";
            }

            // A name this store does not use is skipped, and never echoed: a mangled string can put key material there.
            var name = part[..equals].Trim();
            if (ConnectionStringNames.Contains(name) && !settings.TryAdd(name, part[(equals + 1)..].Trim()))
            {
                return $"{name} is given twice";
            }
        }

        return null;
    }

    private static StorageConnectionResult SharedKey(Uri endpoint, string tableName, string accountName, byte[] key) =>
        new(new StorageConnection(endpoint, tableName, StorageAuthentication.SharedKey) { AccountName = accountName, AccountKey = key }, null);

    private static StorageConnectionResult Failure(string message) => new(null, message);

    // Names only the setting and the rule broken: the string itself may hold a key or a SAS.
    private static StorageConnectionResult InvalidConnectionString(string detail) =>
        Failure($"{ConnectionSetting} is not a valid storage connection string: {detail}");

    private static Uri? ParseEndpoint(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
        && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment) && string.IsNullOrEmpty(uri.UserInfo)
            ? uri
            : null;

    private static byte[]? DecodeKey(string base64)
    {
        var buffer = new byte[base64.Length];
        return base64.Length > 0 && Convert.TryFromBase64String(base64, buffer, out var written) ? buffer[..written] : null;
    }

    private static bool IsValidTableName(string name) =>
        name.Length is >= MinTableNameLength and <= MaxTableNameLength
        && char.IsAsciiLetter(name[0])
        && name.All(char.IsAsciiLetterOrDigit)
        && !string.Equals(name, ReservedTableName, StringComparison.OrdinalIgnoreCase);

    private static bool IsValidAccountName(string name) =>
        name.Length is >= MinAccountNameLength and <= MaxAccountNameLength
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));
}
