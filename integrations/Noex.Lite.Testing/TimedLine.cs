namespace Noex.Lite.Testing;

/// <summary>A line of a <see cref="NodeProcess"/>'s output and when it arrived here (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
public readonly record struct TimedLine(long At, string Text);
