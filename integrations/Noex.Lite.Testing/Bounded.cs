namespace Noex.Lite.Testing;

/// <summary>The kit's one bound for waiting, and tasks awaited within it.</summary>
public static class Bounded
{
    /// <summary>
    /// How long a wait may take before it fails: 30 s, generous so that a loaded 2-core machine never flakes. A wait ends as
    /// soon as what it waits for happens, so the bound costs a passing test nothing.
    /// </summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary><paramref name="task"/>, failing with <see cref="TimeoutException"/> if it takes longer than <see cref="Wait"/>.</summary>
    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Wait);

    /// <summary><paramref name="task"/>, failing with <see cref="TimeoutException"/> if it takes longer than <see cref="Wait"/>.</summary>
    public static Task Within(this Task task) => task.WaitAsync(Wait);

    /// <summary><paramref name="task"/>, failing with <see cref="TimeoutException"/> if it takes longer than <see cref="Wait"/>.</summary>
    public static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Wait);
}
