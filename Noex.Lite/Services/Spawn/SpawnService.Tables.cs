namespace Noex.Lite;

/// <summary>SpawnService: the caller's and the callee's tables (protocol.md §5.3, no orphans).</summary>
internal sealed partial class SpawnService
{
    // ---- tables -----------------------------------------------------------------------------------

    /// <summary>
    /// A spawn or stop this node waits on. Whoever takes it out of its table completes it, once: the answer or the
    /// connection's close (which then call <see cref="Complete"/> or <see cref="Fail"/>), its timer, or the caller's
    /// cancellation.
    /// </summary>
    private sealed class Pending<T>(long id, Connection connection, RequestTable<Pending<T>> table) : IPendingRequest
    {
        private ITimer? _timer;
        private CancellationTokenRegistration _cancellation;
        private Action? _onGiveUp;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Connection Connection => connection;

        /// <summary>Never true while the entry is in its table (it leaves before it completes): nothing for a sweep.</summary>
        public bool IsFinished => Completion.Task.IsCompleted;

        public string? Behavior { get; init; }

        public ProcessRef Target { get; init; }

        /// <summary>Starts the timeout and the caller's cancellation; <paramref name="onGiveUp"/> runs when either ends it.</summary>
        public void Arm(TimeProvider time, TimeSpan timeout, Func<Exception> timeoutError, Action? onGiveUp, CancellationToken cancellationToken)
        {
            _onGiveUp = onGiveUp;
            _timer = time.CreateTimer(static s =>
            {
                var (self, error) = ((Pending<T>, Func<Exception>))s!;
                if (self.TryTake())
                {
                    self._onGiveUp?.Invoke();
                    self.Completion.TrySetException(error());
                }
            }, (this, timeoutError), timeout, Timeout.InfiniteTimeSpan);
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.Register(static s =>
                {
                    var (self, token) = ((Pending<T>, CancellationToken))s!;
                    if (self.TryTake())
                    {
                        self._onGiveUp?.Invoke();
                        self.Completion.TrySetCanceled(token);
                    }
                }, (this, cancellationToken));
            }
        }

        /// <summary>Takes the entry out of its table and fails it; false when something else took it first.</summary>
        public bool TryFail(Exception error)
        {
            if (!TryTake())
            {
                return false;
            }
            Completion.TrySetException(error);
            return true;
        }

        /// <summary>Completes an entry already taken out of its table with its answer.</summary>
        public void Complete(T result)
        {
            Release();
            Completion.TrySetResult(result);
        }

        /// <summary>Fails an entry already taken out of its table.</summary>
        public void Fail(Exception error)
        {
            Release();
            Completion.TrySetException(error);
        }

        private bool TryTake()
        {
            // Request ids are never reused, so whatever the table holds under this id is this entry.
            if (!table.TryTake(id, out _))
            {
                return false;
            }
            Release();
            return true;
        }

        private void Release()
        {
            _timer?.Dispose();
            // Unregister, not Dispose: this may run inside the cancellation callback itself.
            _cancellation.Unregister();
        }
    }

    /// <summary>A spawn this node runs for a peer, kept until the peer acknowledges or cancels it.</summary>
    private sealed class Incoming(Connection connection, long id)
    {
        private int _finished;

        public Connection Connection => connection;

        public long Id => id;

        /// <summary>Cancels the start (the caller gave up, the deadline passed or the connection closed): the runtime kills the process.</summary>
        public CancellationTokenSource Abandon { get; } = new();

        // Written under the entry's lock.
        public bool Cancelled;
        public ProcessRef Spawned;
        public long RepliedAt;

        public void CancelStart()
        {
            if (Volatile.Read(ref _finished) == 0)
            {
                // Asynchronously: the read loop that delivered the cancel must not run the runtime's kill.
                _ = Abandon.CancelAsync();
            }
        }

        /// <summary>The start is over: release the deadline's timer (called once, before the entry can be seen as replied).</summary>
        public void Finish()
        {
            if (Interlocked.Exchange(ref _finished, 1) == 0)
            {
                lock (this)
                {
                    // A cancelled source has released its timer already, and its callbacks may still be running.
                    if (!Abandon.IsCancellationRequested)
                    {
                        Abandon.Dispose();
                    }
                }
            }
        }
    }
}
