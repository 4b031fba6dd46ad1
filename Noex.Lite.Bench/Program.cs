using BenchmarkDotNet.Running;
using Noex.Lite.Bench;
using Noex.Lite.Bench.Remote;

// Noex.Lite.Bench: `micro` runs the BenchmarkDotNet micro benchmarks (memory diagnoser on); `remote` runs the
// two-process remote-call harness, which starts this program again as its server (`remote-server`, not for users).
// How to run and read both, and the figures recorded so far: README.md next to this file.
var verb = args.Length > 0 ? args[0] : "help";
var rest = args.Length > 0 ? args[1..] : [];
switch (verb)
{
    case "micro":
        BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly).Run(rest, new BenchConfig());
        return 0;
    case "remote":
        return await RemoteHarness.RunAsync(rest);
    case "remote-server":
        return await RemoteHarness.RunServerAsync(rest);
    case "large":
        return await LargeMessages.RunAsync(rest);
    case "mesh":
        return await MeshFormation.RunAsync(rest);
    case "mesh-calls":
        return await MeshCalls.RunAsync(rest);
    case "mesh-calls-node":
        return await MeshCalls.RunNodeAsync(rest);
    case "idle":
        return await IdleCost.RunAsync(rest);
    case "monitors":
        return await MonitorCost.RunAsync(rest);
    case "processes":
        return await ProcessCount.RunAsync(rest);
    case "registry-sync":
        return await RegistrySync.RunAsync(rest);
    case "registry-sync-joiner":
        return await RegistrySync.RunJoinerAsync(rest);
    case "registry-departure":
        return await RegistryDeparture.RunAsync(rest);
    case "registry-departure-peer":
        return await RegistryDeparture.RunPeerAsync(rest);
    default:
        Console.WriteLine("""
            usage: dotnet run -c Release --project Noex.Lite.Bench -- <verb> [options]
              micro [BenchmarkDotNet options]   micro benchmarks, e.g. micro --filter '*FramingBenchmarks*';
                                                run one class per invocation to read the Ratio column
              remote [--seconds S] [--outstanding N] [--rounds R] [--peer protoactor|akka[,...]] [--stats]
                                                two processes on 127.0.0.1: remote calls against a raw-socket baseline,
                                                with default scheduling and again with UnsafePreferInlineScheduling
                                                (inline-*), and with --peer the same scenarios on Proto.Actor / Akka.NET
                                                remoting; S seconds per scenario (5), N calls in flight (100);
                                                --rounds repeats baseline and scenarios R times and prints medians;
                                                --stats prints frames, socket writes/reads and CPU per operation
              large [--sizes 65536,1048576,8388608] [--seconds S] [--outstanding N] [--rounds R]
                                                two processes on 127.0.0.1: remote calls carrying an S-byte binary against
                                                a raw socket copy of the same bytes: MB/s, p50, allocation and CPU per call,
                                                with 1 and N (4) calls in flight, S seconds each (3); medians of R rounds
              mesh [--nodes 3,8,16] [--rounds R]
                                                N nodes started at once with one seed: time to a full mesh, against
                                                one node joining a seed in the same round
              mesh-calls [--nodes 2,4,8,16] [--callers C | --callers-per-node K] [--seconds S] [--rounds R] [--max-warmup W] [--raw]
                                                N node processes in a full mesh, each with an echo server; C callers in
                                                all (64) spread over the nodes, or K on each, call the other nodes' echo
                                                servers round-robin, one call in flight each: calls/s, CPU and context
                                                switches per call over all nodes, p50, cores used (and by the idle mesh),
                                                CPU per call against the first N; S seconds a window (3), R windows (1),
                                                after a warm-up until no node compiles code (at most W s, 30)
                                                --raw: the same over plain sockets with no Noex.Lite node (the floor)
              monitors [--count N] [--lost L] [--rounds R] [--links]
                                                node a monitors a process on c N times (200,000) and one on b L times (N):
                                                the setup rate, and how long after b stops a has all of b's downs;
                                                --links: the same with N and L links (√N processes a side, linked pairwise)
              idle [--processes N] [--seconds S]
                                                a node holding N idle processes (200,000), connected and unasked:
                                                its CPU over S quiet seconds (10), as a share of one core
              processes [--count N] [--seconds S] [--workers W] [--rate-mb R] [--garbage B] [--retain-mb K]
                                                N idle processes (1,000,000) in one runtime: heap and RSS per process and
                                                the start rate; then S seconds (10) of casts to W workers (1000) making
                                                R MB/s (100) of B-byte garbage (1024), the last K MB of it kept (256):
                                                collections, pauses, a probe call's latency; then an induced full
                                                blocking collection
              registry-sync [--names N] [--rounds R]
                                                a node holding N global names (1,000,000) and, each round, a node joining
                                                it from a child process: the registrar's NodeUp delay, time until the
                                                joiner holds every name, the registrar's peak RSS / heap growth and the
                                                longest Register wait during the sync
              registry-departure [--names N] [--rounds R]
                                                a node holding N global names (1,000,000) in a child process, killed
                                                each round: on the node it was connected to, the time from the lost
                                                connection to NodeDown, to a remote monitor's down message, to Whereis
                                                answering null and to the last name unregistered, and the longest
                                                Register wait meanwhile
            what each benchmark measures, and the figures recorded so far: Noex.Lite.Bench/README.md
            """);
        return verb == "help" ? 0 : 2;
}
