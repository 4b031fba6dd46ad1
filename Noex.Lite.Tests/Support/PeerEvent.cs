namespace Noex.Lite.Tests;

/// <summary>An <c>UP &lt;id&gt;</c> or <c>DOWN &lt;id&gt; &lt;reason&gt;</c> line of a NodeHost, and when it arrived here.</summary>
/// <param name="At">A Stopwatch timestamp.</param>
/// <param name="Up">True for UP, false for DOWN.</param>
/// <param name="Peer">The node that came up or went down.</param>
/// <param name="Reason">The down's reason (a <see cref="NodeDownReason"/> name); null for an up.</param>
public sealed record PeerEvent(long At, bool Up, NodeId Peer, string? Reason)
{
    public override string ToString() => Up ? $"UP {Peer}" : $"DOWN {Peer} {Reason}";
}
