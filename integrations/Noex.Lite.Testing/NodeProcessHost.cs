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
        string? line;
        while ((line = await input.ReadLineAsync().ConfigureAwait(false)) is not null && line != "stop")
        {
            if (handle is not null)
            {
                await handle(line, output).ConfigureAwait(false);
            }
        }
        await node.StopAsync().ConfigureAwait(false);
        Print(output, "STOPPED");
    }

    /// <summary>Writes a line and flushes it at once: the test on the other end waits for it.</summary>
    private static void Print(TextWriter output, string line)
    {
        output.WriteLine(line);
        output.Flush();
    }
}
