using System.Buffers;

namespace Noex.Lite;

/// <summary>What a peer answers when asked whether it reaches a node (protocol.md §5.6, reach_reply).</summary>
internal enum ReachStatus : byte
{
    /// <summary>It has no live connection to the node.</summary>
    Unreachable = 0,
    /// <summary>It has a live connection to the node (or is the node).</summary>
    Reachable = 1,
}

/// <summary>What this node's peers say of a node this node cannot reach.</summary>
/// <param name="Asked">The peers asked (connected, using the <c>reach</c> capability).</param>
/// <param name="Unreachable">Those that answered that they cannot reach it either.</param>
/// <param name="Reachable">Those that answered that they reach it: the node is alive, only this link is cut.</param>
/// <param name="Unanswered">Those that did not answer in time, or whose connection closed first.</param>
internal readonly record struct ReachVerdict(int Asked, int Unreachable, int Reachable, int Unanswered)
{
    /// <summary>Every peer asked answered, and none reaches the node: nobody this node can talk to sees it.</summary>
    public bool LostToAll => Reachable == 0 && Unanswered == 0;
}

/// <summary>
/// Asks peers whether they reach a third node, and answers them (reach_request <c>0x32</c>, reach_reply <c>0x33</c>,
/// protocol.md §5.6). A node that lost its link to another cannot tell a crash from a cut of that one link; a peer that
/// still reaches it can. Distributed supervision asks before it restarts a lost node's children or takes over a lost
/// supervisor, so that one cut link never makes two live instances (Erlang's <c>prevent_overlapping_partitions</c>
/// answers the same question by disconnecting; this one asks).
/// </summary>
internal sealed class Reachability : IClusterService
{
    /// <summary>The first message type of the reach query.</summary>
    internal const byte FirstType = MessageTypes.FirstReach;

    /// <summary>The last (0x34-0x37 reserved).</summary>
    internal const byte LastType = MessageTypes.LastReach;

    private readonly INodeContext _node;
    private readonly RequestTable<Pending> _pending = new();
    private long _nextRequestId;
    private long _answered;

    internal Reachability(INodeContext node) => _node = node;

    /// <summary>How many reach requests this node has answered (for tests: a wait on the asker's retries, not on time).</summary>
    internal long Answered => Interlocked.Read(ref _answered);

    /// <summary>Requests waiting for replies (for tests: the table must not leak).</summary>
    internal int PendingCount => _pending.Count;

    /// <summary>
    /// Asks each of <paramref name="peers"/> (the nodes the caller counts as connected; <paramref name="node"/> itself is
    /// skipped) whether it reaches <paramref name="node"/>, and waits at most <paramref name="timeout"/> for the answers.
    /// A peer without a live connection counts as unanswered (its connection is closing: it may be the one that is cut);
    /// one whose connection does not use the <c>reach</c> capability (an older build) is not asked and not counted.
    /// </summary>
    public async Task<ReachVerdict> AskAsync(NodeId node, IEnumerable<NodeId> peers, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var asked = new List<Task<ReachStatus?>>();
        foreach (var peer in peers.Where(p => p != node && p != _node.Id))
        {
            if (!_node.Connections.TryGetConnection(peer, out var connection))
            {
                asked.Add(Task.FromResult<ReachStatus?>(null));
            }
            else if ((connection.Protocol.Capabilities & Capabilities.Reach) != 0)
            {
                asked.Add(AskOneAsync(connection, node, timeout, cancellationToken));
            }
        }
        var answers = await Task.WhenAll(asked).ConfigureAwait(false);
        return new ReachVerdict(answers.Length,
            answers.Count(a => a == ReachStatus.Unreachable), answers.Count(a => a == ReachStatus.Reachable), answers.Count(a => a is null));
    }

    private async Task<ReachStatus?> AskOneAsync(Connection connection, NodeId node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextRequestId);
        var pending = new Pending(connection, new TaskCompletionSource<ReachStatus?>(TaskCreationOptions.RunContinuationsAsynchronously));
        _pending.Add(id, pending);
        try
        {
            if (connection.TryEnqueue(new ReachRequest((ulong)id, node.ToString())) != EnqueueResult.Queued)
            {
                return null;
            }
            return await pending.Reply.Task.WaitAsync(timeout, _node.Options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            _pending.TryTake(id, out _);
        }
    }

    bool IClusterService.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        if ((connection.Protocol.Capabilities & Capabilities.Reach) == 0)
        {
            return false; // a type of a capability this connection does not use: as on a version 1 connection (§4.6)
        }
        var body = new WireReader(message[1..]);
        switch (message[0])
        {
            case MessageTypes.ReachRequest when body.TryReadUInt64(out var requestId) && body.TryReadStr8(out var text) && body.End:
                // Answered on the read loop at once: one lookup in the connection table. A text that is not a node id
                // names no node this one reaches.
                var reachable = text == _node.Id.ToString()
                    || _node.Connections.TryGetConnection(text, out _);
                connection.TryEnqueue(new ReachReply(requestId, reachable ? ReachStatus.Reachable : ReachStatus.Unreachable), force: true);
                Interlocked.Increment(ref _answered);
                return true;
            case MessageTypes.ReachReply when body.TryReadUInt64(out var requestId) && body.TryReadByte(out var status) && status <= 1 && body.End:
                if (_pending.TryTake((long)requestId, connection, out var pending))
                {
                    pending.Reply.TrySetResult((ReachStatus)status);
                }
                return true;
            default:
                return false; // malformed, or 0x34-0x37 (reserved)
        }
    }

    void IClusterService.OnConnectionUp(Connection connection)
    {
    }

    void IClusterService.OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        foreach (var pending in _pending.TakeAll(connection))
        {
            pending.Reply.TrySetResult(null);
        }
    }

    void IClusterService.OnTick()
    {
    }

    private readonly record struct Pending(Connection Connection, TaskCompletionSource<ReachStatus?> Reply) : IPendingRequest
    {
        public bool IsFinished => Reply.Task.IsCompleted;
    }

    /// <summary><c>0x32 reach_request: request_id u64, node str8</c>.</summary>
    internal readonly struct ReachRequest(ulong requestId, string node) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.ReachRequest);
            writer.WriteUInt64(requestId);
            writer.WriteStr8(node);
            writer.Commit();
        }
    }

    /// <summary><c>0x33 reach_reply: request_id u64, status u8</c> (0 unreachable, 1 reachable).</summary>
    internal readonly struct ReachReply(ulong requestId, ReachStatus status) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.ReachReply);
            writer.WriteUInt64(requestId);
            writer.WriteByte((byte)status);
            writer.Commit();
        }
    }
}
