namespace Noex.Lite.Tests;

/// <summary>
/// examples/DistributedChat as seed 003 runs it: Alice on node1 creates and joins "general", Bob on node2 finds it,
/// joins (and sees what was said before), and both see every message in the seed's format; a room on a node that is
/// killed disappears, and a user whose node is killed leaves the room.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class DistributedChatTests
{
    private const string Time = @"\[\d\d:\d\d:\d\d\]";

    [Fact]
    public async Task TwoUsers_OnTwoNodes_TalkInOneRoom()
    {
        await using var node1 = ExampleProcess.Start("DistributedChat", "--name", "node1", "--port", "0");
        var id1 = (await node1.WaitForLineAsync(@"^Distributed Chat on (node1@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await using var node2 = ExampleProcess.Start("DistributedChat", "--name", "node2", "--port", "0", "--seed", id1);
        var id2 = (await node2.WaitForLineAsync(@"^Distributed Chat on (node2@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await node2.WaitForTextAsync($"Node joined: {id1}");
        await node1.WaitForTextAsync($"Node joined: {id2}");

        await node1.SendAsync("/join general");
        await node1.WaitForTextAsync("Set your username first with /name <username>.");
        await node1.SendAsync("/name Alice");
        await node1.WaitForTextAsync("Username set to: Alice");
        await node1.SendAsync("/create general");
        await node1.WaitForTextAsync("Room \"general\" created successfully.");
        await node1.SendAsync("/join general");
        await node1.WaitForTextAsync("Joined room \"general\". Type messages directly or use /msg.");
        await node1.SendAsync("Hello from node1!");
        await node1.WaitForLineAsync($"^{Time} \\[general\\] Alice: Hello from node1!$");

        await node2.SendAsync("/name Bob");
        await node2.WaitForTextAsync("Username set to: Bob");
        await node2.SendUntilAsync("/rooms", $@"^  - general \(on {Escape(id1)}\)$");
        var joined = node2.Mark;
        await node2.SendAsync("/join general");
        await node2.WaitForTextAsync("Joined room \"general\". Type messages directly or use /msg.", joined);
        // What Alice said before Bob came, after the joined line, as in the seed's transcript.
        await node2.WaitForLineAsync($"^{Time} \\[general\\] Alice: Hello from node1!$", joined + 1);

        await node2.SendAsync("Hi Alice! I'm on node2.");
        await node2.WaitForLineAsync($"^{Time} \\[general\\] Bob: Hi Alice! I'm on node2\\.$");
        await node1.WaitForLineAsync($"^{Time} \\[general\\] Bob: Hi Alice! I'm on node2\\.$");
        await node1.SendAsync("/msg and /msg works too");
        await node2.WaitForLineAsync($"^{Time} \\[general\\] Alice: and /msg works too$");

        await node1.SendAsync("/users");
        await node1.WaitForTextAsync("Users in \"general\" (2):");
        await node1.WaitForTextAsync($"  - Bob ({id2})");
        await node1.WaitForTextAsync($"  - Alice ({id1})");

        // A room on the other node, and a name already taken there.
        await node1.SendAsync("/create lobby on node2");
        await node1.WaitForTextAsync($"Room \"lobby\" created successfully on {id2}.");
        await node2.SendUntilAsync("/rooms", $@"^  - lobby \(on {Escape(id2)}\)$");
        await node2.SendAsync("/name Alice");
        await node2.SendAsync("/join general");
        await node2.WaitForTextAsync("The name \"Alice\" is taken in \"general\"; pick another with /name.");

        // kill -9 node2: its room goes from the registry, and the room on node1 drops its user.
        var mark = node1.Mark;
        node2.Kill();
        await node1.WaitForLineAsync($@"^Node left: {Escape(id2)} \((connection_closed|connection_reset)\)$", mark);
        await node1.SendUntilAsync("/rooms", $@"^  - general \(on {Escape(id1)}\)$");
        Assert.DoesNotContain($"  - lobby (on {id2})", node1.Lines.Skip(mark));
        await node1.SendUntilAsync("/users", @"^Users in ""general"" \(1\):$");
        await node1.SendAsync("/leave");
        await node1.WaitForTextAsync("Left room \"general\".");

        await node1.SendAsync("/quit");
        Assert.Equal(0, await node1.WaitForExitAsync());
        Assert.DoesNotContain(node1.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    private static string Escape(string text) => System.Text.RegularExpressions.Regex.Escape(text);
}
