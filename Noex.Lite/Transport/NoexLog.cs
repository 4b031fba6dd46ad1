using System.Diagnostics.Tracing;

namespace Noex.Lite;

/// <summary>
/// What a log of the node would say, as an <see cref="EventSource"/> named <c>Noex.Lite</c> (no logging package): see it
/// with <c>dotnet-trace collect --providers Noex.Lite</c> or an <see cref="EventListener"/>. Events carry ids as text so
/// that a listener needs none of the library's types. Each method returns at once when nobody listens: the overloads
/// with more than three arguments would otherwise box them into an array on every call.
/// </summary>
[EventSource(Name = NoexDiagnostics.EventSourceName)]
internal sealed class NoexLog : EventSource
{
    public static readonly NoexLog Log = new();

    private NoexLog()
    {
    }

    /// <summary>A node became a member, or came back.</summary>
    [Event(1, Level = EventLevel.Informational, Message = "{0}: node {1} is up")]
    public void MemberUp(string node, string peer)
    {
        if (IsEnabled())
        {
            WriteEvent(1, node, peer);
        }
    }

    /// <summary>A member was lost (node down).</summary>
    [Event(2, Level = EventLevel.Warning, Message = "{0}: node {1} is down ({2}): {3}")]
    public void MemberDown(string node, string peer, string reason, string detail)
    {
        if (IsEnabled())
        {
            WriteEvent(2, node, peer, reason, detail);
        }
    }

    /// <summary>A member was removed.</summary>
    [Event(3, Level = EventLevel.Informational, Message = "{0}: node {1} was removed ({2})")]
    public void MemberRemoved(string node, string peer, string reason)
    {
        if (IsEnabled())
        {
            WriteEvent(3, node, peer, reason);
        }
    }

    /// <summary>Ids from gossip or seeds were refused (the cap, or this node's own).</summary>
    [Event(4, Level = EventLevel.Warning, Message = "{0}: refused {2} node ids from {1}: {3}")]
    public void MembersRefused(string node, string source, int count, string cause)
    {
        if (IsEnabled())
        {
            WriteEvent(4, node, source, count, cause);
        }
    }

    /// <summary>A seed provider failed.</summary>
    [Event(5, Level = EventLevel.Warning, Message = "{0}: seed provider {1} failed: {2}")]
    public void DiscoveryFailed(string node, string provider, string error)
    {
        if (IsEnabled())
        {
            WriteEvent(5, node, provider, error);
        }
    }
}
