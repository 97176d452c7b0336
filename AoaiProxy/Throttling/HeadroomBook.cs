using System.Collections.Concurrent;

namespace AoaiProxy.Throttling;

/// <summary>
/// This instance's <see cref="Headroom"/> of every backend deployment it has sent a request with a cost estimate to:
/// the ledger is kept as requests are sent, the anchors as their answers report. The arithmetic is
/// <see cref="Headroom"/>'s; this class only keeps the values, one lock per entry.
/// </summary>
internal sealed class HeadroomBook
{
    /// <summary>
    /// Deployments come from callers (a v1 "model" is any string), so the set is bounded: when full it starts over.
    /// Forgetting a headroom only makes a deployment look unknown, which fits anything: the cooldowns still hold.
    /// </summary>
    internal const int MaxTrackedKeys = 4096;

    private readonly ConcurrentDictionary<(string Backend, string Scope), Entry> _entries = new();

    /// <summary>A request of estimated <paramref name="cost"/> is being sent: its place in the deployment's ledger.</summary>
    public Headroom.Ticket Send(string backend, string scope, long cost)
    {
        var entry = EntryFor(backend, scope);
        lock (entry)
        {
            (entry.Value, var ticket) = entry.Value.Send(cost);
            return ticket;
        }
    }

    /// <summary>An answer to the request at <paramref name="ticket"/> reported what its deployment has left.</summary>
    public void Report(string backend, string scope, Headroom.Ticket ticket, long? tokens, long? requests, DateTimeOffset until, DateTimeOffset now, bool admitted)
    {
        if (tokens is null && requests is null)
        {
            return;
        }

        var entry = EntryFor(backend, scope);
        lock (entry)
        {
            entry.Value = entry.Value.Report(ticket, tokens, requests, until, now, admitted);
        }
    }

    /// <summary>One request probes the deployment's window (see <see cref="Headroom.Probe"/>).</summary>
    public void Probe(string backend, string scope, DateTimeOffset until)
    {
        var entry = EntryFor(backend, scope);
        lock (entry)
        {
            entry.Value = entry.Value.Probe(until);
        }
    }

    /// <summary>A 429 named when the deployment's window ends (see <see cref="Headroom.Throttled"/>).</summary>
    public void Throttled(string backend, string scope, DateTimeOffset end, DateTimeOffset now)
    {
        var entry = EntryFor(backend, scope);
        lock (entry)
        {
            entry.Value = entry.Value.Throttled(end, now);
        }
    }

    /// <summary>A new window of the deployment starts (see <see cref="Headroom.NewWindow"/>).</summary>
    public void NewWindow(string backend, string scope, double share, DateTimeOffset until)
    {
        var entry = EntryFor(backend, scope);
        lock (entry)
        {
            entry.Value = entry.Value.NewWindow(share, until);
        }
    }

    /// <summary>The deployment's headroom as known now; the default (nothing known) for one never sent to.</summary>
    public Headroom Of(string backend, string scope)
    {
        if (!_entries.TryGetValue((backend, scope), out var entry))
        {
            return default;
        }

        lock (entry)
        {
            return entry.Value;
        }
    }

    private Entry EntryFor(string backend, string scope)
    {
        var key = (backend, scope);
        if (_entries.TryGetValue(key, out var entry))
        {
            return entry;
        }

        if (_entries.Count >= MaxTrackedKeys)
        {
            _entries.Clear();
        }

        return _entries.GetOrAdd(key, static _ => new Entry());
    }

    /// <summary>A mutable box for one deployment's value, locked while it changes.</summary>
    private sealed class Entry
    {
        public Headroom Value;
    }
}
