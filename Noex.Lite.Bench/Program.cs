using BenchmarkDotNet.Running;
using Noex.Lite.Bench;
using Noex.Lite.Bench.Remote;

// Noex.Lite.Bench: `micro` runs the BenchmarkDotNet micro benchmarks (memory diagnoser on);
// the macro harnesses (`remote`, ...) are added as verbs next to it.
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
    default:
        Console.WriteLine("""
            usage: dotnet run -c Release --project Noex.Lite.Bench -- <verb> [options]
              micro [BenchmarkDotNet options]   micro benchmarks, e.g. micro --filter '*'
              remote [--seconds S] [--outstanding N] [--rounds R] [--peer protoactor|akka[,...]] [--stats]
                                                two processes on 127.0.0.1: remote calls against a raw-socket baseline,
                                                with default scheduling and again with UnsafePreferInlineScheduling
                                                (inline-*),
                                                and with --peer the same scenarios on Proto.Actor / Akka.NET remoting;
                                                --rounds repeats baseline and scenarios R times and prints medians;
                                                --stats prints frames and socket writes/reads per operation
            """);
        return verb == "help" ? 0 : 2;
}
