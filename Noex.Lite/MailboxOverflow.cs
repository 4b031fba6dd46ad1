namespace Noex.Lite;

/// <summary>What a full bounded mailbox does with one more message.</summary>
/// <remarks>At the library's root, below the options: <see cref="NodeOptions"/> names a node-wide policy, and the
/// processes layer, above the options, applies it.</remarks>
public enum MailboxOverflow
{
    /// <summary>The sender gets a <see cref="MailboxFullException"/>; nothing is queued.</summary>
    Reject = 0,
    /// <summary>The new message is dropped and counted as a dead letter; the sender is not told.</summary>
    DropNewest,
}
