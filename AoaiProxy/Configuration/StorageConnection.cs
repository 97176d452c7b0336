using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>How the Table store proves who it is.</summary>
internal enum StorageAuthentication
{
    /// <summary>A connection string (account key, SAS, or <c>UseDevelopmentStorage=true</c>), parsed by Azure.Data.Tables.</summary>
    ConnectionString = 0,

    /// <summary>Entra ID tokens from the app's managed identity (<c>AzureWebJobsStorage:credential = managedidentity</c>).</summary>
    ManagedIdentity = 1,

    /// <summary>Entra ID tokens from <c>DefaultAzureCredential</c> (developer sign-in locally, managed identity in Azure).</summary>
    DefaultAzureCredential = 2,
}

/// <summary>
/// What reading the storage settings gave: a <see cref="Connection"/>, an <see cref="Error"/> naming the setting at
/// fault, or neither when no storage is configured (the proxy then keeps its state in memory).
/// </summary>
internal readonly record struct StorageConnectionResult(StorageConnection? Connection, string? Error);

/// <summary>
/// Where the shared state table lives and how to reach it, read from the Functions app's own storage settings
/// (<c>AzureWebJobsStorage</c>), and the <see cref="TableServiceClient"/> made from them.
/// <para>
/// Connection strings are Azure.Data.Tables' own business (account keys, SAS, <c>UseDevelopmentStorage=true</c>).
/// What stays here is the mapping of the Functions host's identity-based connection settings
/// (<c>AzureWebJobsStorage__accountName</c> or <c>__tableServiceUri</c>, <c>__credential</c>, <c>__clientId</c>) to a client:
/// the SDK does not read that convention, and the Functions host maps it the same way for its own storage clients.
/// </para>
/// Never shows a secret: <see cref="ToString"/> names only the table and its endpoint.
/// </summary>
internal sealed class StorageConnection
{
    /// <summary>The Functions host's storage setting, reused so one storage account serves both.</summary>
    public const string ConnectionSetting = "AzureWebJobsStorage";

    /// <summary>The name of the table that holds the shared state.</summary>
    public const string TableNameSetting = "Proxy:State:TableName";

    /// <summary>Used when <see cref="TableNameSetting"/> is not set.</summary>
    public const string DefaultTableName = "aoaiproxystate";

    private const string DefaultEndpointSuffix = "core.windows.net";
    private const string ManagedIdentityCredentialName = "managedidentity";
    private const string ReservedTableName = "tables";
    private const int MinTableNameLength = 3;
    private const int MaxTableNameLength = 63;
    private const int MinAccountNameLength = 3;
    private const int MaxAccountNameLength = 24;

    // The identity-based form: AzureWebJobsStorage__accountName etc. in the environment.
    private const string AccountNameKey = "accountName";
    private const string TableServiceUriKey = "tableServiceUri";
    private const string CredentialKey = "credential";
    private const string ClientIdKey = "clientId";
    private const string AccountNameSetting = ConnectionSetting + ":" + AccountNameKey;
    private const string TableServiceUriSetting = ConnectionSetting + ":" + TableServiceUriKey;
    private const string CredentialSetting = ConnectionSetting + ":" + CredentialKey;
    private const string ClientIdSetting = ConnectionSetting + ":" + ClientIdKey;

    private readonly Func<TableClientOptions, TableServiceClient> _create;

    private StorageConnection(
        Uri tableEndpoint, string tableName, StorageAuthentication authentication, string? clientId,
        Func<TableClientOptions, TableServiceClient> create)
    {
        TableEndpoint = tableEndpoint;
        TableName = tableName;
        Authentication = authentication;
        ClientId = clientId;
        _create = create;
    }

    /// <summary>The Table service endpoint, without a query (path-style for Azurite: <c>.../devstoreaccount1</c>).</summary>
    public Uri TableEndpoint { get; }

    /// <summary>The table that holds the shared state.</summary>
    public string TableName { get; }

    /// <summary>How requests are authorized.</summary>
    public StorageAuthentication Authentication { get; }

    /// <summary>Client id of a user-assigned managed identity, if one was named.</summary>
    public string? ClientId { get; }

    /// <summary>The table and its endpoint, nothing secret.</summary>
    public override string ToString() => $"table '{TableName}' at {TableEndpoint.AbsoluteUri.TrimEnd('/')}";

    /// <summary>A client for the state table's service with <paramref name="options"/> (retries, timeouts).</summary>
    public TableServiceClient CreateServiceClient(TableClientOptions options) => _create(options);

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

    private static StorageConnectionResult FromConnectionString(string connectionString, string tableName)
    {
        // The SDK parses (and so validates) the string when the client is constructed; no I/O happens here.
        TableServiceClient probe;
        try
        {
            probe = new TableServiceClient(connectionString);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            // Names the setting and the kind of fault only: the SDK's message may quote part of the string (a key or a SAS).
            return Failure($"{ConnectionSetting} is not a valid storage connection string ({e.GetType().Name}); " +
                "use UseDevelopmentStorage=true, an account name and key, a SAS, or the identity-based settings " +
                $"{AccountNameSetting} / {TableServiceUriSetting}");
        }

        // The service URI without any SAS query.
        var endpoint = new Uri(probe.Uri.GetLeftPart(UriPartial.Path));
        return new StorageConnectionResult(
            new StorageConnection(endpoint, tableName, StorageAuthentication.ConnectionString, null,
                options => new TableServiceClient(connectionString, options)),
            null);
    }

    private static StorageConnectionResult FromIdentitySettings(IConfigurationSection section, string tableName)
    {
        var authentication = StorageAuthentication.DefaultAzureCredential;
        var credentialName = section[CredentialKey];
        if (!string.IsNullOrEmpty(credentialName))
        {
            if (!string.Equals(credentialName, ManagedIdentityCredentialName, StringComparison.OrdinalIgnoreCase))
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

        Uri endpoint;
        var tableServiceUri = section[TableServiceUriKey];
        var accountName = section[AccountNameKey];
        if (!string.IsNullOrEmpty(tableServiceUri))
        {
            // Https only: Azure.Core refuses to send a bearer token over plain http.
            if (!Uri.TryCreate(tableServiceUri, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps
                || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
            {
                return Failure($"{TableServiceUriSetting} must be an absolute https URL without a query");
            }

            endpoint = uri;
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

        var credential = Credential(authentication, clientId);
        return new StorageConnectionResult(
            new StorageConnection(endpoint, tableName, authentication, clientId,
                options => new TableServiceClient(endpoint, credential, options)),
            null);
    }

    private static TokenCredential Credential(StorageAuthentication authentication, string? clientId) =>
        authentication == StorageAuthentication.ManagedIdentity
            ? new ManagedIdentityCredential(clientId is null
                ? ManagedIdentityId.SystemAssigned
                : ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = clientId });

    private static StorageConnectionResult Failure(string message) => new(null, message);

    private static bool IsValidTableName(string name) =>
        name.Length is >= MinTableNameLength and <= MaxTableNameLength
        && char.IsAsciiLetter(name[0])
        && name.All(char.IsAsciiLetterOrDigit)
        && !string.Equals(name, ReservedTableName, StringComparison.OrdinalIgnoreCase);

    private static bool IsValidAccountName(string name) =>
        name.Length is >= MinAccountNameLength and <= MaxAccountNameLength
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));
}
