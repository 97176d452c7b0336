using AoaiProxy.Configuration;
using Azure;
using Azure.Data.Tables;

namespace AoaiProxy.State;

/// <summary>
/// What every store on the state table shares (the shared state, the object records): a client without retries, and one
/// mapping of the SDK's failures to <see cref="StateStoreException"/>.
/// </summary>
internal static class TableCalls
{
    /// <summary>
    /// A client for the state table that does not retry: the caller's token bounds each call, and a retry belongs to the
    /// caller's next round (the next sync, the next request) rather than to an operation held open.
    /// </summary>
    public static TableClient CreateClient(StorageConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var options = new TableClientOptions();
        options.Retry.MaxRetries = 0;
        return connection.CreateServiceClient(options).GetTableClient(connection.TableName);
    }

    /// <summary>
    /// Runs one SDK call; anything but the caller's own cancellation that keeps an answer from arriving is a
    /// <see cref="StateStoreException"/> naming the store, the operation, the status and the service's error code, never
    /// the SDK's message (which can quote request content).
    /// </summary>
    public static async Task<T> RunAsync<T>(
        string description, string operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            return await call(cancellationToken).ConfigureAwait(false);
        }
        catch (StateStoreException)
        {
            throw;
        }
        catch (RequestFailedException e) when (e.Status != 0)
        {
            throw new StateStoreException($"{description}: {operation} answered {e.Status} {e.ErrorCode}", e);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new StateStoreException($"{description}: {operation} got no answer ({e.GetBaseException().GetType().Name})", e);
        }
    }
}
