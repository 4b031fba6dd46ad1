using System.Text.RegularExpressions;

namespace Noex.Lite.Tests;

/// <summary>
/// examples/WorkerPool: seed 004's task queue (a coordinator and two workers; failed tasks retried, the task of a
/// worker whose node is killed reassigned, every task completed in the end), and the supervised pool (workers placed
/// on worker nodes by a DistributedSupervisor and restarted elsewhere when their node is killed).
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class WorkerPoolTests
{
    [Fact]
    public async Task TaskQueue_ReassignsTheTaskOfAKilledWorker_AndRetriesFailures()
    {
        await using var coordinator = ExampleProcess.Start("WorkerPool", "coordinator", "--port", "0", "--interval", "200", "--tasks", "8", "--stats-ms", "500");
        var hub = (await coordinator.WaitForLineAsync(@"^Node ID: (coordinator@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await coordinator.WaitForTextAsync("Task Coordinator ready");

        // worker-1 never finishes a task (an hour of work); worker-2 is quick and fails half of its attempts.
        await using var slow = ExampleProcess.Start("WorkerPool", "worker", "--name", "worker-1", "--seed", hub, "--work-ms", "3600000", "--fail-rate", "0");
        await slow.WaitForTextAsync("Worker worker-1 registered with coordinator");
        var held = (await slow.WaitForLineAsync(@"^\[worker-1\] Received task: (task-\d+)$")).Groups[1].Value;
        await using var quick = ExampleProcess.Start("WorkerPool", "worker", "-n", "worker-2", "-s", hub, "--work-ms", "50", "--fail-rate", "0.5", "--status-ms", "500");
        await quick.WaitForTextAsync("Worker worker-2 registered with coordinator");
        await coordinator.WaitForTextAsync("[Coordinator] Worker ready: worker-1");
        await coordinator.WaitForTextAsync("[Coordinator] Worker ready: worker-2");
        await coordinator.WaitForLineAsync(@"^\[Coordinator\] Task task-\d+ completed by worker-2$");

        var mark = coordinator.Mark;
        slow.Kill();
        await coordinator.WaitForTextAsync("[Coordinator] Worker gone: worker-1", mark);
        await coordinator.WaitForTextAsync($"[Coordinator] Reassigning task {held}", mark);
        await coordinator.WaitForLineAsync($@"^Node left: worker-1@127\.0\.0\.1:\d+ \((connection_closed|connection_reset)\)$", mark);
        await coordinator.WaitForTextAsync($"[Coordinator] Task {held} completed by worker-2", mark);
        await quick.WaitForTextAsync($"[worker-2] Received task: {held}");

        // All eight done, none pending or in progress; and failures were retried (a fail rate of one half makes at
        // least one failure in eight or more attempts all but certain: 1 in 256 runs would see none).
        var stats = await coordinator.WaitForLineAsync(@"^Stats: \{""submitted"":8,""completed"":8,""failed"":(\d+),""pending"":0,""processing"":0,""workerCount"":1\}$", mark);
        var failed = int.Parse(stats.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(failed, coordinator.Lines.Count(l => Regex.IsMatch(l, @"^\[Coordinator\] Task task-\d+ failed, will retry$")));
        await quick.WaitForLineAsync($@"^\[worker-2\] Status: completed=\d+, failed={failed}$");

        var left = quick.Mark;
        coordinator.Signal("TERM");
        Assert.Equal(0, await coordinator.WaitForExitAsync());
        await coordinator.WaitForTextAsync("Shutting down coordinator...");
        await quick.WaitForLineAsync(@"^Node left: coordinator@127\.0\.0\.1:\d+ \(graceful_shutdown\)$", left);
        quick.CloseInput();
        Assert.Equal(0, await quick.WaitForExitAsync());
        await quick.WaitForTextAsync("Shutting down worker worker-2...");
    }

    [Fact]
    public async Task SupervisedPool_MovesTheWorkersOfAKilledNode_ToTheNodeThatRemains()
    {
        await using var supervisor = ExampleProcess.Start("WorkerPool", "supervisor", "--port", "0", "--workers", "4", "--nodes", "2", "--interval", "300");
        var hub = (await supervisor.WaitForLineAsync(@"^Node ID: (supervisor@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await using var nodeA = ExampleProcess.Start("WorkerPool", "node", "--name", "node-a", "--seed", hub);
        var a = (await nodeA.WaitForLineAsync(@"^Node ID: (node-a@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await using var nodeB = ExampleProcess.Start("WorkerPool", "node", "--name", "node-b", "--seed", hub);
        var b = (await nodeB.WaitForLineAsync(@"^Node ID: (node-b@127\.0\.0\.1:\d+)$")).Groups[1].Value;

        // The workers alternate between the worker nodes, and every round each of them does a job where it lives.
        await supervisor.WaitForTextAsync("Pool ready: 4 workers on 2 nodes.");
        DistributedKvTests.AssertInOrder(supervisor, $"  worker-1 on {a}", $"  worker-2 on {b}", $"  worker-3 on {a}", $"  worker-4 on {b}");
        await nodeA.WaitForTextAsync("[worker-3] started here");
        await nodeB.WaitForTextAsync("[worker-4] started here");
        await supervisor.WaitForTextAsync($"4 jobs done ({a}: 2, {b}: 2)");

        var mark = supervisor.Mark;
        var moved = nodeA.Mark;
        nodeB.Kill();
        await supervisor.WaitForTextAsync($"[POOL] Node failure detected: {b} (workers: worker-2, worker-4)", mark);
        await supervisor.WaitForTextAsync($"[POOL] worker-2 migrated from {b} to {a}", mark);
        await supervisor.WaitForTextAsync($"[POOL] worker-4 migrated from {b} to {a}", mark);
        await nodeA.WaitForTextAsync("[worker-2] started here", moved);
        await nodeA.WaitForTextAsync("[worker-4] started here", moved);
        await supervisor.WaitForTextAsync($"4 jobs done ({a}: 4)", mark);
        Assert.Equal(1, supervisor.Lines.Skip(mark).Count(l => l == $"[POOL] worker-2 migrated from {b} to {a}"));

        // A worker that crashes is restarted by the supervisor, on the node its selector picks.
        var crash = nodeA.Mark;
        await supervisor.SendAsync("/crash worker-1");
        await supervisor.WaitForTextAsync($"[POOL] worker-1 restarted on {a} (restart 1)");
        await nodeA.WaitForTextAsync("[worker-1] started here", crash);
        await supervisor.SendAsync("/status");
        await supervisor.WaitForTextAsync($"  worker-2 on {a} (restarts: 1)");

        await supervisor.SendAsync("/quit");
        Assert.Equal(0, await supervisor.WaitForExitAsync());
        await supervisor.WaitForTextAsync("Shutting down supervisor...");
        await nodeA.WaitForLineAsync($@"^\[CLUSTER\] Node left: {Regex.Escape(hub)} \(graceful_shutdown\)$");
        nodeA.CloseInput();
        Assert.Equal(0, await nodeA.WaitForExitAsync());
        Assert.DoesNotContain(supervisor.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SupervisedPool_SupervisorNodeKilled_AWorkerNodeTakesOver_TheWorkersKeepRunningWhereTheyAre()
    {
        await using var supervisor = ExampleProcess.Start("WorkerPool", "supervisor", "--port", "0", "--workers", "4", "--nodes", "2", "--interval", "300");
        var hub = (await supervisor.WaitForLineAsync(@"^Node ID: (supervisor@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await using var nodeA = ExampleProcess.Start("WorkerPool", "node", "--name", "node-a", "--seed", hub, "--interval", "300");
        var a = (await nodeA.WaitForLineAsync(@"^Node ID: (node-a@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await using var nodeB = ExampleProcess.Start("WorkerPool", "node", "--name", "node-b", "--seed", hub, "--interval", "300");
        var b = (await nodeB.WaitForLineAsync(@"^Node ID: (node-b@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await supervisor.WaitForTextAsync("Pool ready: 4 workers on 2 nodes.");
        await nodeA.WaitForTextAsync($"Standing by for the pool's supervisor on {hub}.");
        await nodeB.WaitForTextAsync($"Standing by for the pool's supervisor on {hub}.");
        await supervisor.WaitForTextAsync($"4 jobs done ({a}: 2, {b}: 2)");

        var (markA, markB) = (nodeA.Mark, nodeB.Mark);
        supervisor.Kill();
        // node-a is first in line (the least node id): it adopts the four workers where they run and does the rounds.
        await nodeA.WaitForTextAsync($"[POOL] Took over supervision from {hub}; workers kept where they run: worker-1 on {a}, worker-2 on {b}, worker-3 on {a}, worker-4 on {b}", markA);
        await nodeA.WaitForTextAsync($"4 jobs done ({a}: 2, {b}: 2)", markA);
        Assert.DoesNotContain(nodeA.Lines.Skip(markA), l => l.EndsWith("started here", StringComparison.Ordinal));
        Assert.DoesNotContain(nodeB.Lines.Skip(markB), l => l.EndsWith("started here", StringComparison.Ordinal) || l.StartsWith("[POOL] Took over", StringComparison.Ordinal));

        nodeB.CloseInput();
        Assert.Equal(0, await nodeB.WaitForExitAsync());
        nodeA.CloseInput();
        Assert.Equal(0, await nodeA.WaitForExitAsync());
        Assert.DoesNotContain(nodeA.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Worker_WithoutACoordinator_SaysSo()
    {
        await using var lonely = ExampleProcess.Start("WorkerPool", "worker", "--name", "worker-9", "--port", "0", "--seed", "coordinator@127.0.0.1:1");
        Assert.Equal(1, await lonely.WaitForExitAsync());
        Assert.Contains(lonely.Lines, l => l.StartsWith("[CLUSTER] Cannot reach seed coordinator@127.0.0.1:1", StringComparison.Ordinal));
        Assert.Contains("No task-coordinator in the cluster: start the coordinator first (WorkerPool coordinator).", lonely.Lines);

        await using var confused = ExampleProcess.Start("WorkerPool", "manager");
        Assert.Equal(2, await confused.WaitForExitAsync());
        Assert.Contains("error: say which part to run: coordinator, worker, supervisor or node", confused.Lines);
    }
}
