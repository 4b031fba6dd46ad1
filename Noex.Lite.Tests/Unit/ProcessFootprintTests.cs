namespace Noex.Lite.Tests;

/// <summary>
/// What a process keeps on the heap (issue #21: an idle process cost 2.6 KB, 2.1 KB of it an empty ConcurrentQueue).
/// Weighed over many processes with forced full collections, so that one stray allocation cannot tip the figure.
/// </summary>
[Trait("Category", Category.Unit)]
[Collection(FootprintCollection.Name)]
public class ProcessFootprintTests
{
    private const int Processes = 20_000;

    [Fact]
    public async Task StartAsync_IdleProcesses_RetainAtMostOneKilobyteEach()
    {
        await using var runtime = new ProcessRuntime();
        await Warm(runtime);

        long before = Heap();
        for (int i = 0; i < Processes; i++)
        {
            await runtime.StartAsync(new Idle());
        }

        double perProcess = (double)(Heap() - before) / Processes;

        Assert.Equal(Processes + 100, runtime.ProcessCount);
        Assert.True(perProcess <= 1024, $"an idle process retains {perProcess:N0} B");
    }

    [Fact]
    public async Task StartAsync_ProcessesThatHandledACast_RetainAtMostOneKilobyteEach()
    {
        await using var runtime = new ProcessRuntime();
        await Warm(runtime);

        long before = Heap();
        var refs = new ProcessRef[Processes];
        for (int i = 0; i < Processes; i++)
        {
            refs[i] = await runtime.StartAsync(new Idle());
            runtime.Cast(refs[i], "m");
        }

        // A call behind each cast: the cast has been handled once the call returns.
        foreach (ProcessRef process in refs)
        {
            await runtime.CallAsync(process, "sync");
        }

        double perProcess = (double)(Heap() - before - refs.Length * 16L) / Processes;

        Assert.True(perProcess <= 1024, $"a process that handled a cast and a call retains {perProcess:N0} B");
        Assert.True(runtime.TryGetCell(refs[0], out ProcessCell? cell));
        Assert.Equal(MailboxQueue<Envelope>.InitialLength, cell.QueueCapacity);
    }

    /// <summary>JIT, pools and the process table's first growth steps, before the baseline.</summary>
    private static async Task Warm(ProcessRuntime runtime)
    {
        for (int i = 0; i < 100; i++)
        {
            ProcessRef process = await runtime.StartAsync(new Idle());
            await runtime.CallAsync(process, "warm");
        }
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
