using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>One measurement: instrument, value and tags.</summary>
internal sealed record Measured(string Instrument, double Value, IReadOnlyDictionary<string, string?> Tags)
{
    public string? this[string tag] => Tags.TryGetValue(tag, out var value) ? value : null;
}

/// <summary>
/// Records what one <see cref="Meter"/> instance measures, through a <see cref="MeterListener"/>. Listening to the
/// instance (not the meter name) keeps tests running in parallel, each with its own host and meter, apart.
/// </summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measured> _measured = new();

    public MetricsRecorder(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.Start();
    }

    public IReadOnlyList<Measured> All => _measured.ToArray();

    public IReadOnlyList<Measured> Of(string instrument) => _measured.Where(m => m.Instrument == instrument).ToArray();

    /// <summary>Sum of the instrument's measurements whose tags include every one given.</summary>
    public double Sum(string instrument, params (string Tag, string? Value)[] tags) =>
        Of(instrument).Where(m => tags.All(t => m[t.Tag] == t.Value)).Sum(m => m.Value);

    /// <summary>Takes one reading of every observable instrument (their callbacks run now).</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    /// <summary>Forgets what was recorded so far (e.g. observable readings before the next <see cref="Observe"/>).</summary>
    public void Clear() => _measured.Clear();

    public void Dispose() => _listener.Dispose();

    private void Add<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var copy = new Dictionary<string, string?>();
        foreach (var (key, tagValue) in tags)
        {
            copy[key] = tagValue?.ToString();
        }

        _measured.Enqueue(new Measured(instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), copy));
    }
}
