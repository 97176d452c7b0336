using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>One captured log line.</summary>
internal sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// <summary>Captures every log line of a host, so tests can assert what was logged (and that no secret was).</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyCollection<CapturedLog> Entries => _entries;

    /// <summary>The engine's own lines with this event id (ASP.NET Core reuses small ids in its own categories).</summary>
    public IEnumerable<CapturedLog> WithEventId(int id) =>
        _entries.Where(e => e.EventId.Id == id && e.Category.StartsWith("AoaiProxy.", StringComparison.Ordinal));

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
