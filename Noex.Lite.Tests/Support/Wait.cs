namespace Noex.Lite.Tests;

/// <summary>
/// Waiting for what happens on other threads: a condition polled every 10 ms until it holds, never a sleep on a guess.
/// The bound is <see cref="Bounded.Wait"/>: it only fails a broken test, and a passing one returns as soon as it can.
/// </summary>
internal static class Wait
{
    /// <summary>
    /// Polls <paramref name="condition"/> (a cheap in-memory check) every 10 ms until it holds; throws
    /// <see cref="OperationCanceledException"/> if it does not within <see cref="Bounded.Wait"/>.
    /// </summary>
    public static async Task UntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Bounded.Wait);
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    /// <summary>
    /// Polls <paramref name="condition"/> (a check that asks something, such as a NodeHost process) every 100 ms until it
    /// holds; throws <see cref="OperationCanceledException"/> if it does not within <see cref="Bounded.Wait"/>.
    /// </summary>
    public static async Task UntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(Bounded.Wait);
        while (!await condition().WaitAsync(timeout.Token))
        {
            await Task.Delay(100, timeout.Token);
        }
    }
}

/// <summary>The suite's one bound for waiting, and tasks awaited within it.</summary>
internal static class Bounded
{
    /// <summary>The one bound every test waits with: generous, so a loaded 2-core machine never flakes.</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Wait);

    public static Task Within(this Task task) => task.WaitAsync(Wait);

    public static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Wait);
}
