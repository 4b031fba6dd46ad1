using System.Collections.Concurrent;
using System.Diagnostics;

namespace Noex.Lite.Tests;

/// <summary>A peer going down as <see cref="Seer"/> saw it, and when (a <see cref="Stopwatch"/> timestamp).</summary>
internal readonly record struct SeenDown(Node Seer, NodeDownEvent Down, long At)
{
    public NodeId Peer => Down.Node;

    public NodeDownReason Reason => Down.Reason;
}

/// <summary>A peer coming up as <see cref="Seer"/> saw it, and when (a <see cref="Stopwatch"/> timestamp).</summary>
internal readonly record struct SeenUp(Node Seer, NodeInfo Peer, long At);

/// <summary>
/// The node-downs and node-ups of the nodes it watches, in the order each node raised them. Tests subscribe to these
/// events only through here (<see cref="Watch"/>, or <see cref="OnDown"/> for a handler of their own), so that the
/// events' signatures are spelled in this one file.
/// </summary>
internal sealed class NodeEvents
{
    private NodeEvents()
    {
    }

    public ConcurrentQueue<SeenDown> Downs { get; } = new();

    public ConcurrentQueue<SeenUp> Ups { get; } = new();

    /// <summary>Records the events <paramref name="nodes"/> raise from now on (not those raised before).</summary>
    public static NodeEvents Watch(params Node[] nodes)
    {
        var events = new NodeEvents();
        foreach (var node in nodes)
        {
            OnDown(node, down => events.Downs.Enqueue(new SeenDown(node, down, Stopwatch.GetTimestamp())));
            node.NodeUp += info => events.Ups.Enqueue(new SeenUp(node, info, Stopwatch.GetTimestamp()));
        }
        return events;
    }

    /// <summary>Calls <paramref name="handler"/> with every peer <paramref name="node"/> sees go down, until disposed.</summary>
    public static IDisposable OnDown(Node node, Action<NodeDownEvent> handler)
    {
        node.NodeDown += handler;
        return new Subscription(() => node.NodeDown -= handler);
    }

    private sealed class Subscription(Action undo) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                undo();
            }
        }
    }
}
