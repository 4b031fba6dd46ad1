using System.Diagnostics;
using System.Globalization;

namespace Noex.Lite.Bench;

/// <summary>
/// `mesh`: how long N nodes started at once (one seed, the others started together with it as their only seed) take to
/// form a full mesh, in one process on 127.0.0.1 with the default options (a 5 s heartbeat, so a 5 s gossip tick).
/// The baseline, measured in the same round, is one node joining a lone seed: one connect and one handshake.
/// </summary>
internal static class MeshFormation
{
    public static async Task<int> RunAsync(string[] args)
    {
        var sizes = new[] { 3, 8, 16 };
        var rounds = 5;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--nodes":
                    sizes = args[i + 1].Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray();
                    break;
                case "--rounds":
                    rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }
        Console.WriteLine($"mesh formation, {rounds} rounds, medians; ratio = mesh time / one join in the same round");
        Console.WriteLine("nodes | mesh ms (min-max) | one join ms | ratio");
        foreach (var size in sizes)
        {
            var mesh = new List<double>();
            var join = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                join.Add(await TimeAsync(2));
                mesh.Add(await TimeAsync(size));
            }
            var ratios = mesh.Zip(join, (m, j) => m / j).Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{size,5} | {Median(mesh),7:0.0} ({mesh.Min():0.0}-{mesh.Max():0.0}) | {Median(join),11:0.0} | {ratios[ratios.Length / 2]:0.0}x"));
        }
        return 0;
    }

    /// <summary>Starts a seed, then <paramref name="count"/> − 1 nodes at once, and times them until all see all.</summary>
    private static async Task<double> TimeAsync(int count)
    {
        var secret = Guid.NewGuid().ToString();
        var seed = await Node.StartAsync(Options("seed", secret));
        var nodes = new List<Node> { seed };
        try
        {
            var clock = Stopwatch.StartNew();
            nodes.AddRange(await Task.WhenAll(Enumerable.Range(1, count - 1).Select(i => Node.StartAsync(Options($"n{i}", secret, seed.Id.ToString())))));
            while (!nodes.All(n => nodes.All(m => m == n || n.IsConnected(m.Id))))
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException($"{count} nodes formed no mesh in 60 s");
                }
                await Task.Delay(1);
            }
            return clock.Elapsed.TotalMilliseconds;
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    private static NodeOptions Options(string name, string secret, params string[] seeds) =>
        new() { Name = name, Host = "127.0.0.1", Port = 0, ClusterSecret = secret, Seeds = seeds };

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
