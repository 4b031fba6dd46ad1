namespace Noex.Lite.Testing;

/// <summary>
/// Waiting for what happens on other threads: a condition polled until it holds, never a sleep on a guess. The bound only
/// fails a broken test; a passing one returns as soon as the condition holds.
/// </summary>
public static class Wait
{
    /// <summary>
    /// Polls <paramref name="condition"/> (a cheap in-memory check) every 10 ms until it holds; throws
    /// <see cref="TimeoutException"/> if it does not within <paramref name="within"/> (default <see cref="Bounded.Wait"/>).
    /// </summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan? within = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var bound = within ?? Bounded.Wait;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(bound);
        while (!condition())
        {
            try
            {
                await Task.Delay(10, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the condition did not hold within {bound.TotalSeconds:0.#} s");
            }
        }
    }

    /// <summary>
    /// Polls <paramref name="condition"/> (a check that asks something, such as another process) every 100 ms until it
    /// holds; throws <see cref="TimeoutException"/> if it does not within <paramref name="within"/> (default
    /// <see cref="Bounded.Wait"/>).
    /// </summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? within = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var bound = within ?? Bounded.Wait;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(bound);
        try
        {
            while (!await condition().WaitAsync(timeout.Token).ConfigureAwait(false))
            {
                await Task.Delay(100, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the condition did not hold within {bound.TotalSeconds:0.#} s");
        }
    }
}
