namespace Noex.Lite.Tests;

/// <summary>A named supervisor's state and errors as they cross the wire (protocol.md §5.6, "Named supervisors").</summary>
[Trait("Category", Category.Unit)]
public class SupervisorReplicaTests
{
    private static readonly NodeId s_b = NodeId.Parse("b@127.0.0.1:4002");

    [Fact]
    public void Replica_RoundTrips_EveryFieldButACustomSelector()
    {
        var spec = new DistributedChildSpec("w1", "worker")
        {
            Args = Value.Object(("id", "w1")),
            Restart = RestartType.Transient,
            NodeSelector = NodeSelector.OnNode(s_b),
            GlobalName = "w1-name",
            ShutdownTimeout = TimeSpan.FromMilliseconds(1500),
            Significant = true,
        };
        var custom = new DistributedChildSpec("w2", "worker") { NodeSelector = NodeSelector.Custom((c, _) => c[0].Id), Restart = RestartType.Temporary };
        var started = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);
        var replica = new SupervisorReplica(42, new ProcessRef("a@127.0.0.1:4001", 7), [new("a@127.0.0.1:4001", 7), new("b@127.0.0.1:4002", 3)],
            [new ReplicaChild(spec, new ProcessRef(s_b.ToString(), 11), 2, started, false), new ReplicaChild(custom, default, 0, started, true)],
            [120, 4000], [new ProcessRef("c@127.0.0.1:4003", 5)], 9, 4, 1);

        // Through the codec, as a cast carries it.
        var read = SupervisorReplica.FromValue(ValueCodec.Decode(ValueCodec.Encode(replica.ToValue())))!;

        Assert.Equal((42L, replica.Active, 9, 4, 1), (read.Version, read.Active, read.TemplateSequence, read.TotalRestarts, read.NodeFailureRestarts));
        Assert.Equal(replica.Members, read.Members);
        Assert.Equal(replica.RestartAgesMs, read.RestartAgesMs);
        Assert.Equal(replica.Stale, read.Stale);
        var w1 = read.Children[0];
        Assert.Equal((new ProcessRef(s_b.ToString(), 11), 2, started, false), (w1.Ref, w1.RestartCount, w1.StartedAt, w1.Orphaned));
        Assert.Equal(spec with { NodeSelector = null }, w1.Spec with { NodeSelector = null });
        Assert.Equal("node:b@127.0.0.1:4002", w1.Spec.NodeSelector!.ToString());
        var w2 = read.Children[1];
        Assert.True(w2.Ref.IsEmpty);
        Assert.True(w2.Orphaned);
        Assert.Null(w2.Spec.NodeSelector); // a function does not cross the wire
        Assert.Equal(RestartType.Temporary, w2.Spec.Restart);
    }

    [Theory]
    [InlineData("""{"op":"state"}""")]
    [InlineData("""{"op":"state","version":1,"active":{"node":"not an id","process":1},"members":[],"children":[],"restart_ages_ms":[],"stale":[]}""")]
    [InlineData("""{"op":"state","version":1,"active":{"node":"a@h:1","process":1},"members":[],"children":[{"spec":{"id":"x"}}],"restart_ages_ms":[],"stale":[]}""")]
    [InlineData("""{"op":"state","version":1,"active":{"node":"a@h:1","process":1},"members":[],"children":[{"spec":{"id":"x","behavior":"w","restart":"sometimes"}}],"restart_ages_ms":[],"stale":[]}""")]
    public void Replica_Unreadable_IsNull_NotAnException(string json) => Assert.Null(SupervisorReplica.FromValue(Value.Parse(json)));

    [Fact]
    public void Errors_CrossTheWireAsTheExceptionsALocalCallerGets()
    {
        static Exception RoundTrip(Exception e) => SupervisorErrors.FromValue("pool", SupervisorErrors.ToValue(e))!;

        Assert.Equal("w1", Assert.IsType<DistributedChildNotFoundException>(RoundTrip(new DistributedChildNotFoundException("x", "w1"))).ChildId);
        Assert.Equal("w1", Assert.IsType<DistributedDuplicateChildException>(RoundTrip(new DistributedDuplicateChildException("x", "w1"))).ChildId);
        var behavior = Assert.IsType<DistributedBehaviorNotFoundException>(RoundTrip(new DistributedBehaviorNotFoundException("nope", s_b)));
        Assert.Equal(("nope", s_b), (behavior.BehaviorName, behavior.NodeId));
        var noNode = Assert.IsType<NoAvailableNodeException>(RoundTrip(new NoAvailableNodeException("w1", NodeSelector.RoundRobin)));
        Assert.Equal(("w1", "round_robin"), (noNode.ChildId, noNode.Selector.ToString()));
        Assert.IsType<DistributedSupervisorException>(RoundTrip(new NoAvailableNodeException("w1", NodeSelector.Custom((c, _) => c[0].Id))));
        Assert.IsType<SupervisorErrors.StandbyException>(RoundTrip(new SupervisorErrors.StandbyException("pool")));
        Assert.IsType<ArgumentException>(RoundTrip(new FormatException("bad")));
        Assert.Equal("pool", Assert.IsType<DistributedSupervisorException>(RoundTrip(new InvalidOperationException("boom"))).SupervisorId);
        Assert.Null(SupervisorErrors.FromValue("pool", Value.Object(("ok", 1))));
    }
}
