using System.Collections.Concurrent;

namespace Noex.Lite;

/// <summary>
/// Hands remote replies to their callers in batches: the read loop queues each reply here, and one thread-pool work item
/// completes every reply that has accumulated, running the callers' continuations inline, one after another.
/// </summary>
/// <remarks>
/// <para>
/// Completing each waiter on its own (continuations queued asynchronously) puts one work item per reply on the thread
/// pool: with 100 calls in flight, a read of 100 replies woke workers for 100 items, and the profile of the remote
/// benchmark was dominated by thread switches and the pool's spinning, not by the calls. Here a read of 100 replies costs
/// one work item. The read loop itself never runs callers' code, so a slow continuation cannot stall the connection; it
/// only delays the replies behind it in the same batch.
/// </para>
/// <para>Allocation-free once warm: the queue is a ring that is reused, and the dispatcher is its own work item.</para>
/// </remarks>
internal sealed class ReplyDispatcher : IThreadPoolWorkItem
{
    private readonly ConcurrentQueue<Completion> _replies = new();
    private int _scheduled;

    /// <summary>Queues a reply for <paramref name="waiter"/>'s call <paramref name="token"/>.</summary>
    public void Post(CallWaiter waiter, long token, Value reply)
    {
        _replies.Enqueue(new Completion(waiter, token, reply));
        // The first reply after the dispatcher went idle schedules it; later ones ride along.
        if (Volatile.Read(ref _scheduled) == 0 && Interlocked.Exchange(ref _scheduled, 1) == 0)
        {
            // The local queue of the read loop's worker: it runs the batch as soon as the read loop awaits its next
            // receive, after every reply of that read has been queued, and usually without waking another thread.
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        }
    }

    public void Execute()
    {
        while (true)
        {
            while (_replies.TryDequeue(out var completion))
            {
                completion.Waiter.TryCompleteInline(completion.Token, completion.Reply);
            }
            // Go idle, then look again: a reply queued between the last TryDequeue and this store saw the flag still set
            // and left the work to us.
            Volatile.Write(ref _scheduled, 0);
            Interlocked.MemoryBarrier();
            if (_replies.IsEmpty || Interlocked.Exchange(ref _scheduled, 1) != 0)
            {
                return;
            }
        }
    }

    private readonly record struct Completion(CallWaiter Waiter, long Token, Value Reply);
}
