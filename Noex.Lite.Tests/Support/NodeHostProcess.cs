using System.Diagnostics;
using System.Reflection;

namespace Noex.Lite.Tests;

/// <summary>Starts this suite's node program, NodeHost (its commands are in NodeHost/Program.cs), as a <see cref="NodeProcess"/>.</summary>
internal static class NodeHostProcess
{
    private static readonly string s_hostPath = typeof(NodeHostProcess).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NodeHostPath").Value!;

    /// <summary>Starts NodeHost with <paramref name="args"/> and waits until its node is ready.</summary>
    public static Task<NodeProcess> StartAsync(params string[] args) => NodeProcess.StartDotnetAsync(s_hostPath, args);

    /// <summary>
    /// Starts NodeHost under a command that runs the rest of its command line (<c>ip netns exec NS</c>): the prefix, then
    /// <c>dotnet NodeHost.dll</c> and <paramref name="args"/>.
    /// </summary>
    public static Task<NodeProcess> StartUnderAsync(IReadOnlyList<string> prefix, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(prefix[0]);
        foreach (var arg in prefix.Skip(1).Append("dotnet").Append(s_hostPath).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }
        return NodeProcess.StartAsync(start);
    }
}
