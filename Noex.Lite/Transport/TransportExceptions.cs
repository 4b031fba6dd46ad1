namespace Noex.Lite;

/// <summary>A node could not be reached: not connected, refused, or timed out.</summary>
public sealed class NodeNotReachableException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="nodeId">The node.</param>
    /// <param name="reason">Why it could not be reached.</param>
    public NodeNotReachableException(NodeId nodeId, string reason)
        : this(nodeId.ToString(), reason)
    {
    }

    /// <summary>Creates the exception for a node named by its id text (as process refs carry it).</summary>
    /// <param name="nodeId">The node's id text.</param>
    /// <param name="reason">Why it could not be reached.</param>
    public NodeNotReachableException(string nodeId, string reason)
        : base($"Node {nodeId} is not reachable: {reason}")
    {
        NodeId = nodeId;
    }

    /// <summary>The node that could not be reached, as <c>name@host:port</c>.</summary>
    public string NodeId { get; }
}

/// <summary>
/// The outbound queue to a node is full: thrown to a call or <c>CastAsync</c> under <see cref="OverloadPolicy.Reject"/>
/// (see <see cref="NodeOptions.OverloadPolicy"/>), and to a spawn or a remote stop under either policy.
/// </summary>
public sealed class NodeOverloadedException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="nodeId">The node whose queue is full.</param>
    /// <param name="queuedBytes">The bytes waiting for it.</param>
    public NodeOverloadedException(NodeId nodeId, long queuedBytes)
        : base($"The outbound queue to {nodeId} is full ({queuedBytes} bytes waiting; raise NodeOptions.MaxOutboundQueueBytes or slow down).")
    {
        NodeId = nodeId;
    }

    /// <summary>The node whose queue is full.</summary>
    public NodeId NodeId { get; }
}
