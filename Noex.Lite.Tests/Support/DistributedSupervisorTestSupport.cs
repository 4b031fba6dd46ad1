using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>What the distributed supervisor tests share: their nodes' tuning, a placement preference, an in-process start.</summary>
internal static class DistributedSupervisorTesting
{
    /// <summary>The behaviours an <see cref="InProcessChildHost"/> can start: "worker" (<see cref="Worker"/>).</summary>
    public static readonly IReadOnlyDictionary<string, Func<GenServer>> ChildBehaviors = new Dictionary<string, Func<GenServer>> { ["worker"] = () => new Worker() };

    /// <summary>A lost node detected within about a second (300 ms × 4) and redialled quickly: these tests lose nodes on purpose.</summary>
    public static NodeOptions FastDetection(NodeOptions options) => options with
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(300),
        HeartbeatMissThreshold = 4,
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(300),
    };

    /// <summary>Places a child on the first of <paramref name="preferred"/> that is a candidate, else on the first candidate.</summary>
    public static NodeSelector Prefer(params NodeId[] preferred) => NodeSelector.Custom((candidates, _) =>
        preferred.FirstOrDefault(p => candidates.Any(c => c.Id == p)) ?? candidates[0].Id);

    /// <summary>
    /// A supervisor on <paramref name="node"/> whose children run on it and <paramref name="others"/> through an
    /// <see cref="InProcessChildHost"/> (which it owns), with its events logged from the start on.
    /// </summary>
    public static async Task<(DistributedSupervisor Supervisor, InProcessChildHost Host, EventLog Log)> StartInProcessAsync(
        Node node, DistributedSupervisorOptions options, params Node[] others)
    {
        var host = new InProcessChildHost(node, ChildBehaviors, others);
        var supervisor = await DistributedSupervisor.StartAsync(node, options, host, ownsHost: true, CancellationToken.None);
        var log = new EventLog();
        supervisor.LifecycleEvent += log.Add;
        return (supervisor, host, log);
    }
}

/// <summary>
/// An <see cref="IChildHost"/> over nodes of this test process: spawns straight into the target node's runtime, and
/// watches through that runtime's lifecycle events plus the supervisor node's own down events, so that a lost link reads
/// as noconnection exactly as a remote monitor does. It drives the supervisor's logic on in-process clusters.
/// </summary>
internal sealed class InProcessChildHost(Node self, IReadOnlyDictionary<string, Func<GenServer>> behaviors, params Node[] nodes) : IChildHost
{
    private readonly Dictionary<NodeId, Node> _nodes = nodes.Append(self).ToDictionary(n => n.Id);

    public ConcurrentQueue<(NodeId Node, ProcessRef Ref)> Spawned { get; } = new();

    public ConcurrentQueue<ProcessRef> Stopped { get; } = new();

    public bool HasBehavior(string behavior) => behaviors.ContainsKey(behavior);

    private bool Reachable(NodeId node) => node == self.Id || self.IsConnected(node);

    public async Task<ProcessRef> SpawnAsync(NodeId node, string behavior, Value args, string? globalName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!Reachable(node) || !_nodes.TryGetValue(node, out var target))
        {
            throw new NodeNotReachableException(node, "not connected");
        }
        var process = await target.Runtime.StartAsync(behaviors[behavior](), args, cancellationToken: cancellationToken);
        Spawned.Enqueue((node, process));
        return process;
    }

    public async Task StopAsync(ProcessRef child, TimeSpan timeout)
    {
        var node = NodeId.Parse(child.Node);
        if (!Reachable(node) || !_nodes.TryGetValue(node, out var target))
        {
            return;
        }
        Stopped.Enqueue(child);
        try
        {
            await target.Runtime.StopAsync(child, ExitReason.Shutdown);
        }
        catch (Exception e) when (e is NoexException or ObjectDisposedException)
        {
            // Gone already, or its node stopped: stopped either way.
        }
    }

    public IDisposable Watch(ProcessRef child, Action<ExitReason> onDown)
    {
        var node = NodeId.Parse(child.Node);
        var target = _nodes[node];
        var fired = 0;
        void Fire(ExitReason reason)
        {
            if (Interlocked.Exchange(ref fired, 1) == 0)
            {
                onDown(reason);
            }
        }
        var events = target.Runtime.Events.Subscribe(e =>
        {
            if (e.Kind == LifecycleEventKind.Terminated && e.Process == child)
            {
                Fire(e.Reason);
            }
        });
        var downs = NodeEvents.OnDown(self, down =>
        {
            if (down.Node == node)
            {
                Fire(ExitReason.NoConnection);
            }
        });
        if (!Reachable(node))
        {
            Fire(ExitReason.NoConnection);
        }
        else if (!target.Runtime.IsAlive(child))
        {
            Fire(ExitReason.NoProc);
        }
        return new Unwatch(() =>
        {
            Interlocked.Exchange(ref fired, 1);
            events.Dispose();
            downs.Dispose();
        });
    }

    public void ReclaimName(string name, ProcessRef owner)
    {
    }

    public ValueTask DisposeAsync() => default;

    private sealed class Unwatch(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}

/// <summary>A child behaviour: counts casts, answers calls with its init args.</summary>
internal sealed class Worker : GenServer<Value>
{
    protected override ValueTask<Value> InitAsync(Value args, CancellationToken cancellationToken) => new(args);

    protected override ValueTask<CallResult<Value>> HandleCallAsync(Value request, CallFrom from, Value state) =>
        new(CallResult<Value>.WithReply(state, state));

    protected override ValueTask<Value> HandleCastAsync(Value message, Value state) => new(state);
}

/// <summary>Records a supervisor's events.</summary>
internal sealed class EventLog
{
    public ConcurrentQueue<DistributedSupervisorEvent> Events { get; } = new();

    public void Add(DistributedSupervisorEvent e) => Events.Enqueue(e);

    public int Count(DistributedSupervisorEventKind kind, string? child = null) =>
        Events.Count(e => e.Kind == kind && (child is null || e.ChildId == child));
}
