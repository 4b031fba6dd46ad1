namespace Noex.Lite;

/// <summary>Why a cast was not delivered.</summary>
public enum DeadLetterReason : byte
{
    /// <summary>The sending node has no connection to the target's node.</summary>
    NodeUnreachable = 1,
    /// <summary>The outbound queue to the target's node was full.</summary>
    QueueFull,
    /// <summary>The cast reached the target's node, but no such process runs there (raised on that node).</summary>
    NoProcess,
    /// <summary>The cast reached the target's node, but the process's mailbox refused it (raised on that node).</summary>
    MailboxFull,
    /// <summary>The cast reached the target's node, but it does not fit the type the target's typed handler takes (raised
    /// on that node; the message is the value as sent).</summary>
    Unreadable,
}

/// <summary>A cast that was not delivered (<see cref="Node.DeadLetter"/>).</summary>
/// <param name="Target">The process it was sent to.</param>
/// <param name="Message">The message.</param>
/// <param name="Reason">Why it was not delivered.</param>
public readonly record struct DeadLetterEvent(ProcessRef Target, Value Message, DeadLetterReason Reason);
