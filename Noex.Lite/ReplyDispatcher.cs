using System.Collections.Concurrent;

namespace Noex.Lite;

/// <summary>
/// Hands remote replies to their callers in batches: the read loop queues each reply here, and a thread-pool work item
/// completes the replies that have accumulated, running the callers' continuations inline, one after another.
/// </summary>
/// <remarks>
/// <para>
/// Completing each waiter on its own (continuations queued asynchronously) puts one work item per reply on the thread
/// pool: with 100 calls in flight, a read of 100 replies woke workers for 100 items, and the profile of the remote
/// benchmark was dominated by thread switches and the pool's spinning, not by the calls. Here a read of 100 replies costs
/// one work item, or a few: a lane that still sees replies waiting after every <see cref="FanOut"/> of them wakes the next
/// idle lane (up to one per core), so that callers' continuations still spread over the cores when there are many.
/// </para>
/// <para>
/// The read loop never runs callers' code, so a slow continuation cannot stall a connection; it delays the replies behind
/// it in its lane until the next lane takes them. Allocation-free once warm: the queue is a reused ring, the lanes are
/// their own work items.
/// </para>
/// </remarks>
internal sealed class ReplyDispatcher
{
    /// <summary>Replies a lane completes before it checks whether another lane should help.</summary>
    public const int FanOut = 16;

    private readonly ConcurrentQueue<Completion> _replies = new();
    private readonly Lane[] _lanes;

    public ReplyDispatcher()
    {
        _lanes = new Lane[Math.Max(1, Environment.ProcessorCount)];
        for (var i = 0; i < _lanes.Length; i++)
        {
            _lanes[i] = new Lane(this, i);
        }
    }

    /// <summary>Queues a reply for <paramref name="waiter"/>'s call <paramref name="token"/>.</summary>
    public void Post(CallWaiter waiter, long token, Value reply)
    {
        _replies.Enqueue(new Completion(waiter, token, reply));
        // The local queue of the read loop's worker: the batch runs as soon as the read loop awaits its next receive, after
        // every reply of that read has been queued, and usually without waking another thread.
        _lanes[0].TrySchedule(preferLocal: true);
    }

    private void Spread(int from)
    {
        for (var i = from + 1; i < _lanes.Length; i++)
        {
            if (_lanes[i].TrySchedule(preferLocal: false))
            {
                return;
            }
        }
    }

    private sealed class Lane(ReplyDispatcher owner, int index) : IThreadPoolWorkItem
    {
        private int _scheduled;

        public bool TrySchedule(bool preferLocal)
        {
            // Only the caller that moves the flag from 0 to 1 queues the lane, so it is on the pool at most once.
            if (Volatile.Read(ref _scheduled) != 0 || Interlocked.Exchange(ref _scheduled, 1) != 0)
            {
                return false;
            }
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal);
            return true;
        }

        public void Execute()
        {
            var replies = owner._replies;
            while (true)
            {
                var done = 0;
                while (replies.TryDequeue(out var completion))
                {
                    if (++done % FanOut == 0 && !replies.IsEmpty)
                    {
                        owner.Spread(index);
                    }
                    completion.Waiter.TryCompleteInline(completion.Token, completion.Reply);
                }
                // Go idle, then look again: a reply queued between the last TryDequeue and this store found the flag set and
                // left the work to us.
                Volatile.Write(ref _scheduled, 0);
                Interlocked.MemoryBarrier();
                if (replies.IsEmpty || Interlocked.Exchange(ref _scheduled, 1) != 0)
                {
                    return;
                }
            }
        }
    }

    private readonly record struct Completion(CallWaiter Waiter, long Token, Value Reply);
}
