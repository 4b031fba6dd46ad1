using System.Diagnostics;

namespace Noex.Lite;

/// <summary>
/// What one read set off: the turns of the processes it woke and the completions of the calls it answered, run by the read
/// thread after the read (see <see cref="ReadThreadScheduler"/>), and shared with the thread pool when they take long.
/// </summary>
/// <remarks>
/// <para>
/// Items are claimed one at a time by an interlocked index, so more than one runner can work through a batch: a runner
/// that has been busy for <see cref="ShareAfterTicks"/> with items left queues the batch on the pool for another thread to
/// share (a slow handler does not hold the turns behind it), and the <see cref="RunnerWatchdog"/> does the same for a
/// runner stuck in one item (a continuation that blocks cannot deadlock on a completion queued behind it).
/// <c>_runners</c> counts the queued and running runners; the last to leave returns the batch to the pool.
/// </para>
/// </remarks>
internal sealed class TurnBatch : IThreadPoolWorkItem
{
    /// <summary>How long a runner works through a batch alone before it shares the rest: long enough that a batch of
    /// completions (under a microsecond each) never pays for a second runner, short enough that turns behind a slow
    /// handler wait no longer than a thread-pool hop would have made them.</summary>
    public static readonly long ShareAfterTicks = Stopwatch.Frequency / 5_000; // 200 µs

    private const int MaxPooled = 256;
    private static readonly Stack<TurnBatch> s_pool = new();

    private Item[] _items = new Item[16];
    private int _count;    // written by the filler before the batch is queued, read by runners after
    private int _claimed;  // the next index to claim
    private int _runners;  // runners queued or running; 0 while the batch is pooled or being filled

    /// <summary>The items added and not yet queued (the filler's view).</summary>
    public int Count => _count;

    /// <summary>A batch to fill: a pooled one, or a new one.</summary>
    public static TurnBatch Rent()
    {
        lock (s_pool)
        {
            if (s_pool.TryPop(out var batch))
            {
                return batch;
            }
        }
        return new TurnBatch();
    }

    /// <summary>Adds a process's turn.</summary>
    public void AddTurn(Mailbox mailbox) => Add(new Item(mailbox, 0, default));

    /// <summary>Adds a call's completion: its caller continues on the runner.</summary>
    public void AddCompletion(CallWaiter waiter, long token, Value reply) => Add(new Item(waiter, token, reply));

    /// <summary>Hands the filled batch to the thread pool as its first runner, for tests of what runners share.</summary>
    internal void Queue()
    {
        Debug.Assert(_count > 0 && _runners == 0);
        Volatile.Write(ref _runners, 1);
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <summary>Queues one more runner for the items left, unless the batch has no runner left (it is done, pooled or
    /// being filled again: then there is nothing to share). Called by a runner of this batch or by the watchdog.</summary>
    public bool TryShare()
    {
        int runners;
        do
        {
            runners = Volatile.Read(ref _runners);
            if (runners == 0 || Volatile.Read(ref _claimed) >= Volatile.Read(ref _count))
            {
                return false;
            }
        }
        while (Interlocked.CompareExchange(ref _runners, runners + 1, runners) != runners);
        // A batch recycled and refilled between the reads above and the increment gains a runner it did not need: it
        // claims what is left, or nothing, and leaves. Every item still runs exactly once.
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        return true;
    }

    /// <summary>Runs claimed items until none is left; called by the thread pool for a shared batch.</summary>
    public void Execute()
    {
        var runner = ReadThreadScheduler.EnterRunner(this);
        try
        {
            RunClaimed(runner);
        }
        finally
        {
            ReadThreadScheduler.LeaveRunner(runner);
            Release();
        }
    }

    /// <summary>Runs the filled batch on the read thread that filled it, which is its first runner; the batch goes back
    /// to the pool when its last runner leaves, so the read thread rents a new one afterwards.</summary>
    public void RunOn(ReadThreadScheduler reader)
    {
        Debug.Assert(_count > 0 && _runners == 0);
        Volatile.Write(ref _runners, 1);
        try
        {
            RunClaimed(reader);
        }
        finally
        {
            Release();
        }
    }

    private void RunClaimed(ReadThreadScheduler runner)
    {
        var sharedAt = Stopwatch.GetTimestamp();
        var count = Volatile.Read(ref _count);
        int index;
        while ((index = Interlocked.Increment(ref _claimed) - 1) < count)
        {
            runner.BeginItem();
            var item = _items[index];
            _items[index] = default; // the batch is reused: drop the references now
            if (item.Target is Mailbox mailbox)
            {
                mailbox.RunTurn();
            }
            else
            {
                // The caller continues here. Blocking holds this item only: the watchdog shares what is left.
                ((CallWaiter)item.Target!).TryComplete(item.Token, item.Reply, inline: true);
            }
            if (index + 1 < count && Stopwatch.GetTimestamp() - sharedAt > ShareAfterTicks)
            {
                TryShare();
                sharedAt = Stopwatch.GetTimestamp();
            }
        }
        runner.EndItems();
    }

    private void Add(in Item item)
    {
        if (_count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }
        _items[_count++] = item;
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _runners) != 0)
        {
            return;
        }
        _count = 0;
        _claimed = 0;
        lock (s_pool)
        {
            if (s_pool.Count < MaxPooled)
            {
                s_pool.Push(this);
            }
        }
    }

    private readonly struct Item(object target, long token, Value reply)
    {
        public readonly object? Target = target;
        public readonly long Token = token;
        public readonly Value Reply = reply;
    }
}
