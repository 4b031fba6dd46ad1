namespace Noex.Lite.Testing;

/// <summary>
/// The node's side of <see cref="NodeProcess"/>: a test's node program calls <see cref="RunAsync"/> once its node has
/// started, and a test in another process can then wait for it, watch it, command it, stop it or kill it.
/// </summary>
/// <remarks>
/// The lines, one per event, on standard output: <c>READY &lt;id&gt; &lt;incarnation&gt;</c> first, then
/// <c>UP &lt;id&gt;</c>, <c>DOWN &lt;id&gt; &lt;reason&gt;</c>, <c>REMOVED &lt;id&gt; &lt;reason&gt;</c> and
/// <c>HANDSHAKE-FAILED &lt;peer&gt; &lt;failure&gt;</c> as they happen, and <c>STOPPED</c> last. Every line of standard
/// input goes to the program's own command handler, except <c>stop</c>, which stops the node gracefully, as the end of
/// input does (the test process went away).
/// </remarks>
public static class NodeProcessHost
{
    /// <summary>
    /// Reports <paramref name="node"/>'s events on <paramref name="output"/> (standard output by default), hands each
    /// command line from <paramref name="input"/> (standard input by default) to <paramref name="handle"/> until
    /// <c>stop</c> or the end of input, then stops the node gracefully.
    /// </summary>
    public static async Task RunAsync(Node node, Func<string, TextWriter, Task>? handle = null, TextReader? input = null, TextWriter? output = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        input ??= Console.In;
        // Events arrive on the library's threads while commands print on this one: one line at a time, whole.
        output = TextWriter.Synchronized(output ?? Console.Out);
        node.NodeUp += info => Print(output, $"UP {info.Id}");
        node.NodeDown += down => Print(output, $"DOWN {down.Node} {down.Reason}");
        node.NodeRemoved += removed => Print(output, $"REMOVED {removed.Node} {removed.Reason}");
        node.HandshakeFailed += failed =>
            Print(output, $"HANDSHAKE-FAILED {failed.Peer?.ToString() ?? failed.RemoteEndPoint?.ToString()} {failed.Failure}");
        Print(output, $"READY {node.Id} {node.Incarnation}");
        var lines = ReadInBackground(input);
        while (await lines.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!lines.TryRead(out var line))
            {
                continue;
            }
            if (line == "stop")
            {
                break;
            }
            if (handle is not null)
            {
                await handle(line, output).ConfigureAwait(false);
            }
        }
        await node.StopAsync().ConfigureAwait(false);
        Print(output, "STOPPED");
    }

    /// <summary>
    /// The lines of <paramref name="input"/>, read on a thread of their own. Console input blocks even through its async
    /// methods, and the loop above goes on wherever its last command's await completed, often a connection's read thread
    /// (a remote call's reply): a read there held that thread until the next command came, and the node's watchdog moved
    /// the connection's reading to a new thread for every command (<c>noex.transport.reader_takeovers</c>).
    /// </summary>
    private static System.Threading.Channels.ChannelReader<string> ReadInBackground(TextReader input)
    {
        var lines = System.Threading.Channels.Channel.CreateUnbounded<string>(
            new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var reader = new Thread(() =>
        {
            try
            {
                while (input.ReadLine() is { } line)
                {
                    lines.Writer.TryWrite(line);
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The input went away: as its end.
            }
            lines.Writer.TryComplete();
        })
        { IsBackground = true, Name = "noex commands" };
        reader.Start();
        return lines.Reader;
    }

    /// <summary>Writes a line and flushes it at once: the test on the other end waits for it.</summary>
    private static void Print(TextWriter output, string line)
    {
        output.WriteLine(line);
        output.Flush();
    }
}
