using System.Diagnostics.CodeAnalysis;

namespace Noex.Lite.Hosting;

/// <summary>
/// The node that <c>AddNoexNode</c> starts with the host, for services built before it runs: resolve this (a
/// singleton), then read <see cref="Node"/> once the host has started, or await <see cref="WhenStarted"/>.
/// </summary>
/// <remarks>
/// The node starts in the host's <c>StartingAsync</c> phase, before any hosted service's <c>StartAsync</c>, and stops in
/// its <c>StoppedAsync</c> phase, after every hosted service's <c>StopAsync</c>: a hosted service may use the node from its
/// <c>StartAsync</c> to its <c>StopAsync</c>. <see cref="Lite.Node"/> itself is registered too, resolvable from then on.
/// Thread-safe.
/// </remarks>
public sealed class NoexNodeAccessor
{
    private readonly TaskCompletionSource<Node> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Node? _node;

    /// <summary>
    /// The running node (after it stops: the stopped one, whose <see cref="Node.State"/> says so).
    /// </summary>
    /// <exception cref="InvalidOperationException">The node has not started yet.</exception>
    public Node Node => Volatile.Read(ref _node) ?? throw NotStarted();

    /// <summary>Completes with the node once it runs; fails with the start's error if it cannot start.</summary>
    public Task<Node> WhenStarted => _started.Task;

    /// <summary>The node, if it has started.</summary>
    /// <param name="node">The node, or null before it started.</param>
    /// <returns>Whether it has started.</returns>
    public bool TryGetNode([NotNullWhen(true)] out Node? node)
    {
        node = Volatile.Read(ref _node);
        return node is not null;
    }

    internal void SetStarted(Node node)
    {
        Volatile.Write(ref _node, node);
        _started.TrySetResult(node);
    }

    internal void SetFailed(Exception error)
    {
        _started.TrySetException(error);
        // Nobody may be waiting; a failed start is reported by the host, not as an unobserved task exception.
        _ = _started.Task.Exception;
    }

    private static InvalidOperationException NotStarted() => new(
        "The Noex node has not started yet: it starts with the host (IHost.StartAsync, in its StartingAsync phase). " +
        "Use it from a hosted service's StartAsync or later, or resolve NoexNodeAccessor and await WhenStarted.");
}
