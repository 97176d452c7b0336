using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Reflection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>One captured log line.</summary>
internal sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// <summary>Captures every log line of a host, so tests can assert what was logged (and that no secret was).</summary>
internal sealed class LogCapture : ILoggerProvider
{
    /// <summary>
    /// The names of the engine's events: its Log class's <c>[LoggerMessage]</c> methods (the generator names each event
    /// after its method unless EventName says otherwise).
    /// </summary>
    private static readonly FrozenSet<string> EngineEvents = typeof(AoaiProxy.Logging.Log)
        .GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
        .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
        .Where(m => m.Attribute is not null)
        .Select(m => m.Attribute!.EventName ?? m.Method.Name)
        .ToFrozenSet(StringComparer.Ordinal);

    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyCollection<CapturedLog> Entries => _entries;

    /// <summary>
    /// The engine's own lines of one event, by the name of its <c>[LoggerMessage]</c> method in AoaiProxy.Logging.Log
    /// (e.g. "Exhausted"), which is its EventId.Name. Only the engine's categories count: ASP.NET Core and Kestrel log
    /// events of their own with small ids and names. A name the engine does not log throws, so that an assertion that
    /// an event is absent cannot pass on a misspelt name.
    /// </summary>
    public IEnumerable<CapturedLog> Named(string eventName)
    {
        if (!EngineEvents.Contains(eventName))
        {
            throw new ArgumentException($"The engine logs no event named '{eventName}' (see AoaiProxy.Logging.Log).", nameof(eventName));
        }

        return _entries.Where(e => e.EventId.Name == eventName && IsEngine(e));
    }

    /// <summary>
    /// The engine's own lines with this numeric event id. Prefer <see cref="Named"/>, which says which event is meant;
    /// only State/SharedStateTests still asserts by id.
    /// </summary>
    public IEnumerable<CapturedLog> WithEventId(int id) => _entries.Where(e => e.EventId.Id == id && IsEngine(e));

    /// <summary>True for a line of the engine's own categories.</summary>
    public static bool IsEngine(CapturedLog entry) => entry.Category.StartsWith("AoaiProxy.", StringComparison.Ordinal);

    public string AllText() => string.Join('\n', _entries.Select(e => $"{e.Level} {e.Category} {e.Message} {e.Exception}"));

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new CapturedLog(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
