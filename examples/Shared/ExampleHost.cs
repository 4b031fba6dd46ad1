using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace Noex.Lite.Examples;

// What every example program needs and none of them is about: its command line, a node started with clear
// messages instead of stack traces, a command loop over standard input (terminal or pipe), and a graceful
// stop on Ctrl+C, SIGTERM, /quit or the end of input. Linked into each example as source, so that each
// example stays one project with one ProjectReference (to Noex.Lite).

/// <summary>The examples' shared command line: <c>--name/-n</c>, <c>--port/-p</c>, repeatable <c>--seed/-s</c>, <c>--secret</c>.</summary>
internal sealed class ExampleArgs
{
    public string Name { get; set; } = "";

    public int Port { get; set; } = 4369;

    /// <summary>Whether <c>--port</c> was given (a preset fills in only what was not).</summary>
    public bool PortGiven { get; private set; }

    public List<string> Seeds { get; } = new();

    public string? Secret { get; set; }

    /// <summary>Program-specific flags (each takes one value), by their long name.</summary>
    public Dictionary<string, string> Extra { get; } = new(StringComparer.Ordinal);

    /// <summary>Arguments that are not flags (a mode such as <c>coordinator</c>).</summary>
    public List<string> Positional { get; } = new();

    /// <summary>
    /// Parses <paramref name="args"/>. On a bad flag it prints the problem and <paramref name="usage"/> to standard
    /// error and returns null; the caller exits with code 2.
    /// </summary>
    public static ExampleArgs? Parse(string[] args, string usage, params string[] extraFlags)
    {
        var parsed = new ExampleArgs();
        for (var i = 0; i < args.Length; i++)
        {
            var flag = args[i];
            if (flag is "--help" or "-h")
            {
                Console.Out.WriteLine(usage);
                Environment.Exit(0);
            }
            if (!flag.StartsWith('-'))
            {
                parsed.Positional.Add(flag);
                continue;
            }
            var known = flag is "--name" or "-n" or "--port" or "-p" or "--seed" or "-s" or "--secret" || extraFlags.Contains(flag);
            if (!known)
            {
                return Fail($"unknown option '{flag}'", usage);
            }
            if (i + 1 >= args.Length)
            {
                return Fail($"option '{flag}' needs a value", usage);
            }
            var value = args[++i];
            switch (flag)
            {
                case "--name" or "-n":
                    parsed.Name = value;
                    break;
                case "--port" or "-p":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
                    {
                        return Fail($"--port '{value}' is not a port number (0-65535; 0 picks a free one)", usage);
                    }
                    parsed.Port = port;
                    parsed.PortGiven = true;
                    break;
                case "--seed" or "-s":
                    if (!NodeId.TryParse(value, out _))
                    {
                        return Fail($"--seed '{value}' is not name@host:port", usage);
                    }
                    parsed.Seeds.Add(value);
                    break;
                case "--secret":
                    parsed.Secret = value;
                    break;
                default:
                    parsed.Extra[flag] = value;
                    break;
            }
        }
        return parsed;
    }

    /// <summary>Prints a command-line problem and the usage to standard error; returns null for <see cref="Parse"/>.</summary>
    public static ExampleArgs? Fail(string problem, string usage)
    {
        Console.Error.WriteLine($"error: {problem}");
        Console.Error.WriteLine(usage);
        return null;
    }
}

/// <summary>Starting, watching and stopping the example's node, with messages a person can act on.</summary>
internal static class ExampleNode
{
    /// <summary>
    /// Starts the node of <paramref name="args"/>. A bad option or a busy port prints a one-line reason to standard
    /// error and returns null; the caller exits with code 1.
    /// </summary>
    public static async Task<Node?> StartAsync(ExampleArgs args, Func<NodeOptions, NodeOptions>? configure = null)
    {
        var options = new NodeOptions
        {
            Name = args.Name,
            Host = "127.0.0.1",
            Port = args.Port,
            Seeds = args.Seeds,
            ClusterSecret = args.Secret,
            // Seeds that are not up yet are redialled quickly, so nodes can be started in any order.
            ReconnectMaxDelay = TimeSpan.FromSeconds(2),
        };
        options = configure?.Invoke(options) ?? options;
        try
        {
            var node = await Node.StartAsync(options);
            node.HandshakeFailed += e => Console.Error.WriteLine($"[CLUSTER] Handshake failed: {e.Message} (do both nodes use the same --secret?)");
            return node;
        }
        catch (InvalidClusterConfigException e)
        {
            var flag = e.Option switch { "Name" => "--name", "Port" => "--port", "Seeds" => "--seed", _ => e.Option };
            Console.Error.WriteLine($"error: invalid {flag}: {e.Reason}");
        }
        catch (NoexException e) when (e.InnerException is System.Net.Sockets.SocketException socket)
        {
            Console.Error.WriteLine(socket.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse
                ? $"error: port {args.Port} is busy (another node or program is using it); pick another with --port"
                : $"error: cannot listen on port {args.Port}: {socket.SocketErrorCode}");
        }
        return null;
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for at least one seed to join. If none answers, says so (the node keeps
    /// trying in the background) and returns false.
    /// </summary>
    /// <remarks>
    /// It waits for the node-up event rather than the connection, so that the program's own "joined" line, from a
    /// handler subscribed earlier, is printed before whatever the program prints next.
    /// </remarks>
    public static async Task<bool> WaitForSeedsAsync(Node node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var seeds = node.Options.Seeds.Select(NodeId.Parse).Where(s => s != node.Id).ToArray();
        if (seeds.Length == 0)
        {
            return true;
        }
        var joined = 0;
        void OnUp(NodeInfo info)
        {
            if (seeds.Contains(info.Id))
            {
                Volatile.Write(ref joined, 1);
            }
        }
        node.NodeUp += OnUp;
        try
        {
            var deadline = DateTime.UtcNow + timeout;
            // A seed connected before this subscribed has had its event already: the connection alone then counts,
            // after a moment, in case the event is still on its way.
            var connectedSince = DateTime.MaxValue;
            while (Volatile.Read(ref joined) == 0)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return false;
                }
                if (seeds.Any(node.IsConnected))
                {
                    connectedSince = connectedSince == DateTime.MaxValue ? DateTime.UtcNow : connectedSince;
                    if (DateTime.UtcNow - connectedSince > TimeSpan.FromSeconds(1))
                    {
                        return true;
                    }
                }
                if (DateTime.UtcNow > deadline)
                {
                    Console.Error.WriteLine($"[CLUSTER] Cannot reach seed {string.Join(", ", seeds.Select(s => s.ToString()))} " +
                        "(is it running, and are its name, host and port right?); still trying in the background.");
                    return false;
                }
                await Task.Delay(20, CancellationToken.None);
            }
            return true;
        }
        finally
        {
            node.NodeUp -= OnUp;
        }
    }

    /// <summary>A node-down reason as printed: <c>graceful_shutdown</c>, <c>connection_closed</c>, ...</summary>
    public static string Snake(NodeDownReason reason) =>
        string.Concat(reason.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>An exit reason as printed: <c>normal</c>, <c>noconnection</c>, <c>error: ...</c>.</summary>
    public static string Describe(ExitReason reason) => reason.Kind switch
    {
        ExitReasonKind.Error => $"error: {reason.Message}",
        var kind => kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// The program's lifetime: a token cancelled by Ctrl+C or SIGTERM, and a command loop over standard input that ends
/// on <c>/quit</c>, the end of input (a pipe closed) or that token.
/// </summary>
internal sealed class ExampleLifetime : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _inputEnded = new();
    private readonly CancellationTokenSource _stopOrEnd;
    private readonly PosixSignalRegistration[] _signals;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();

    public ExampleLifetime()
    {
        _stopOrEnd = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _inputEnded.Token);
        // Cancel = true keeps the runtime from exiting at once: the program stops its node gracefully first.
        _signals =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
        ];
        // Console reads block and cannot be cancelled, so one background thread feeds a channel that the command loop
        // races against the stop token; at exit the thread is simply abandoned (it is a background thread).
        var reader = new Thread(() =>
        {
            try
            {
                while (Console.In.ReadLine() is { } line)
                {
                    _lines.Writer.TryWrite(line);
                }
            }
            catch (IOException)
            {
            }
            _lines.Writer.TryComplete();
            _inputEnded.Cancel();
        })
        { IsBackground = true, Name = "stdin" };
        reader.Start();
    }

    /// <summary>Cancelled on Ctrl+C or SIGTERM, or by <see cref="Stop"/>.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>Cancelled as <see cref="Stopping"/> is, and also when standard input ends: for waits before the command loop.</summary>
    public CancellationToken StoppingOrInputEnded => _stopOrEnd.Token;

    /// <summary>Whether standard input is a terminal (then a prompt is shown).</summary>
    public static bool Interactive => !Console.IsInputRedirected;

    /// <summary>Ends the program's wait as a signal would.</summary>
    public void Stop() => _stop.Cancel();

    /// <summary>
    /// Reads commands until <c>/quit</c>, the end of input or a signal, passing each non-empty line to
    /// <paramref name="handle"/>. Lines already read when the input ends are still run. Errors from a command are
    /// printed, not thrown: one bad command does not end the program.
    /// </summary>
    public async Task RunCommandsAsync(Func<string, Task> handle)
    {
        while (!_stop.IsCancellationRequested)
        {
            Prompt();
            string? line;
            try
            {
                if (!_lines.Reader.TryRead(out line) && (!await _lines.Reader.WaitToReadAsync(_stop.Token) || !_lines.Reader.TryRead(out line)))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            line = line.Trim();
            if (line.Length == 0)
            {
                continue;
            }
            if (line is "/quit" or "/exit")
            {
                return;
            }
            try
            {
                await handle(line);
            }
            catch (Exception e) when (e is NoexException or InvalidOperationException or ArgumentException or FormatException or TimeoutException)
            {
                Console.WriteLine($"Error: {e.Message}");
            }
        }
    }

    /// <summary>Waits for a signal (for programs without commands), or the end of input when it is a pipe.</summary>
    public Task WaitAsync() => RunCommandsAsync(line =>
    {
        Console.WriteLine($"(this program takes no commands; /quit or Ctrl+C stops it)");
        return Task.CompletedTask;
    });

    public void Dispose()
    {
        foreach (var signal in _signals)
        {
            signal.Dispose();
        }
        // The reader thread may still cancel _inputEnded, so the sources are left to the finalizer rather than disposed.
    }

    private static void Prompt()
    {
        if (Interactive)
        {
            Console.Write("> ");
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Cancel();
    }
}
