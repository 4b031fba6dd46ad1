using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Noex.Lite.Tests;

/// <summary>
/// One example program (examples/&lt;Name&gt;) running as a real OS process, driven through its standard input and
/// read through its output, as a person at a terminal would. Killed on dispose if still alive.
/// </summary>
public sealed class ExampleProcess : IAsyncDisposable
{
    private static readonly string s_examples = typeof(ExampleProcess).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ExamplesOutput").Value!;

    // Generous, for a loaded machine: a wait that fails takes this long, a wait that succeeds returns at once.
    private static readonly TimeSpan s_patience = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly List<string> _lines = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _lineArrived = new(0);
    private int _eofs;

    private ExampleProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The example's project name, e.g. DistributedKv; also the label in failure messages.</summary>
    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the program printed so far, standard output and error interleaved as they arrived.</summary>
    public string[] Lines
    {
        get
        {
            lock (_lock)
            {
                return _lines.ToArray();
            }
        }
    }

    public string Output => string.Join('\n', Lines);

    /// <summary>The number of lines so far: pass it to <see cref="WaitForLineAsync(string, int)"/> to wait for a line printed after now.</summary>
    public int Mark
    {
        get
        {
            lock (_lock)
            {
                return _lines.Count;
            }
        }
    }

    /// <summary>Where examples/<paramref name="example"/> is built (its dll, its appsettings.json).</summary>
    public static string BuildOutput(string example) => s_examples.Replace("EXAMPLE", example, StringComparison.Ordinal);

    /// <summary>Starts examples/<paramref name="example"/> with <paramref name="args"/> (its built dll, run by dotnet).</summary>
    public static ExampleProcess Start(string example, params string[] args) => Start(example, new Dictionary<string, string>(), args);

    /// <summary>
    /// Starts examples/<paramref name="example"/> with <paramref name="args"/> and these environment variables added to
    /// this process's (configuration overrides such as <c>Noex__Port</c>).
    /// </summary>
    public static ExampleProcess Start(string example, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var dll = Path.Combine(BuildOutput(example), example + ".dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"the example is not built (the test project builds it through a ProjectReference): {dll}");
        }
        return Run(example, [.. s_defaultInterrupt, "dotnet", dll, .. args], environment);
    }

    /// <summary>
    /// How to start a program that Ctrl+C (SIGINT) must reach: through <c>env --default-signal=INT</c> when this process
    /// ignores SIGINT, as everything started in the background by a non-interactive shell does (<c>cmd &amp;</c>) and
    /// every child inherits; the runtime keeps a signal ignored at its start ignored, so the tests that stop an example
    /// with SIGINT waited out their 60 s. Empty otherwise, or where <c>env</c> cannot reset a signal.
    /// </summary>
    private static readonly string[] s_defaultInterrupt = InterruptIgnored() ? ["env", "--default-signal=INT"] : [];

    private static bool InterruptIgnored()
    {
        try
        {
            // SigIgn is a hexadecimal mask with bit (signal - 1) set for each ignored signal; SIGINT is 2.
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            if (line is null || (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & 0b10) == 0)
            {
                return false;
            }
            using var probe = Process.Start(new ProcessStartInfo("env", ["--default-signal=INT", "true"]) { RedirectStandardError = true })!;
            probe.WaitForExit();
            return probe.ExitCode == 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception or FormatException)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="command"/> (a program and its arguments, e.g. <c>ip netns exec NS dotnet app.dll</c>, which
    /// must exec the program in its own process) in <paramref name="workingDirectory"/>, with <paramref name="environment"/>
    /// added to this process's; named <paramref name="name"/> in failure messages. Settings this process inherited for a
    /// node or a web host (<c>Noex__*</c>, <c>ASPNETCORE_*</c>) are not passed on: the program sees only those given here.
    /// </summary>
    public static ExampleProcess Run(string name, IReadOnlyList<string> command, IReadOnlyDictionary<string, string> environment, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var inherited in start.Environment.Keys.Where(k => k.StartsWith("Noex__", StringComparison.OrdinalIgnoreCase)
                                                                    || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)).ToArray())
        {
            start.Environment.Remove(inherited);
        }
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        foreach (var arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }
        return new ExampleProcess(name, Process.Start(start)!);
    }

    /// <summary>Types a line, as at the prompt.</summary>
    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Closes standard input (the end of a piped script).</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits (up to 60 s, for a loaded machine) for a line at index <paramref name="since"/> or later that matches the regular expression.</summary>
    public Task<Match> WaitForLineAsync(string pattern, int since = 0) => WaitForMatchAsync(new Regex(pattern), since, s_patience);

    /// <summary>Waits for a line that contains <paramref name="text"/>, literally.</summary>
    public Task<Match> WaitForTextAsync(string text, int since = 0) => WaitForMatchAsync(new Regex(Regex.Escape(text)), since, s_patience);

    /// <summary>
    /// Types <paramref name="command"/> again every second (for up to 60 s) until a line printed after it matches
    /// <paramref name="pattern"/>: for what converges across the cluster, such as a name registered on another node.
    /// </summary>
    public async Task<Match> SendUntilAsync(string command, string pattern)
    {
        var regex = new Regex(pattern);
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (true)
        {
            var mark = Mark;
            await SendAsync(command);
            try
            {
                return await WaitForMatchAsync(regex, mark, TimeSpan.FromSeconds(1));
            }
            catch (TimeoutException) when (Stopwatch.GetTimestamp() < deadline)
            {
            }
        }
    }

    /// <summary>kill -9.</summary>
    public void Kill() => _process.Kill();

    /// <summary>Sends a signal by name (INT for Ctrl+C, TERM) with the kill command.</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", $"-{name} {_process.Id}");
        kill.WaitForExit();
    }

    /// <summary>Waits (up to 60 s) for the program to exit and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} did not exit within 60 s; it said:\n{Output}");
        }
        // Exit is observed before the last buffered lines are read; WaitForExit() without a timeout drains them.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
        _process.Dispose();
    }

    private void Add(string? line)
    {
        lock (_lock)
        {
            if (line is null)
            {
                _eofs++;
            }
            else
            {
                _lines.Add(line);
            }
        }
        _lineArrived.Release();
    }

    private async Task<Match> WaitForMatchAsync(Regex regex, int since, TimeSpan patience)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(patience.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            bool ended;
            lock (_lock)
            {
                for (var i = since; i < _lines.Count; i++)
                {
                    var match = regex.Match(_lines[i]);
                    if (match.Success)
                    {
                        return match;
                    }
                }
                // Both streams at their end: nothing more can come.
                ended = _eofs == 2;
            }
            if (ended)
            {
                throw new InvalidOperationException($"{Name} (pid {_process.Id}) exited without printing a line matching /{regex}/; it said:\n{Output}");
            }
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{Name} (pid {_process.Id}) printed no line matching /{regex}/ within {patience.TotalSeconds} s; it said:\n{Output}");
            }
            await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(500));
        }
    }
}
