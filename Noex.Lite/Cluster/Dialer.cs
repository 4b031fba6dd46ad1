using System.Diagnostics.Tracing;

namespace Noex.Lite;

/// <summary>
/// Keeps the members dialled: it learns ids from the seeds (static, and the <see cref="ISeedProvider"/> asked every poll
/// interval) and from gossip, within the member cap, and runs one redial loop per member that is not connected, through
/// two <see cref="DialGate"/>s. It removes an id whose address answers as another node or as this node itself.
/// </summary>
internal sealed class Dialer
{
    private readonly NodeOptions _options;
    private readonly NodeId _self;
    private readonly Membership _membership;
    private readonly Transport _transport;
    private readonly Func<NodeId, bool> _isConnected;
    private readonly Action<NodeId, NodeRemovalReason> _onRemoved;
    private readonly CancellationToken _stopping;
    private readonly TimeProvider _time;
    private readonly Lock _redialLock = new();
    private readonly HashSet<NodeId> _redialing = new();
    private readonly HashSet<NodeId> _selfAliases = new();
    private readonly DialGate _memberDials;
    private readonly DialGate _learnedDials;
    private IReadOnlyList<NodeId> _seeds = [];
    private Task _seedPolling = Task.CompletedTask;

    /// <param name="options">The node's options.</param>
    /// <param name="self">The node's id.</param>
    /// <param name="membership">The node's members.</param>
    /// <param name="transport">What dials.</param>
    /// <param name="isConnected">Whether a member counts as up now (the node's view).</param>
    /// <param name="onRemoved">Raises a removal this dialer decided.</param>
    /// <param name="stopping">The node's stop.</param>
    public Dialer(NodeOptions options, NodeId self, Membership membership, Transport transport, Func<NodeId, bool> isConnected,
        Action<NodeId, NodeRemovalReason> onRemoved, CancellationToken stopping)
    {
        _options = options;
        _self = self;
        _membership = membership;
        _transport = transport;
        _isConnected = isConnected;
        _onRemoved = onRemoved;
        _stopping = stopping;
        _time = options.TimeProvider;
        // Two gates, so that a flood of ids only learned of cannot hold up the reconnect of a member that was up.
        _memberDials = new DialGate(options);
        _learnedDials = new DialGate(options);
    }

    /// <summary>Dials waiting for a gate now.</summary>
    public int Waiting => _memberDials.Waiting + _learnedDials.Waiting;

    /// <summary>Learns and dials <paramref name="seeds"/>, then asks them and the seed provider every poll interval.</summary>
    public void Start(IReadOnlyList<NodeId> seeds)
    {
        _seeds = seeds;
        Learn(seeds, "seeds");
        _seedPolling = Task.Run(PollSeedsAsync);
    }

    /// <summary>Waits for the seed polling to end (the node's stop ends it).</summary>
    public Task StopAsync() => _seedPolling;

    /// <summary>Learns <paramref name="ids"/> and dials the new ones; what is refused is counted and logged, once per batch.</summary>
    public void Learn(IReadOnlyList<NodeId> ids, string source, bool fromGossip = false)
    {
        var full = 0;
        var self = 0;
        foreach (var id in ids)
        {
            var learned = IsSelfAlias(id) ? Membership.Learned.Self : _membership.Learn(id);
            switch (learned)
            {
                case Membership.Learned.New:
                    Redial(id, immediately: true, courtesy: fromGossip);
                    break;
                case Membership.Learned.Full:
                    full++;
                    break;
                case Membership.Learned.Self when id != _self:
                    self++;
                    break;
            }
        }
        if (full > 0)
        {
            Telemetry.Count(Telemetry.MembersRefused, full, "cause", "cap");
            Telemetry.Refuse("member_cap", nameof(NodeOptions.MaxMembers), full);
            if (NoexLog.Log.IsEnabled(EventLevel.Warning))
            {
                NoexLog.Log.MembersRefused(_self.ToString(), source, full, $"the membership is at its cap of {_options.MaxMembers} ({nameof(NodeOptions.MaxMembers)})");
            }
        }
        if (self > 0)
        {
            Telemetry.Count(Telemetry.MembersRefused, self, "cause", "self");
        }
    }

    private bool IsSelfAlias(NodeId id)
    {
        lock (_redialLock)
        {
            return _selfAliases.Contains(id);
        }
    }

    /// <summary>Asks the static seeds and the seed provider again every poll interval, until the node stops.</summary>
    private async Task PollSeedsAsync()
    {
        try
        {
            while (true)
            {
                if (_options.SeedProvider is { } provider)
                {
                    await PollProviderAsync(provider).ConfigureAwait(false);
                }
                await Task.Delay(_options.SeedPollInterval, _time, _stopping).ConfigureAwait(false);
                Learn(_seeds, "seeds");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Asks the seed provider once (at start too), within the connect timeout; a failure is counted and logged.</summary>
    private async Task PollProviderAsync(ISeedProvider provider)
    {
        using var deadline = new CancellationTokenSource(_options.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stopping);
        try
        {
            Learn(await provider.GetSeedsAsync(linked.Token).ConfigureAwait(false), provider.ToString() ?? "seed provider");
        }
        catch (Exception e) when (!_stopping.IsCancellationRequested)
        {
            Telemetry.Count(Telemetry.DiscoveryFailures, 1, "provider", provider.GetType().Name);
            NoexLog.Log.DiscoveryFailed(_self.ToString(), provider.ToString() ?? provider.GetType().Name, e.Message);
        }
    }

    /// <summary>
    /// Dials <paramref name="peer"/> until it is connected or no longer a member: at once if
    /// <paramref name="immediately"/> (after a moment's courtesy to a smaller id, for one learned from gossip), then
    /// with backoff. One loop per peer.
    /// </summary>
    public void Redial(NodeId peer, bool immediately, bool courtesy = false)
    {
        lock (_redialLock)
        {
            if (_stopping.IsCancellationRequested || !_redialing.Add(peer))
            {
                return;
            }
        }
        _ = RedialAsync(peer, immediately, courtesy);
    }

    private async Task RedialAsync(NodeId peer, bool immediately, bool courtesy)
    {
        try
        {
            if (courtesy && _self.CompareTo(peer) > 0)
            {
                // Both ends usually learn of each other at once (a push each way), and both dials would complete only for
                // one to be closed: the connection kept is the one the smaller id dials (protocol.md §4.4). So the larger
                // id gives it a moment first, and dials only if it has not come (the smaller cannot reach it).
                await Task.Delay(DialCourtesy, _time, _stopping).ConfigureAwait(false);
            }
            var first = true;
            while (!_stopping.IsCancellationRequested && _membership.GetNode(peer) is not null && !_isConnected(peer))
            {
                if (!first || !immediately)
                {
                    await Task.Delay(_membership.NextBackoff(peer), _time, _stopping).ConfigureAwait(false);
                }
                first = false;
                var wasUp = _membership.GetNode(peer)?.Incarnation is > 0;
                var gate = wasUp ? _memberDials : _learnedDials;
                await gate.EnterAsync(_stopping).ConfigureAwait(false);
                try
                {
                    // Checked again: the wait for the gate may have been long.
                    if (_membership.GetNode(peer) is null || _isConnected(peer))
                    {
                        break;
                    }
                    if (wasUp && Telemetry.Reconnects.Enabled)
                    {
                        Telemetry.Reconnects.Add(1);
                    }
                    await _transport.ConnectAsync(peer).ConfigureAwait(false);
                }
                catch (HandshakeException e) when (e.Failure is HandshakeFailure.WrongNode or HandshakeFailure.SelfDial)
                {
                    // Another node (or this one) listens at its address now: the id is gone, and redialling it would only
                    // reach that node again.
                    OnAddressTaken(peer, e.Failure == HandshakeFailure.SelfDial);
                }
                catch (NoexException)
                {
                    // Unreachable or refused: try again after the next backoff. Handshake failures were reported already.
                }
                finally
                {
                    gate.Exit();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            lock (_redialLock)
            {
                _redialing.Remove(peer);
            }
        }
    }

    /// <summary>How long a node waits for a newly learned node with a smaller id to dial it before it dials itself.</summary>
    private TimeSpan DialCourtesy => TimeSpan.FromMilliseconds(Math.Min(100, _options.ReconnectBaseDelay.TotalMilliseconds));

    /// <summary>The id's address answered as another node, or is this node's own listener: remove it for good.</summary>
    private void OnAddressTaken(NodeId peer, bool self)
    {
        if (self)
        {
            lock (_redialLock)
            {
                // Bounded like the membership: an id seen to be this node's own is never learned again.
                if (_selfAliases.Count < _options.MaxMembers)
                {
                    _selfAliases.Add(peer);
                }
            }
        }
        if (_membership.Remove(peer, fromQuorum: false))
        {
            _onRemoved(peer, NodeRemovalReason.Replaced);
        }
    }
}
