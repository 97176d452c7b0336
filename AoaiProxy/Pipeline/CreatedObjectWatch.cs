using AoaiProxy.Affinity;

namespace AoaiProxy.Pipeline;

/// <summary>What a relay lets see its body pass, and waits for before the caller can have the answer's last byte.</summary>
internal interface IRelayWatcher
{
    /// <summary>A chunk of the answer was read (and is about to reach the caller).</summary>
    void Relayed();

    /// <summary>Completes when the caller may have the rest; bounded by the watcher's own budget.</summary>
    Task BeforeLastByteAsync();
}

/// <summary>
/// Read-your-writes for objects the proxy sees created: as soon as the answer's first bytes name the new object's id, its
/// record goes to the shared store, and the answer's last byte waits for that write (within the state budget), so a
/// follow-up through any instance finds the owner at once. If the store does not answer in time, the answer goes on and
/// the record follows, as before.
/// </summary>
internal sealed class CreatedObjectWatch(CapturedContent captured, bool eventStream, string backend, ObjectAffinity affinity, TimeSpan budget, TimeProvider time)
    : IRelayWatcher
{
    private Task? _recording;
    private bool _looked;

    /// <summary>The created object's id, once the answer named it.</summary>
    public string? Id { get; private set; }

    public void Relayed()
    {
        if (_recording is not null || _looked)
        {
            return;
        }

        if (CreatedObjectId.Of(captured.Decoded(), eventStream) is { } id)
        {
            Id = id;
            _recording = affinity.RecordAsync(id, backend);
        }

        // The id comes first: once the capture is full without one, there is none to wait for.
        _looked = captured.Captured.Length >= CapturedContent.Limit;
    }

    public async Task BeforeLastByteAsync()
    {
        if (_recording is not { } recording)
        {
            return;
        }

        try
        {
            await recording.WaitAsync(budget, time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The store is slow: the answer does not wait longer than a request waits for the shared state.
        }
    }
}
