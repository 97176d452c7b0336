using System.Buffers;
using System.Buffers.Text;
using System.Collections.Immutable;
using System.Text.Encodings.Web;
using System.Text.Json;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.State;

/// <summary>
/// The shared state as one Azure Table Storage entity, spoken to over the Table REST API (JSON, no metadata):
/// <c>Cursor</c> (Edm.Int64) and <c>Cooldowns</c> (a <see cref="CooldownCodec"/> string). The entity's ETag is the
/// document version, so a write is a compare-and-swap: Insert Entity when nothing is stored yet, Update Entity with
/// <c>If-Match</c> otherwise. No retries: the pipeline is built with none and the caller's token bounds each call.
/// Every failure but a lost race is a <see cref="StateStoreException"/>, except the caller's own cancellation, which
/// stays an <see cref="OperationCanceledException"/>.
/// </summary>
internal sealed class TableStateStore : IStateStore
{
    /// <summary>The partition of the state entity.</summary>
    public const string PartitionKey = "aoaiproxy";

    /// <summary>The row of the state entity.</summary>
    public const string RowKey = "state";

    // Table service version sent with every request: the one Azure.Data.Tables sends, JSON payloads need 2013-08-15+.
    private const string ServiceVersion = "2019-02-02";
    private const string DataServiceVersion = "3.0";
    private const string StorageScope = "https://storage.azure.com/.default";
    private const string JsonContentType = "application/json";
    private const string NoMetadataAccept = "application/json;odata=nometadata";
    private const string ReturnNoContent = "return-no-content";
    private const string ErrorCodeHeader = "x-ms-error-code";
    private const string EntityAlreadyExists = "EntityAlreadyExists";
    private const string TableAlreadyExists = "TableAlreadyExists";
    private const string Int64Type = "Edm.Int64";
    private const int InitialCooldownsCapacity = 256;
    private const int EntityOverhead = 160;
    private const int StackUnescapeLimit = 512;
    private const int MaxInt64Length = 20;

    private const string CreateTableOperation = "create table";
    private const string ReadOperation = "read";
    private const string InsertOperation = "insert";
    private const string UpdateOperation = "update";

    private static readonly JsonEncodedText PartitionKeyName = JsonEncodedText.Encode("PartitionKey");
    private static readonly JsonEncodedText RowKeyName = JsonEncodedText.Encode("RowKey");
    private static readonly JsonEncodedText CursorName = JsonEncodedText.Encode("Cursor");
    private static readonly JsonEncodedText CursorTypeName = JsonEncodedText.Encode("Cursor@odata.type");
    private static readonly JsonEncodedText CooldownsName = JsonEncodedText.Encode("Cooldowns");
    private static readonly JsonEncodedText TableNameName = JsonEncodedText.Encode("TableName");

    // The cooldowns string is JSON inside JSON: relaxed escaping writes its quotes as \" rather than \u0022.
    private static readonly JsonWriterOptions EntityWriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly HttpPipeline _pipeline;
    private readonly Uri _tablesUri;
    private readonly Uri _tableUri;
    private readonly Uri _entityUri;
    private readonly ReadOnlyMemory<byte> _createTableBody;

    /// <param name="pipeline">Carries authentication (none for a SAS, which is then in the URIs) and no retries.</param>
    /// <param name="tableEndpoint">The Table service endpoint, e.g. <c>https://acct.table.core.windows.net</c>.</param>
    /// <param name="tableName">The table holding the state entity.</param>
    /// <param name="sharedAccessSignature">A SAS query (no '?') to append to every request, or null.</param>
    internal TableStateStore(HttpPipeline pipeline, Uri tableEndpoint, string tableName, string? sharedAccessSignature)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(tableEndpoint);
        ArgumentException.ThrowIfNullOrEmpty(tableName);
        _pipeline = pipeline;

        // Built once: the hot path only resets a request's URI to one of these.
        var endpoint = tableEndpoint.AbsoluteUri.TrimEnd('/');
        var query = string.IsNullOrEmpty(sharedAccessSignature) ? string.Empty : "?" + sharedAccessSignature;
        _tablesUri = new Uri($"{endpoint}/Tables{query}");
        _tableUri = new Uri($"{endpoint}/{tableName}{query}");
        _entityUri = new Uri($"{endpoint}/{tableName}(PartitionKey='{PartitionKey}',RowKey='{RowKey}'){query}");
        _createTableBody = CreateTableBody(tableName);
        Description = $"Azure Table Storage table '{tableName}' at {endpoint}";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>Builds the store for <paramref name="connection"/>, with its own pipeline.</summary>
    public static TableStateStore Create(StorageConnection connection, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(timeProvider);
        HttpPipelinePolicy[] authentication = connection.Authentication switch
        {
            StorageAuthentication.SharedKey =>
                [new TableSharedKeyPolicy(connection.AccountName!, connection.AccountKey, timeProvider)],
            StorageAuthentication.SharedAccessSignature => [],
            _ => [new BearerTokenAuthenticationPolicy(Credential(connection), StorageScope)],
        };

        var options = new StoreClientOptions();
        options.Retry.MaxRetries = 0;
        var pipeline = HttpPipelineBuilder.Build(options, authentication);
        return new TableStateStore(pipeline, connection.TableEndpoint, connection.TableName, connection.SharedAccessSignature);
    }

    /// <summary>
    /// Creates the table if missing. Call it at start-up with a generous budget: with an Entra identity it also gets
    /// the first token, which can take seconds; later tokens are refreshed in the background before they expire.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        using var message = CreateMessage(RequestMethod.Post, _tablesUri, _createTableBody);
        message.Request.Headers.SetValue(HttpHeader.Names.Prefer, ReturnNoContent);
        var response = await SendAsync(message, CreateTableOperation, cancellationToken).ConfigureAwait(false);
        var created = response.Status is StatusCodes.Status201Created or StatusCodes.Status204NoContent
            || response.Status == StatusCodes.Status409Conflict && ErrorCodeOf(response) == TableAlreadyExists;
        if (!created)
        {
            throw Failure(CreateTableOperation, response);
        }
    }

    /// <inheritdoc />
    public async Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
    {
        using var message = CreateMessage(RequestMethod.Get, _entityUri, ReadOnlyMemory<byte>.Empty);
        var response = await SendAsync(message, ReadOperation, cancellationToken).ConfigureAwait(false);
        if (response.Status == StatusCodes.Status404NotFound)
        {
            return new StoreRead(null, null);
        }

        if (response.Status != StatusCodes.Status200OK)
        {
            throw Failure(ReadOperation, response);
        }

        var etag = ETagOf(response, ReadOperation);
        try
        {
            return new StoreRead(ParseEntity(response.Content.ToMemory().Span), etag);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not JSON, or not UTF-8.
            throw new StateStoreException($"{Description}: {ReadOperation} answered an entity that is not JSON", e);
        }
    }

    /// <inheritdoc />
    public async Task<StoreWrite> WriteAsync(StateDocument document, string? ifMatchETag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        var insert = ifMatchETag is null;
        var (method, uri, operation) = insert
            ? (RequestMethod.Post, _tableUri, InsertOperation)
            : (RequestMethod.Put, _entityUri, UpdateOperation);
        using var message = CreateMessage(method, uri, EntityBody(document));
        if (insert)
        {
            message.Request.Headers.SetValue(HttpHeader.Names.Prefer, ReturnNoContent);
        }
        else
        {
            // Sent exactly as the service gave it (W/"datetime'...'", percent-encoded inside).
            message.Request.Headers.SetValue(HttpHeader.Names.IfMatch, ifMatchETag!);
        }

        var response = await SendAsync(message, operation, cancellationToken).ConfigureAwait(false);
        switch (response.Status)
        {
            case StatusCodes.Status201Created or StatusCodes.Status204NoContent:
                return new StoreWrite(WriteOutcome.Written, ETagOf(response, operation));
            case StatusCodes.Status409Conflict when insert && ErrorCodeOf(response) == EntityAlreadyExists:
            case StatusCodes.Status412PreconditionFailed when !insert:
                return new StoreWrite(WriteOutcome.Conflict, null);
            default:
                throw Failure(operation, response);
        }
    }

    private static ReadOnlyMemory<byte> CreateTableBody(string tableName)
    {
        var body = new ArrayBufferWriter<byte>(EntityOverhead);
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteString(TableNameName, tableName);
            writer.WriteEndObject();
        }

        return body.WrittenMemory;
    }

    private static ReadOnlyMemory<byte> EntityBody(StateDocument document)
    {
        var cooldowns = new ArrayBufferWriter<byte>(InitialCooldownsCapacity);
        CooldownCodec.Write(cooldowns, document.Cooldowns);

        // Edm.Int64 travels as a JSON string with a type annotation (JSON numbers are doubles to many readers).
        Span<byte> cursor = stackalloc byte[MaxInt64Length];
        Utf8Formatter.TryFormat(document.Cursor, cursor, out var cursorLength);

        var body = new ArrayBufferWriter<byte>(cooldowns.WrittenCount + EntityOverhead);
        using (var writer = new Utf8JsonWriter(body, EntityWriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString(PartitionKeyName, PartitionKey);
            writer.WriteString(RowKeyName, RowKey);
            writer.WriteString(CursorTypeName, Int64Type);
            writer.WriteString(CursorName, cursor[..cursorLength]);
            writer.WriteString(CooldownsName, cooldowns.WrittenSpan);
            writer.WriteEndObject();
        }

        return body.WrittenMemory;
    }

    /// <summary>
    /// Reads the entity. A missing or unreadable <c>Cursor</c> reads as 0 and unreadable cooldowns as none, so a
    /// damaged entity heals on the next write instead of failing every read.
    /// </summary>
    private static StateDocument ParseEntity(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("The entity is not a JSON object.");
        }

        long cursor = 0;
        var cooldowns = StateDocument.Empty.Cooldowns;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isCursor = reader.ValueTextEquals(CursorName.EncodedUtf8Bytes);
            var isCooldowns = !isCursor && reader.ValueTextEquals(CooldownsName.EncodedUtf8Bytes);
            reader.Read();
            if (isCursor)
            {
                cursor = ReadInt64(ref reader);
            }
            else if (isCooldowns && reader.TokenType == JsonTokenType.String)
            {
                cooldowns = ReadCooldowns(ref reader);
            }

            reader.Skip();
        }

        return new StateDocument(cursor, cooldowns);
    }

    private static long ReadInt64(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.String when !reader.ValueIsEscaped
            && Utf8Parser.TryParse(reader.ValueSpan, out long value, out var consumed)
            && consumed == reader.ValueSpan.Length => value,
        JsonTokenType.Number when reader.TryGetInt64(out var value) => value,
        _ => 0,
    };

    private static ImmutableDictionary<string, Cooldown> ReadCooldowns(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return CooldownCodec.Read(reader.ValueSpan);
        }

        // Unescaped text is never longer than its escaped form.
        var length = reader.ValueSpan.Length;
        var rented = length > StackUnescapeLimit ? ArrayPool<byte>.Shared.Rent(length) : null;
        try
        {
            Span<byte> buffer = rented is null ? stackalloc byte[StackUnescapeLimit] : rented;
            var written = reader.CopyString(buffer);
            return CooldownCodec.Read(buffer[..written]);
        }
        catch (InvalidOperationException)
        {
            // An escape that is not valid UTF-16 (a lone surrogate): as unreadable as any other damage.
            return StateDocument.Empty.Cooldowns;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static TokenCredential Credential(StorageConnection connection) =>
        connection.Authentication == StorageAuthentication.ManagedIdentity
            ? new ManagedIdentityCredential(connection.ClientId is null
                ? ManagedIdentityId.SystemAssigned
                : ManagedIdentityId.FromUserAssignedClientId(connection.ClientId))
            : new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = connection.ClientId });

    private static string? ErrorCodeOf(Response response) =>
        response.Headers.TryGetValue(ErrorCodeHeader, out var code) ? code : null;

    private HttpMessage CreateMessage(RequestMethod method, Uri uri, ReadOnlyMemory<byte> body)
    {
        var message = _pipeline.CreateMessage();
        var request = message.Request;
        request.Method = method;
        request.Uri.Reset(uri);
        request.Headers.SetValue("x-ms-version", ServiceVersion);
        request.Headers.SetValue("DataServiceVersion", DataServiceVersion);
        request.Headers.SetValue(HttpHeader.Names.Accept, NoMetadataAccept);
        if (!body.IsEmpty)
        {
            request.Headers.SetValue(HttpHeader.Names.ContentType, JsonContentType);
            request.Content = RequestContent.Create(body);
        }

        return message;
    }

    /// <summary>Sends; anything but the caller's own cancellation that keeps an answer from arriving is a store failure.</summary>
    private async Task<Response> SendAsync(HttpMessage message, string operation, CancellationToken cancellationToken)
    {
        try
        {
            await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new StateStoreException($"{Description}: {operation} got no answer ({e.GetBaseException().GetType().Name})", e);
        }

        return message.Response;
    }

    private string ETagOf(Response response, string operation) =>
        response.Headers.TryGetValue(HttpHeader.Names.ETag, out var etag) && !string.IsNullOrEmpty(etag)
            ? etag
            : throw new StateStoreException($"{Description}: {operation} answered {response.Status} without an ETag");

    // Status and the service's error code only: the body and headers are not echoed.
    private StateStoreException Failure(string operation, Response response) =>
        new($"{Description}: {operation} answered {response.Status} {ErrorCodeOf(response) ?? response.ReasonPhrase}");

    /// <summary>Azure.Core's options type is abstract; this store needs only its defaults and no retries.</summary>
    private sealed class StoreClientOptions : ClientOptions;
}
