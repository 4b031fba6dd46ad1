namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class MailboxTests
{
    [Fact]
    public void Post_ManyToIdleMailbox_SchedulesOnce()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(PostResult.Accepted, mailbox.Post(Cast(i)));
        }

        Assert.Equal(1, scheduler.Pending);
        scheduler.RunAll();
        Assert.Equal(["u0", "u1", "u2", "u3", "u4"], mailbox.Log);
        Assert.Equal(0, scheduler.Pending);
    }

    [Fact]
    public void RunTurn_SystemAndUserQueued_SystemFirstInPostingOrder()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);
        mailbox.Post(Cast(0));
        mailbox.Post(Cast(1));
        mailbox.PostSystem(new TestSignal("s0"));
        mailbox.PostSystem(new TestSignal("s1"));

        scheduler.RunAll();

        Assert.Equal(["s0", "s1", "u0", "u1"], mailbox.Log);
    }

    [Fact]
    public void RunTurn_SystemPostedDuringHandler_RunsBeforeNextUserMessage()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);
        mailbox.OnUser = n => { if (n == 0) { mailbox.PostSystem(new TestSignal("s")); } };
        mailbox.Post(Cast(0));
        mailbox.Post(Cast(1));

        scheduler.RunAll();

        Assert.Equal(["u0", "s", "u1"], mailbox.Log);
    }

    [Fact]
    public void RunTurn_MoreThanThroughput_YieldsAndReschedules()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler, throughput: 2);
        for (int i = 0; i < 5; i++)
        {
            mailbox.Post(Cast(i));
        }

        Assert.True(scheduler.RunOne());
        Assert.Equal(2, mailbox.Log.Count);
        Assert.Equal(1, scheduler.Pending);

        Assert.Equal(2, scheduler.RunAll());
        Assert.Equal(5, mailbox.Log.Count);
    }

    [Fact]
    public void RunTurn_IncompleteHandler_KeepsMailboxBusyUntilItCompletes()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);
        var gate = new TaskCompletionSource();
        mailbox.Pending = n => n == 0 ? gate.Task : null;
        mailbox.Post(Cast(0));
        mailbox.Post(Cast(1));

        scheduler.RunAll();
        mailbox.Post(Cast(2));

        // Busy: nothing else ran, and posting did not schedule a second turn.
        Assert.Equal(["u0"], mailbox.Log);
        Assert.Equal(0, scheduler.Pending);

        gate.SetResult();
        Assert.True(SpinWait.SpinUntil(() => scheduler.Pending == 1, Bounded.Wait));
        scheduler.RunAll();
        Assert.Equal(["u0", "u1", "u2"], mailbox.Log);
    }

    [Fact]
    public void RunTurn_IncompleteSystemHandler_KeepsLaterSystemMessagesInOrder()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);
        var gate = new TaskCompletionSource();
        mailbox.PendingSystem = name => name == "s0" ? gate.Task : null;
        mailbox.PostSystem(new TestSignal("s0"));
        mailbox.PostSystem(new TestSignal("s1"));
        mailbox.Post(Cast(0));

        scheduler.RunAll();
        mailbox.PostSystem(new TestSignal("s2"));
        Assert.Equal(["s0"], mailbox.Log);

        gate.SetResult();
        Assert.True(SpinWait.SpinUntil(() => scheduler.Pending == 1, Bounded.Wait));
        scheduler.RunAll();
        Assert.Equal(["s0", "s1", "s2", "u0"], mailbox.Log);
    }

    [Fact]
    public void Close_WithQueuedMessages_RejectsThemAndLaterPosts()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);
        mailbox.Post(Cast(0));
        mailbox.PostSystem(new TestSignal("s"));

        mailbox.Close();

        Assert.True(mailbox.IsClosed);
        Assert.Equal(["rejected u0", "rejected s"], mailbox.Log);
        Assert.Equal(PostResult.Closed, mailbox.Post(Cast(1)));
        Assert.False(mailbox.PostSystem(new TestSignal("s2")));
        Assert.Contains("rejected s2", mailbox.Log);
        scheduler.RunAll();
        Assert.DoesNotContain("u0", mailbox.Log);
    }

    [Fact]
    public void Close_DuringTurn_StopsDeliveryAndDoesNotReschedule()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);
        mailbox.OnUser = n => { if (n == 0) { mailbox.Close(); } };
        mailbox.Post(Cast(0));
        mailbox.Post(Cast(1));

        scheduler.RunAll();

        Assert.Equal(["u0", "rejected u1"], mailbox.Log);
        Assert.Equal(0, scheduler.Pending);
    }

    [Fact]
    public void Post_BoundedRejectFull_ReturnsFullUntilDrained()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler, capacity: 2, overflow: MailboxOverflow.Reject);

        Assert.Equal(PostResult.Accepted, mailbox.Post(Cast(0)));
        Assert.Equal(PostResult.Accepted, mailbox.Post(Cast(1)));
        Assert.Equal(PostResult.Full, mailbox.Post(Cast(2)));
        Assert.Equal(2, mailbox.Count);

        scheduler.RunAll();
        Assert.Equal(0, mailbox.Count);
        Assert.Equal(PostResult.Accepted, mailbox.Post(Cast(3)));
        Assert.Equal(0, mailbox.DeadLetters);
    }

    [Fact]
    public void Post_BoundedDropNewestFull_DropsAndCountsDeadLetter()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler, capacity: 1, overflow: MailboxOverflow.DropNewest);

        Assert.Equal(PostResult.Accepted, mailbox.Post(Cast(0)));
        Assert.Equal(PostResult.Dropped, mailbox.Post(Cast(1)));
        Assert.Equal(PostResult.Dropped, mailbox.Post(Cast(2)));

        scheduler.RunAll();
        Assert.Equal(["u0"], mailbox.Log);
        Assert.Equal(2, mailbox.DeadLetters);
    }

    [Fact]
    public void Post_SystemMessagesOnFullBoundedMailbox_StillAccepted()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler, capacity: 1, overflow: MailboxOverflow.Reject);
        mailbox.Post(Cast(0));

        Assert.True(mailbox.PostSystem(new TestSignal("stop")));
        scheduler.RunAll();
        Assert.Equal(["stop", "u0"], mailbox.Log);
    }

    [Fact]
    public void Post_BoundedBeyondTheFirstRing_AcceptsUpToCapacityInOrder()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler, capacity: 10, overflow: MailboxOverflow.Reject);

        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(PostResult.Accepted, mailbox.Post(Cast(i)));
        }

        Assert.Equal(PostResult.Full, mailbox.Post(Cast(10)));
        Assert.Equal(10, mailbox.Count);
        scheduler.RunAll();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"u{i}"), mailbox.Log);
        Assert.Equal(PostResult.Accepted, mailbox.Post(Cast(11)));
    }

    [Fact]
    public void Post_NeverPosted_HoldsNoQueue()
    {
        var mailbox = new RecordingMailbox(new ManualScheduler());

        Assert.Equal(0, mailbox.QueueCapacity);
        Assert.Equal(0, mailbox.Count);
    }

    [Fact]
    public void RunTurn_LightBusyPeriodsAfterABacklog_GiveTheRingBackInOrder()
    {
        var scheduler = new ManualScheduler();
        var mailbox = new RecordingMailbox(scheduler);
        for (int i = 0; i < 1000; i++)
        {
            mailbox.Post(Cast(i));
        }

        scheduler.RunAll();
        int capacity = mailbox.QueueCapacity;
        Assert.Equal(512, capacity);

        // One message per busy period: each is light, and every LightPeriodsBeforeShrink of them halve the ring, 512 to 4
        // in seven steps. (The first period also counts the backlog: its last turn ended on its budget, not on an empty
        // queue, so one more period is allowed.)
        int n = 1000;
        for (int period = 0; period < 8 * Mailbox.LightPeriodsBeforeShrink; period++)
        {
            mailbox.Post(Cast(n++));
            scheduler.RunAll();
            Assert.True(mailbox.QueueCapacity <= capacity);
            capacity = mailbox.QueueCapacity;
        }

        Assert.Equal(MailboxQueue<Envelope>.InitialLength, mailbox.QueueCapacity);
        Assert.Equal(Enumerable.Range(0, n).Select(i => $"u{i}"), mailbox.Log);
    }

    [Fact]
    public void RunTurn_RepeatedBurstsThatFillTheRing_KeepItAndAllocateNothing()
    {
        var mailbox = new CountingMailbox();
        var envelope = Cast(1);
        for (int round = 0; round < 3 * Mailbox.LightPeriodsBeforeShrink; round++)
        {
            Burst(mailbox, envelope);
        }

        int capacity = mailbox.QueueCapacity;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 3 * Mailbox.LightPeriodsBeforeShrink; round++)
        {
            Burst(mailbox, envelope);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(capacity, mailbox.QueueCapacity);
        Assert.Equal(6 * Mailbox.LightPeriodsBeforeShrink * 1000, mailbox.Handled);

        static void Burst(CountingMailbox mailbox, Envelope envelope)
        {
            for (int i = 0; i < 1000; i++)
            {
                mailbox.Post(envelope);
            }

            mailbox.RunTurn();
        }
    }

    [Fact]
    public async Task Post_ManyProducersOnThreadPool_LoseNothingKeepOrderNeverOverlap()
    {
        const int Producers = 4;
        const int PerProducer = 50_000;
        var mailbox = new OrderCheckingMailbox(Producers);
        using var barrier = new Barrier(Producers);

        Task[] producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            barrier.SignalAndWait(Bounded.Wait);
            for (int i = 0; i < PerProducer; i++)
            {
                Assert.Equal(PostResult.Accepted, mailbox.Post(new Envelope(EnvelopeKind.Cast, Value.Array(p, i), null, 0)));
            }
        })).ToArray();
        await Task.WhenAll(producers).Within();
        await mailbox.WaitForAsync(Producers * PerProducer).Within();

        Assert.Equal(0, mailbox.OrderViolations);
        Assert.Equal(1, mailbox.MaxConcurrent);
    }

    [Fact]
    public async Task Post_RacingWithClose_EveryQueuedMessageIsDeliveredOrRejectedExactlyOnce()
    {
        const int Producers = 4;
        for (int round = 0; round < 20; round++)
        {
            var mailbox = new ClosingMailbox(closeAfter: 5_000);
            using var barrier = new Barrier(Producers);
            int[] results = new int[4];
            Task[] producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
            {
                barrier.SignalAndWait(Bounded.Wait);
                for (int i = 0; i < 5_000; i++)
                {
                    Interlocked.Increment(ref results[(int)mailbox.Post(new Envelope(EnvelopeKind.Cast, i, null, 0))]);
                }
            })).ToArray();
            await Task.WhenAll(producers).Within();
            Assert.True(SpinWait.SpinUntil(() => mailbox.IsClosed, Bounded.Wait));

            long queued = results[(int)PostResult.Accepted] + results[(int)PostResult.Rejected];
            Assert.True(SpinWait.SpinUntil(() => mailbox.Delivered + mailbox.RejectedCount == queued, Bounded.Wait), $"queued {queued}, delivered {mailbox.Delivered}, rejected {mailbox.RejectedCount}");
        }
    }

    private static Envelope Cast(int n) => new(EnvelopeKind.Cast, n, null, 0);

    /// <summary>Counts deliveries; its scheduler does nothing, the test runs each turn itself (as MailboxBenchmarks does).</summary>
    private sealed class CountingMailbox() : Mailbox(NullScheduler.Instance, int.MaxValue, 0, MailboxOverflow.Reject)
    {
        public long Handled { get; private set; }

        protected override ValueTask InvokeUserAsync(in Envelope envelope)
        {
            Handled++;
            return default;
        }

        protected override ValueTask InvokeSystemAsync(SystemMessage message) => default;

        protected override void OnRejected(in Envelope envelope)
        {
        }

        protected override void OnRejectedSystem(SystemMessage message)
        {
        }

        private sealed class NullScheduler : IMailboxScheduler
        {
            public static readonly NullScheduler Instance = new();

            public void Schedule(Mailbox mailbox)
            {
            }
        }
    }

    /// <summary>Closes itself from a handler after a number of messages, while producers keep posting.</summary>
    private sealed class ClosingMailbox(int closeAfter) : Mailbox(ThreadPoolMailboxScheduler.Instance, Mailbox.DefaultThroughput, 0, MailboxOverflow.Reject)
    {
        private long _delivered;
        private long _rejected;

        public long Delivered => Interlocked.Read(ref _delivered);

        public long RejectedCount => Interlocked.Read(ref _rejected);

        protected override ValueTask InvokeUserAsync(in Envelope envelope)
        {
            if (Interlocked.Increment(ref _delivered) == closeAfter)
            {
                Close();
            }

            return default;
        }

        protected override ValueTask InvokeSystemAsync(SystemMessage message) => default;

        protected override void OnRejected(in Envelope envelope) => Interlocked.Increment(ref _rejected);

        protected override void OnRejectedSystem(SystemMessage message)
        {
        }
    }

    private sealed class TestSignal(string name) : SystemMessage
    {
        public string Name { get; } = name;
    }

    /// <summary>A mailbox that logs what it delivers, with hooks to make handlers pending or act mid-turn.</summary>
    private sealed class RecordingMailbox(IMailboxScheduler scheduler, int throughput = 100, int capacity = 0, MailboxOverflow overflow = MailboxOverflow.Reject)
        : Mailbox(scheduler, throughput, capacity, overflow)
    {
        public List<string> Log { get; } = [];

        public Action<long>? OnUser { get; set; }

        public Func<long, Task?>? Pending { get; set; }

        public Func<string, Task?>? PendingSystem { get; set; }

        protected override ValueTask InvokeUserAsync(in Envelope envelope)
        {
            long n = envelope.Message.AsInt64();
            Log.Add($"u{n}");
            OnUser?.Invoke(n);
            return Pending?.Invoke(n) is { } task ? new ValueTask(task) : default;
        }

        protected override ValueTask InvokeSystemAsync(SystemMessage message)
        {
            string name = ((TestSignal)message).Name;
            Log.Add(name);
            return PendingSystem?.Invoke(name) is { } task ? new ValueTask(task) : default;
        }

        protected override void OnRejected(in Envelope envelope) => Log.Add($"rejected u{envelope.Message.AsInt64()}");

        protected override void OnRejectedSystem(SystemMessage message) => Log.Add($"rejected {((TestSignal)message).Name}");
    }

    /// <summary>Checks that each producer's messages arrive in order and that handlers never overlap.</summary>
    private sealed class OrderCheckingMailbox(int producers) : Mailbox(ThreadPoolMailboxScheduler.Instance, Mailbox.DefaultThroughput, 0, MailboxOverflow.Reject)
    {
        private readonly long[] _next = new long[producers];
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _received;
        private long _expected = long.MaxValue;
        private int _inside;

        public int OrderViolations { get; private set; }

        public int MaxConcurrent { get; private set; }

        public Task WaitForAsync(long count)
        {
            Volatile.Write(ref _expected, count);
            if (Volatile.Read(ref _received) >= count)
            {
                _done.TrySetResult();
            }

            return _done.Task;
        }

        protected override ValueTask InvokeUserAsync(in Envelope envelope)
        {
            int inside = Interlocked.Increment(ref _inside);
            MaxConcurrent = Math.Max(MaxConcurrent, inside);
            int producer = (int)envelope.Message[0].AsInt64();
            long seq = envelope.Message[1].AsInt64();
            if (seq != _next[producer])
            {
                OrderViolations++;
            }

            _next[producer] = seq + 1;
            Interlocked.Decrement(ref _inside);
            if (Interlocked.Increment(ref _received) >= Volatile.Read(ref _expected))
            {
                _done.TrySetResult();
            }

            return default;
        }

        protected override ValueTask InvokeSystemAsync(SystemMessage message) => default;

        protected override void OnRejected(in Envelope envelope)
        {
        }

        protected override void OnRejectedSystem(SystemMessage message)
        {
        }
    }
}
