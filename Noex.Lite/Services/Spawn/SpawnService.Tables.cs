using System.Collections.Concurrent;

namespace Noex.Lite;

/// <summary>SpawnService: the caller's and the callee's tables (protocol.md §5.3, no orphans).</summary>
internal sealed partial class SpawnService
{
    // ---- tables -----------------------------------------------------------------------------------

    /// <summary>A spawn or stop this node waits on; its removal from its table decides who completes it.</summary>
    private sealed class Pending<T>(long id, Connection connection, ConcurrentDictionary<long, Pending<T>> table)
    {
        private ITimer? _timer;
        private CancellationTokenRegistration _cancellation;
        private Action? _onGiveUp;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Connection Connection => connection;

        public string? Behavior { get; init; }

        public TimeSpan InitTimeout { get; init; }

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

        public bool TryComplete(T result) => TryTake() && Completion.TrySetResult(result);

        /// <summary>Fails the entry with <paramref name="error"/>; null completes it with the default result (a stop that succeeded).</summary>
        public bool TryFail(Exception? error) => TryTake() && (error is null ? Completion.TrySetResult(default!) : Completion.TrySetException(error));

        private bool TryTake()
        {
            if (!table.TryRemove(new KeyValuePair<long, Pending<T>>(id, this)))
            {
                return false;
            }
            _timer?.Dispose();
            // Unregister, not Dispose: this may run inside the cancellation callback itself.
            _cancellation.Unregister();
            return true;
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
