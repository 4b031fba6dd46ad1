namespace Noex.Lite;

/// <summary>
/// Names nodes to join: the node asks it at start and every <see cref="NodeOptions.SeedPollInterval"/>, and dials every
/// id it does not know yet. <see cref="NodeOptions.Seeds"/> is the static one; <see cref="DnsSeedProvider"/> reads DNS.
/// </summary>
/// <remarks>
/// An answer may name this node itself (it is skipped) and nodes that are gone (they are dialled with backoff and
/// removed after <see cref="NodeOptions.RemoveUnreachableAfter"/>). A provider that throws is counted and asked again at
/// the next poll; the node goes on with the members it has.
/// </remarks>
public interface ISeedProvider
{
    /// <summary>The nodes to join, as of now.</summary>
    /// <param name="cancellationToken">Cancelled when the node stops or the poll takes longer than
    /// <see cref="NodeOptions.ConnectTimeout"/>.</param>
    /// <returns>The seeds' ids.</returns>
    ValueTask<IReadOnlyList<NodeId>> GetSeedsAsync(CancellationToken cancellationToken);
}
