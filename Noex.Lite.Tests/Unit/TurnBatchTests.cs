namespace Noex.Lite.Tests;

/// <summary>
/// <see cref="TurnBatch"/>: what one read set off runs exactly once, however many runners share the batch, and a blocked
/// item does not hold the items behind it once the batch is shared (the watchdog's move).
/// </summary>
[Trait("Category", Category.Unit)]
public sealed class TurnBatchTests
{
    /// <summary>A mailbox that counts the messages it handled; a message with the value true blocks until the gate opens.</summary>
    private sealed class CountingMailbox(IMailboxScheduler scheduler, ManualResetEventSlim? gate = null)
        : Mailbox(scheduler, Mailbox.DefaultThroughput, 0, MailboxOverflow.Reject)
    {
        private int _handled;

        public int Handled => Volatile.Read(ref _handled);

        protected override ValueTask InvokeUserAsync(in Envelope envelope)
        {
            if (envelope.Message.Kind == ValueKind.Bool && envelope.Message.AsBoolean())
            {
                gate!.Wait(TimeSpan.FromSeconds(30));
            }
            Interlocked.Increment(ref _handled);
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

    /// <summary>Stands in for a read thread: every turn asked for joins the batch being filled.</summary>
    private sealed class Gathering(TurnBatch batch) : IMailboxScheduler
    {
        public void Schedule(Mailbox mailbox) => batch.AddTurn(mailbox);
    }

    private static List<CountingMailbox> Fill(TurnBatch batch, int count, Func<int, Value> message, ManualResetEventSlim? gate = null)
    {
        var scheduler = new Gathering(batch);
        var mailboxes = new List<CountingMailbox>();
        for (var i = 0; i < count; i++)
        {
            var mailbox = new CountingMailbox(scheduler, gate);
            Assert.Equal(PostResult.Accepted, mailbox.Post(new Envelope(EnvelopeKind.Cast, message(i), null, 0)));
            mailboxes.Add(mailbox);
        }
        return mailboxes;
    }

    [Fact]
    public async Task EveryItemRunsExactlyOnce_WhileRunnersShareTheBatch()
    {
        for (var round = 0; round < 20; round++)
        {
            var batch = TurnBatch.Rent();
            var mailboxes = Fill(batch, 2_000, i => i);
            Assert.Equal(2_000, batch.Count);

            batch.Queue();
            // More runners join while the first works: each claims what is left, none runs an item twice.
            for (var i = 0; i < 4; i++)
            {
                batch.TryShare();
            }

            await Wait.UntilAsync(() => mailboxes.All(m => m.Handled > 0));
            Assert.All(mailboxes, m => Assert.Equal(1, m.Handled));
        }
    }

    [Fact]
    public async Task AnItemThatBlocks_HoldsOnlyItself_OnceTheBatchIsShared()
    {
        using var gate = new ManualResetEventSlim();
        var batch = TurnBatch.Rent();
        // The first turn blocks until the gate opens, which happens only once all the others have run.
        var mailboxes = Fill(batch, 50, i => i == 0 ? Value.FromBoolean(true) : (Value)i, gate);

        batch.Queue();
        // Without anybody sharing, the rest waits behind the blocked turn; the watchdog shares a runner stuck for 20 ms,
        // and does so here on its own.
        await Wait.UntilAsync(() => mailboxes.Skip(1).All(m => m.Handled == 1));
        gate.Set();
        await Wait.UntilAsync(() => mailboxes[0].Handled == 1);
    }

    [Fact]
    public async Task ABatchWhoseRunnersLeft_IsPooledEmpty_AndSharingItThenDoesNothing()
    {
        var batch = TurnBatch.Rent();
        var mailboxes = Fill(batch, 3, i => i);
        batch.Queue();
        await Wait.UntilAsync(() => mailboxes.All(m => m.Handled == 1));

        // The last runner leaving empties the batch: a late share (a watchdog that looked just before) queues nothing.
        await Wait.UntilAsync(() => batch.Count == 0);
        Assert.False(batch.TryShare());
    }
}
