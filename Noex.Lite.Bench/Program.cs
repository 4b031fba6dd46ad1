using BenchmarkDotNet.Running;
using Noex.Lite.Bench;

// Noex.Lite.Bench: `micro` runs the BenchmarkDotNet micro benchmarks (memory diagnoser on);
// the macro harnesses (`remote`, ...) are added as verbs next to it.
var verb = args.Length > 0 ? args[0] : "help";
var rest = args.Length > 0 ? args[1..] : [];
switch (verb)
{
    case "micro":
        BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly).Run(rest, new BenchConfig());
        return 0;
    default:
        Console.WriteLine("""
            usage: dotnet run -c Release --project Noex.Lite.Bench -- <verb> [options]
              micro [BenchmarkDotNet options]   micro benchmarks, e.g. micro --filter '*'
            """);
        return verb == "help" ? 0 : 2;
}
