using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Noex.Lite.Tests;

/// <summary>One message an <see cref="ILogger"/> wrote, as <see cref="RecordingLoggerProvider"/> kept it.</summary>
internal sealed record LoggedMessage(string Category, LogLevel Level, EventId EventId, string Message, Exception? Error)
{
    public override string ToString() => $"{Level} {Category}[{EventId.Id}] {Message}";
}

/// <summary>
/// An <see cref="ILoggerProvider"/> that keeps every message of every level, for a test to read: what a host's
/// <c>builder.Logging.AddProvider(recorder)</c> sends its loggers.
/// </summary>
internal sealed class RecordingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LoggedMessage> _messages = new();

    public IReadOnlyList<LoggedMessage> Messages => [.. _messages];

    /// <summary>The messages of <paramref name="category"/> with event id <paramref name="eventId"/>, in order.</summary>
    public IReadOnlyList<LoggedMessage> Of(string category, int eventId) =>
        [.. _messages.Where(m => m.Category == category && m.EventId.Id == eventId)];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public override string ToString() => string.Join('\n', _messages);

    private sealed class Logger(RecordingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider._messages.Enqueue(new LoggedMessage(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
