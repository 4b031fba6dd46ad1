namespace Noex.Lite.Tests;

/// <summary>A line of a <see cref="NodeProcess"/>'s output and when it arrived here (a Stopwatch timestamp).</summary>
public readonly record struct TimedLine(long At, string Text);
