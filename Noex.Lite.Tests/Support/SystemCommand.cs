using System.Diagnostics;

namespace Noex.Lite.Tests;

/// <summary>
/// Runs the host's own tools (<c>ip</c>, <c>nft</c>, <c>kill</c>) for the network harness: found on PATH or in the sbin
/// directories (root's PATH does not always have them), with their output captured and a bound on how long they take.
/// </summary>
internal static class SystemCommand
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(30);
    private static readonly string[] s_systemDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    /// <summary>What a command did: its exit code and what it printed.</summary>
    public sealed record Result(string Command, int ExitCode, string Output, string Error)
    {
        public bool Succeeded => ExitCode == 0;

        public override string ToString() => $"`{Command}` exited {ExitCode}: {Error.Trim()}{Output.Trim()}";
    }

    /// <summary>The full path of the program <paramref name="name"/>, or null if it is not installed.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(s_systemDirectories)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs <paramref name="program"/> (a name, looked up with <see cref="Find"/>) and waits for it.</summary>
    public static Result Run(string program, IEnumerable<string> args, string? input = null)
    {
        var path = Find(program) ?? throw new InvalidOperationException($"{program} is not installed");
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        var command = $"{program} {string.Join(' ', start.ArgumentList)}";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"`{command}` did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        if (!process.WaitForExit(s_bound))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{command}` took more than {s_bound.TotalSeconds} s");
        }
        return new Result(command, process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
    }

    /// <summary>Runs a command that must succeed; throws with what it printed if it does not.</summary>
    public static string Check(string program, params string[] args) => Check(program, args, null);

    /// <summary>Runs a command, with <paramref name="input"/> on its standard input, that must succeed.</summary>
    public static string Check(string program, IEnumerable<string> args, string? input)
    {
        var result = Run(program, args, input);
        return result.Succeeded ? result.Output : throw new InvalidOperationException(result.ToString());
    }
}
