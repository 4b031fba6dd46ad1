using Noex.Lite;

/// <summary>
/// NodeHost's view of its cluster for the network tests: <c>peers &lt;tag&gt;</c> prints
/// <c>PEERS &lt;tag&gt; &lt;node-id&gt;...</c>, the nodes connected now, sorted (the tag tells one answer from another).
/// </summary>
internal static class PeerCommands
{
    public static bool TryHandle(Node node, string line, TextWriter output)
    {
        var parts = line.Split(' ');
        if (parts is not ["peers", var tag])
        {
            return false;
        }
        var peers = node.GetConnectedNodes().Select(n => n.Id.ToString()).Order(StringComparer.Ordinal);
        output.WriteLine($"PEERS {tag} {string.Join(' ', peers)}".TrimEnd());
        output.Flush();
        return true;
    }
}
