using AoaiProxy.Configuration;
using AoaiProxy.State;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.Configuration;

public sealed class StorageConnectionTests
{
    // A made-up account key (64 bytes, valid base64) and SAS, distinctive enough to search for in messages.
    private const string Key = "c2VjcmV0LWtleS1ub3QtcmVhbC1zZWNyZXQta2V5LW5vdC1yZWFsLXNlY3JldC1rZXktbm90LXJlYWwtc2VjcmV0LWtleQ==";
    private const string Sas = "sv=2024-08-04&ss=t&srt=o&sp=rwau&sig=SECRETSIG%3D";
    private const string ClientId = "6b1a8f5e-3c2d-4e9f-8a7b-1c2d3e4f5a6b";

    [Theory]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=true", "http://127.0.0.1:10002/devstoreaccount1", nameof(StorageAuthentication.ConnectionString))]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite", "http://azurite:10002/devstoreaccount1", nameof(StorageAuthentication.ConnectionString))]
    [InlineData("AzureWebJobsStorage = DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + Key + ";EndpointSuffix=core.windows.net",
        "https://acct.table.core.windows.net", nameof(StorageAuthentication.ConnectionString))]
    [InlineData("AzureWebJobsStorage = DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=" + Key + ";EndpointSuffix=core.chinacloudapi.cn",
        "http://acct.table.core.chinacloudapi.cn", nameof(StorageAuthentication.ConnectionString))]
    [InlineData("AzureWebJobsStorage = DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + Key + ";TableEndpoint=http://127.0.0.1:10002/devstoreaccount1/",
        "http://127.0.0.1:10002/devstoreaccount1", nameof(StorageAuthentication.ConnectionString))]
    [InlineData("AzureWebJobsStorage = TableEndpoint=https://acct.table.core.windows.net;SharedAccessSignature=" + Sas,
        "https://acct.table.core.windows.net", nameof(StorageAuthentication.ConnectionString))]
    [InlineData("AzureWebJobsStorage:accountName = acct",
        "https://acct.table.core.windows.net", nameof(StorageAuthentication.DefaultAzureCredential))]
    [InlineData("AzureWebJobsStorage:accountName = acct | AzureWebJobsStorage:clientId = " + ClientId,
        "https://acct.table.core.windows.net", nameof(StorageAuthentication.DefaultAzureCredential))]
    [InlineData("AzureWebJobsStorage:accountName = acct | AzureWebJobsStorage:credential = managedidentity",
        "https://acct.table.core.windows.net", nameof(StorageAuthentication.ManagedIdentity))]
    [InlineData("AzureWebJobsStorage:tableServiceUri = https://acct.table.core.windows.net/ | AzureWebJobsStorage:credential = ManagedIdentity",
        "https://acct.table.core.windows.net", nameof(StorageAuthentication.ManagedIdentity))]
    [InlineData("AzureWebJobsStorage:tableServiceUri = https://other.example/t | AzureWebJobsStorage:accountName = acct",
        "https://other.example/t", nameof(StorageAuthentication.DefaultAzureCredential))]
    public void FromConfiguration_ValidSettings_ReturnsConnection(string settings, string endpoint, string authentication)
    {
        var result = StorageConnection.FromConfiguration(Configuration(settings));

        Assert.Null(result.Error);
        var connection = Assert.IsType<StorageConnection>(result.Connection);
        Assert.Equal(endpoint, connection.TableEndpoint.AbsoluteUri.TrimEnd('/'));
        Assert.Equal(Enum.Parse<StorageAuthentication>(authentication), connection.Authentication);
        Assert.Equal(StorageConnection.DefaultTableName, connection.TableName);
        Assert.DoesNotContain(Key, connection.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETSIG", connection.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETSIG", connection.TableEndpoint.AbsoluteUri, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateServiceClient_ConnectionString_UsesTheGivenOptions()
    {
        var connection = StorageConnection.FromConfiguration(Configuration("AzureWebJobsStorage = UseDevelopmentStorage=true")).Connection!;

        var client = connection.CreateServiceClient(new Azure.Data.Tables.TableClientOptions());

        Assert.Equal("devstoreaccount1", client.AccountName);
        Assert.Equal("http://127.0.0.1:10002/devstoreaccount1", client.Uri.AbsoluteUri.TrimEnd('/'));
    }

    [Theory]
    [InlineData("AzureWebJobsStorage:accountName = acct", null)]
    [InlineData("AzureWebJobsStorage:accountName = acct | AzureWebJobsStorage:clientId = " + ClientId, ClientId)]
    [InlineData("AzureWebJobsStorage:accountName = acct | AzureWebJobsStorage:credential = managedidentity | AzureWebJobsStorage:clientId = " + ClientId, ClientId)]
    public void FromConfiguration_IdentitySettings_KeepsClientId(string settings, string? clientId)
    {
        Assert.Equal(clientId, StorageConnection.FromConfiguration(Configuration(settings)).Connection!.ClientId);
    }

    [Theory]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=true | Proxy:State:TableName = MyState1", "MyState1")]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=true | Proxy:State:TableName = abc", "abc")]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=true | Proxy:State:TableName = ", StorageConnection.DefaultTableName)]
    public void FromConfiguration_TableName_IsUsed(string settings, string tableName)
    {
        Assert.Equal(tableName, StorageConnection.FromConfiguration(Configuration(settings)).Connection!.TableName);
    }

    [Theory]
    [InlineData("")]
    [InlineData("AzureWebJobsStorage = ")]
    [InlineData("AzureWebJobsStorage =    ")]
    [InlineData("Proxy:State:TableName = custom")]
    public void FromConfiguration_NoStorageSettings_ReturnsNotConfigured(string settings)
    {
        Assert.Equal(default, StorageConnection.FromConfiguration(Configuration(settings)));
    }

    [Theory]
    [InlineData("Proxy:State:TableName = ab", "Proxy:State:TableName", null)]
    [InlineData("Proxy:State:TableName = 1abc", "Proxy:State:TableName", null)]
    [InlineData("Proxy:State:TableName = my-table", "Proxy:State:TableName", null)]
    [InlineData("Proxy:State:TableName = Tables", "Proxy:State:TableName", null)]
    [InlineData("Proxy:State:TableName = a234567890123456789012345678901234567890123456789012345678901234", "Proxy:State:TableName", null)]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=true | Proxy:State:TableName = état", "Proxy:State:TableName", null)]
    [InlineData("AzureWebJobsStorage = " + Key, "AzureWebJobsStorage", Key)]
    [InlineData("AzureWebJobsStorage = just garbage", "AzureWebJobsStorage", null)]
    [InlineData("AzureWebJobsStorage = =" + Key, "AzureWebJobsStorage", Key)]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=false", "AzureWebJobsStorage", null)]
    [InlineData("AzureWebJobsStorage = UseDevelopmentStorage=true;DevelopmentStorageProxyUri=not a url", "AzureWebJobsStorage", null)]
    [InlineData("AzureWebJobsStorage = AccountName=acct;AccountKey=not*base64*SECRET", "AzureWebJobsStorage", "SECRET")]
    [InlineData("AzureWebJobsStorage = AccountName=acct;AccountKey=", "AzureWebJobsStorage", null)]
    [InlineData("AzureWebJobsStorage = AccountKey=" + Key, "AzureWebJobsStorage", Key)]
    [InlineData("AzureWebJobsStorage = TableEndpoint=https://x.example;AccountKey=" + Key, "AzureWebJobsStorage", Key)]
    [InlineData("AzureWebJobsStorage = AccountName=acct", "AzureWebJobsStorage", null)]
    [InlineData("AzureWebJobsStorage = AccountName=acct;AccountKey=" + Key + ";EndpointSuffix=", "AzureWebJobsStorage", Key)]
    [InlineData("AzureWebJobsStorage = AccountName=acct;AccountKey=" + Key + ";EndpointSuffix=bad suffix", "AzureWebJobsStorage", Key)]
    [InlineData("AzureWebJobsStorage = TableEndpoint=https://x.example?" + Sas + ";SharedAccessSignature=" + Sas, "AzureWebJobsStorage", "SECRETSIG")]
    [InlineData("AzureWebJobsStorage = TableEndpoint=/relative;SharedAccessSignature=" + Sas, "AzureWebJobsStorage", "SECRETSIG")]
    [InlineData("AzureWebJobsStorage = AccountName=acct;SharedAccessSignature=", "AzureWebJobsStorage", null)]
    [InlineData("AzureWebJobsStorage = AccountName=acct;AccountKey=" + Key + ";accountkey=" + Key, "AzureWebJobsStorage", Key)]
    [InlineData("AzureWebJobsStorage:accountName = Acct", "AzureWebJobsStorage:accountName", null)]
    [InlineData("AzureWebJobsStorage:accountName = ab", "AzureWebJobsStorage:accountName", null)]
    [InlineData("AzureWebJobsStorage:tableServiceUri = acct.table.core.windows.net", "AzureWebJobsStorage:tableServiceUri", null)]
    [InlineData("AzureWebJobsStorage:tableServiceUri = https://acct.table.core.windows.net?" + Sas, "AzureWebJobsStorage:tableServiceUri", "SECRETSIG")]
    [InlineData("AzureWebJobsStorage:tableServiceUri = http://acct.table.core.windows.net", "AzureWebJobsStorage:tableServiceUri", null)]
    [InlineData("AzureWebJobsStorage:accountName = acct | AzureWebJobsStorage:credential = clientsecret", "AzureWebJobsStorage:credential", null)]
    [InlineData("AzureWebJobsStorage:accountName = acct | AzureWebJobsStorage:clientId = not-a-guid", "AzureWebJobsStorage:clientId", null)]
    [InlineData("AzureWebJobsStorage:clientId = " + ClientId, "AzureWebJobsStorage:accountName", null)]
    [InlineData("AzureWebJobsStorage:blobServiceUri = https://acct.blob.core.windows.net", "AzureWebJobsStorage:accountName", null)]
    // Connection strings are parsed by Azure.Data.Tables: what it accepts (an unusual protocol, a key and a SAS together)
    // is its decision, and a string it accepts but the service refuses shows up as a logged store outage.
    public void FromConfiguration_InvalidSettings_ReturnsErrorNamingTheSetting(string settings, string setting, string? secret)
    {
        var result = StorageConnection.FromConfiguration(Configuration(settings));

        Assert.Null(result.Connection);
        Assert.NotNull(result.Error);
        Assert.StartsWith(setting + " ", result.Error, StringComparison.Ordinal);
        if (secret is not null)
        {
            Assert.DoesNotContain(secret, result.Error, StringComparison.Ordinal);
        }
    }

    /// <summary>Settings written as <c>Name = value | Name = value</c>; values may contain '='.</summary>
    private static IConfiguration Configuration(string settings) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(settings
                .Split(" | ", StringSplitOptions.RemoveEmptyEntries)
                .Select(setting => setting.Split(" = ", 2))
                .Select(pair => KeyValuePair.Create(pair[0].Trim(), (string?)pair[1])))
            .Build();
}
