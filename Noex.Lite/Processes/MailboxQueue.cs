using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Noex.Lite;

/// <summary>
/// The user-message queue of a <see cref="Mailbox"/>: lock-free, many producers, FIFO, with no storage until the first
/// message and ring segments that start small, double while messages back up, and are given back when the backlog ends.
/// </summary>
/// <remarks>
/// <para>
/// Why not <see cref="System.Collections.Concurrent.ConcurrentQueue{T}"/>: its first segment holds 32 slots plus three
/// cache lines of padding, about 2.1 KB for an <see cref="Envelope"/>, allocated with the queue and kept for good, and
/// after a backlog it keeps its largest segment forever. With a million processes that was 2.1 GB of empty queues. Here
/// an idle process that never got a message has no segment at all, and a warm one reuses its ring, so a message costs
/// nothing once the ring is big enough for the backlog.
/// </para>
/// <para>
/// The segments are runtime's <c>ConcurrentQueueSegment</c> design, slimmed: each slot carries a sequence number that says
/// whose turn the slot is (a producer's at position <c>p</c> when it reads <c>p</c>, a consumer's when it reads <c>p + 1</c>),
/// positions are reserved with a compare-and-swap on <c>Tail</c> or <c>Head</c>, and a segment that must take no more
/// messages is frozen by setting <see cref="FrozenBit"/> in its <c>Tail</c>: one atomic operation, after which no
/// reservation can succeed, so the positions it holds are final. A segment is linked to its successor only after it is
/// frozen; that is what lets a consumer that finds a segment drained and a successor present leave it for good.
/// </para>
/// <para>
/// Thread safety: <see cref="Enqueue"/> from any thread. <see cref="TryDequeue"/> is safe for several consumers (a turn
/// and a closing drain may race), though the mailbox has one regular consumer, its turn; <see cref="Shrink"/> is for that
/// consumer only. A mutable struct embedded in its mailbox, so that it costs no object of its own: never copy it.
/// </para>
/// </remarks>
internal struct MailboxQueue<T>
{
    /// <summary>Slots of the first segment: 4, enough for a process that takes a message at a time (most) never to grow.</summary>
    public const int InitialLength = 4;

    /// <summary>
    /// The largest segment: 2^20 slots, as ConcurrentQueue. A backlog deeper than a segment chains new segments, each
    /// dropped once drained, so a mailbox whose backlog often passed a lower cap would allocate a segment per lap (capped
    /// at 16,384 slots, a flood of local casts allocated 29 B a cast, most of it in the large object heap, and ran at
    /// half speed). A ring that grew this far is given back by <see cref="Shrink"/> as the mailbox calms down.
    /// </summary>
    public const int MaxLength = 1 << 20;

    /// <summary>Set in a segment's <c>Tail</c> when it takes no more messages. Positions never come near it (2^62).</summary>
    private const long FrozenBit = 1L << 62;

    private Segment? _head;  // the oldest segment that may still hold messages; moved forward by consumers
    private Segment? _tail;  // the segment producers write to; moved forward by whoever links a successor

    /// <summary>True when no message is queued or being queued (a reserved slot whose message is still being written counts).</summary>
    public bool IsEmpty
    {
        get
        {
            // A reservation is visible in Tail before its message is written: a turn that re-checks after clearing its
            // Scheduled bit sees every producer that saw the bit set (see Mailbox.EndTurn).
            for (Segment? segment = Volatile.Read(ref _head); segment is not null; segment = Volatile.Read(ref segment.Next))
            {
                if (segment.Reserved != Volatile.Read(ref segment.Head))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>The messages queued now (a snapshot while producers or consumers run).</summary>
    public int Count
    {
        get
        {
            long count = 0;
            for (Segment? segment = Volatile.Read(ref _head); segment is not null; segment = Volatile.Read(ref segment.Next))
            {
                count += Math.Max(0, segment.Reserved - Volatile.Read(ref segment.Head));
            }

            return (int)Math.Min(count, int.MaxValue);
        }
    }

    /// <summary>The slots of the oldest segment (0 before the first message): what a drained queue holds on to.</summary>
    public int Capacity => Volatile.Read(ref _head)?.Slots.Length ?? 0;

    /// <summary>Positions between two samples (<see cref="Enqueue"/>): a power of two.</summary>
    public const int SampleEvery = 256;

    /// <summary>Queues <paramref name="item"/>. Lock-free; allocates only for the first message and when the ring is full.</summary>
    /// <returns>True for one message in <see cref="SampleEvery"/> (and the first of each segment): a caller that wants
    /// to watch the queue's depth looks at <see cref="Count"/> then, which no other message pays for.</returns>
    /// <remarks>The reservation is an <see cref="Interlocked.CompareExchange(ref long, long, long)"/>, a full fence: a
    /// read of the mailbox's status after this call cannot move ahead of the reservation.</remarks>
    public bool Enqueue(in T item)
    {
        Segment? tail = Volatile.Read(ref _tail);
        if (tail is not null)
        {
            long position = tail.TryEnqueue(in item);
            if (position >= 0)
            {
                return (position & (SampleEvery - 1)) == 0;
            }
        }
        EnqueueSlow(in item);
        return true;
    }

    /// <summary>Takes the oldest message, if any.</summary>
    public bool TryDequeue(out T item)
    {
        Segment? head = Volatile.Read(ref _head);
        while (head is not null)
        {
            if (head.TryDequeue(out item))
            {
                return true;
            }

            Segment? next = Volatile.Read(ref head.Next);
            if (next is null)
            {
                return false;
            }

            // A successor exists, so head is frozen and its positions final; our first look may predate the freeze,
            // so look once more before leaving it: an empty answer now means empty for good.
            if (head.TryDequeue(out item))
            {
                return true;
            }

            // Drained for good: move the head on. A racing consumer may have done it; the CAS only ever moves it forward.
            Interlocked.CompareExchange(ref _head, next, head);
            head = Volatile.Read(ref _head);
        }

        item = default!;
        return false;
    }

    /// <summary>
    /// Gives back room: the current segment is frozen and producers move on to a new one of <paramref name="length"/>
    /// slots; if the old one is already drained it is dropped now, otherwise once its last messages are taken.
    /// </summary>
    /// <remarks>For the regular consumer (the mailbox's turn), when it has just found the queue empty. Does nothing while
    /// more than one segment is in use (a backlog is still being worked off).</remarks>
    public void Shrink(int length)
    {
        Debug.Assert(length >= InitialLength && BitOperations.IsPow2(length));
        Segment? head = Volatile.Read(ref _head);
        if (head is null || head.Slots.Length <= length || !ReferenceEquals(head, Volatile.Read(ref _tail)))
        {
            return;
        }

        // Producers that reserved before the freeze write into head and are taken first; later ones go to the new one.
        Segment next = Grow(head, length);
        if (head.Reserved == Volatile.Read(ref head.Head))
        {
            // Frozen and drained: no message can arrive in it any more, so drop it now rather than on the next message.
            Interlocked.CompareExchange(ref _head, next, head);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnqueueSlow(in T item)
    {
        while (true)
        {
            Segment? tail = Volatile.Read(ref _tail);
            if (tail is null)
            {
                // The first message: install the first segment, head before tail, so that whoever finds a tail finds a
                // head too. Racing producers each make one; the losers' are dropped (only at the very first message).
                Interlocked.CompareExchange(ref _head, new Segment(InitialLength), null);
                Interlocked.CompareExchange(ref _tail, Volatile.Read(ref _head), null);
                continue;
            }

            if (tail.TryEnqueue(in item) >= 0)
            {
                return;
            }

            // Full (every slot still holds a message of the previous lap) or frozen: go on to a bigger successor.
            Grow(tail, Math.Min(tail.Slots.Length * 2, MaxLength));
        }
    }

    /// <summary>Freezes <paramref name="segment"/>, links a successor of <paramref name="length"/> slots if none is linked
    /// yet, and moves the tail to it.</summary>
    /// <returns>The successor.</returns>
    private Segment Grow(Segment segment, int length)
    {
        // Freeze before linking: once anybody can see the successor, no reservation in this segment can still succeed.
        Interlocked.Or(ref segment.Tail, FrozenBit);
        Segment? next = Volatile.Read(ref segment.Next);
        if (next is null)
        {
            // Two producers growing at once both allocate; the CAS keeps one and the other's is dropped (rare: it takes
            // a full ring and a race at the same moment).
            next = Interlocked.CompareExchange(ref segment.Next, new Segment(length), null) ?? segment.Next!;
        }

        // Whoever gets here first moves the tail; the others find it moved.
        Interlocked.CompareExchange(ref _tail, next, segment);
        return next;
    }

    /// <summary>One ring of slots.</summary>
    private sealed class Segment
    {
        public readonly Slot[] Slots;
        public long Head;  // the next position to take (consumers CAS it)
        public long Tail;  // the next position to reserve (producers CAS it), with FrozenBit once frozen
        public Segment? Next;

        public Segment(int length)
        {
            Debug.Assert(BitOperations.IsPow2(length));
            Slots = new Slot[length];
            for (int i = 0; i < Slots.Length; i++)
            {
                // Position i's producer waits for sequence i: every slot starts free for the first lap.
                Slots[i].Sequence = i;
            }
        }

        /// <summary>Positions reserved so far; final once frozen.</summary>
        public long Reserved => Volatile.Read(ref Tail) & ~FrozenBit;

        /// <summary>Queues <paramref name="item"/> at the next position, which it returns; -1 when full or frozen.</summary>
        public long TryEnqueue(in T item)
        {
            Slot[] slots = Slots;
            while (true)
            {
                long tail = Volatile.Read(ref Tail);
                if ((tail & FrozenBit) != 0)
                {
                    return -1;
                }

                ref Slot slot = ref slots[tail & (slots.Length - 1)];
                long diff = Volatile.Read(ref slot.Sequence) - tail;
                if (diff == 0)
                {
                    // Ours if the CAS wins; it fails if another producer took the position or the segment was frozen
                    // (FrozenBit changes Tail), so nothing is ever written into a frozen segment's unreserved slots.
                    if (Interlocked.CompareExchange(ref Tail, tail + 1, tail) == tail)
                    {
                        slot.Item = item;
                        // Release: the consumer that reads tail + 1 here reads the item written above.
                        Volatile.Write(ref slot.Sequence, tail + 1);
                        return tail;
                    }
                }
                else if (diff < 0)
                {
                    // The slot still holds the previous lap's message: the ring is full.
                    return -1;
                }

                // diff > 0, or a lost CAS: another producer took this position; retry at the new tail.
            }
        }

        public bool TryDequeue(out T item)
        {
            Slot[] slots = Slots;
            SpinWait spinner = default;
            while (true)
            {
                long head = Volatile.Read(ref Head);
                ref Slot slot = ref slots[head & (slots.Length - 1)];
                long diff = Volatile.Read(ref slot.Sequence) - (head + 1);
                if (diff == 0)
                {
                    if (Interlocked.CompareExchange(ref Head, head + 1, head) == head)
                    {
                        item = slot.Item;
                        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
                        {
                            // A taken message must not be kept alive by its slot until the next lap.
                            slot.Item = default!;
                        }

                        // Release: the slot is free for the producer of the next lap (position head + length).
                        Volatile.Write(ref slot.Sequence, head + slots.Length);
                        return true;
                    }
                }
                else if (diff < 0)
                {
                    if (Reserved - head <= 0)
                    {
                        item = default!;
                        return false;
                    }

                    // Reserved but not yet written: a producer is between its CAS and its write, a few instructions.
                    // Wait for it (as ConcurrentQueue does) rather than skip it, which would break FIFO order.
                    spinner.SpinOnce(sleep1Threshold: -1);
                }

                // diff > 0: another consumer took it; retry at the new head.
            }
        }
    }

    private struct Slot
    {
        public T Item;
        public long Sequence;
    }
}
