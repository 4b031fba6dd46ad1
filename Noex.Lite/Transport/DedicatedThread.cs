namespace Noex.Lite;

/// <summary>
/// Runs blocking work on a thread of its own and hands its outcome back as a task: for a connection's socket, which must
/// never meet an asynchronous socket call (see <see cref="Connection"/>), without holding a thread-pool thread while it
/// blocks.
/// </summary>
internal static class DedicatedThread
{
    /// <summary>Starts <paramref name="work"/> on a new background thread named <paramref name="name"/>.</summary>
    /// <returns>A task that completes (asynchronously, never on that thread) with the work's result or exception.</returns>
    public static Task<T> Run<T>(string name, Func<T> work)
    {
        var outcome = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                outcome.SetResult(work());
            }
            catch (Exception e)
            {
                outcome.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = name,
        }.UnsafeStart(); // no ambient context (an Activity, AsyncLocals) from whoever opened the connection
        return outcome.Task;
    }

    /// <summary>Starts <paramref name="work"/> on a new background thread named <paramref name="name"/>.</summary>
    public static Task Run(string name, Action work) => Run(name, () =>
    {
        work();
        return true;
    });
}
