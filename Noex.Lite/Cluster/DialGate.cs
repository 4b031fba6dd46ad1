using System.Diagnostics.CodeAnalysis;

namespace Noex.Lite;

/// <summary>
/// Bounds this node's dialling: at most <see cref="NodeOptions.MaxDialsInFlight"/> dials at once, started at most
/// <see cref="NodeOptions.MaxDialsPerSecond"/> a second (a token bucket one second deep), so that a flood of ids to dial
/// costs queued entries, not threads, sockets and CPU taken from the connections that are up.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "A SemaphoreSlim holds nothing to dispose unless its AvailableWaitHandle is used; dials still in flight release it after the node stops.")]
internal sealed class DialGate
{
    private readonly SemaphoreSlim _slots;
    private readonly TimeProvider _time;
    private readonly double _perSecond;
    private readonly Lock _lock = new();
    private double _tokens;
    private long _refilledAt;
    private int _waiting;

    public DialGate(NodeOptions options)
    {
        _slots = new SemaphoreSlim(options.MaxDialsInFlight, options.MaxDialsInFlight);
        _time = options.TimeProvider;
        _perSecond = options.MaxDialsPerSecond;
        _tokens = _perSecond;
        _refilledAt = _time.GetTimestamp();
    }

    /// <summary>Dials waiting for a slot or a token now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Waits for a slot and a token; the caller dials, then calls <see cref="Exit"/>.</summary>
    public async Task EnterAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                while (TakeToken() is { } wait)
                {
                    await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                _slots.Release();
                throw;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <summary>Ends a dial that <see cref="EnterAsync"/> let in.</summary>
    public void Exit() => _slots.Release();

    /// <summary>Takes a token, or says how long until one is due.</summary>
    private TimeSpan? TakeToken()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_perSecond, _tokens + (_time.GetElapsedTime(_refilledAt, now).TotalSeconds * _perSecond));
            _refilledAt = now;
            if (_tokens >= 1)
            {
                _tokens--;
                return null;
            }
            return TimeSpan.FromSeconds((1 - _tokens) / _perSecond);
        }
    }
}
