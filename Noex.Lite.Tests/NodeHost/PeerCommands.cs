using Noex.Lite;

/// <summary>
/// NodeHost's view of its cluster for the network tests: <c>peers &lt;tag&gt;</c> prints
/// <c>PEERS &lt;tag&gt; &lt;node-id&gt;...</c>, the nodes connected now, and <c>members &lt;tag&gt;</c> prints
/// <c>MEMBERS &lt;tag&gt; &lt;node-id&gt;...</c>, every node it knows of, connected or not; both sorted (the tag tells one
/// answer from another).
/// </summary>
internal static class PeerCommands
{
    public static bool TryHandle(Node node, string line, TextWriter output)
    {
        var parts = line.Split(' ');
        var (nodes, answer) = parts switch
        {
            ["peers", _] => (node.GetConnectedNodes(), "PEERS"),
            ["members", _] => (node.GetNodes(), "MEMBERS"),
            _ => (null, ""),
        };
        if (nodes is null)
        {
            return false;
        }
        var ids = nodes.Select(n => n.Id.ToString()).Order(StringComparer.Ordinal);
        output.WriteLine($"{answer} {parts[1]} {string.Join(' ', ids)}".TrimEnd());
        output.Flush();
        return true;
    }
}
