using System.Globalization;
using Noex.Lite;
using Noex.Lite.Examples;

// A chat. Rooms are processes spawned on any node and registered cluster-wide as "room:<name>"; each terminal has a
// user process that the room casts messages to, wherever the room and the users live.
const string Usage = """
    Usage: DistributedChat --name <node name> [--port <port>] [--seed <name@host:port>]... [--secret <secret>]
      e.g. DistributedChat --name node1 --port 4369
           DistributedChat --name node2 --port 4370 --seed node1@127.0.0.1:4369
    """;
var config = ExampleArgs.Parse(args, Usage);
if (config is null)
{
    return 2;
}
if (config.Name.Length == 0)
{
    ExampleArgs.Fail("--name is required", Usage);
    return 2;
}

using var lifetime = new ExampleLifetime();
var node = await ExampleNode.StartAsync(config);
if (node is null)
{
    return 1;
}
await using (node)
{
    node.Behaviors.Register(Session.Behavior, () => new ChatRoom());
    node.NodeUp += info => Console.WriteLine($"Node joined: {info.Id}");
    node.NodeDown += down => Console.WriteLine($"Node left: {down.Node} ({ExampleNode.Snake(down.Reason)})");
    var user = await node.Runtime.StartAsync(new ChatUser());
    Console.WriteLine($"Distributed Chat on {node.Id}");
    Console.WriteLine("Set your name with /name <username>, then /create or /join a room. Type /help for commands.");
    await ExampleNode.WaitForSeedsAsync(node, TimeSpan.FromSeconds(5), lifetime.Stopping);

    var session = new Session(node, user);
    await lifetime.RunCommandsAsync(session.HandleAsync);
    await session.LeaveAsync(quiet: true);
    Console.WriteLine("Shutting down...");
    await node.StopAsync();
}
return 0;

/// <summary>One terminal's state: its username and the room it is in, and the commands that change them.</summary>
internal sealed class Session(Node node, ProcessRef user)
{
    /// <summary>The rooms' behaviour name, registered on every node so that a room can be spawned anywhere.</summary>
    public const string Behavior = "chat:room";

    // Rooms are registered cluster-wide as room:<name>.
    private const string Prefix = "room:";

    private string? _name;
    // The room we are in, and the username we joined it as (leaving uses that one, even after a /name).
    private (string Name, ProcessRef Ref, string User)? _room;

    public async Task HandleAsync(string line)
    {
        if (!line.StartsWith('/'))
        {
            await SayAsync(line);
            return;
        }
        var words = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
        var rest = words.Length > 1 ? words[1].Trim() : "";
        switch (words[0])
        {
            case "/help":
                Help();
                break;
            case "/name" when rest.Length > 0 && !rest.Contains(' '):
                _name = rest;
                Console.WriteLine($"Username set to: {_name}");
                break;
            case "/create" when rest.Length > 0:
                var parts = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts is [_] or [_, "on", _])
                {
                    await CreateAsync(parts[0], parts.Length == 3 ? parts[2] : null);
                }
                else
                {
                    Console.WriteLine("Usage: /create <room> [on <node>]");
                }
                break;
            case "/join" when rest.Length > 0:
                await JoinAsync(rest);
                break;
            case "/leave":
                await LeaveAsync(quiet: false);
                break;
            case "/msg" when rest.Length > 0:
                await SayAsync(rest);
                break;
            case "/users":
                await UsersAsync();
                break;
            case "/rooms":
                Rooms();
                break;
            case "/nodes":
                Nodes();
                break;
            default:
                Console.WriteLine($"Unknown command or missing argument: {line} (type /help)");
                break;
        }
    }

    public async Task LeaveAsync(bool quiet)
    {
        if (_room is not { } room)
        {
            if (!quiet)
            {
                Console.WriteLine("You are not in a room.");
            }
            return;
        }
        _room = null;
        try
        {
            await node.Runtime.CallAsync(room.Ref, Value.Object(("type", "leave"), ("user", room.User)));
        }
        catch (NoexException) when (quiet)
        {
            // Leaving on the way out: the room may already be gone with its node.
        }
        if (!quiet)
        {
            Console.WriteLine($"Left room \"{room.Name}\".");
        }
    }

    private static void Help()
    {
        Console.WriteLine("""
            Commands:
              /help                     Show this help
              /name <username>          Set your username (required before joining)
              /create <room>            Create a chat room on this node
              /create <room> on <node>  Create a room on another node (node2 or node2@127.0.0.1:4370)
              /join <room>              Join an existing room
              /leave                    Leave the current room
              /msg <text>               Send a message (or just type it)
              /users                    List the users in the current room
              /rooms                    List all rooms across the cluster
              /nodes                    List the connected nodes
              /quit                     Disconnect and exit
            """);
    }

    private async Task CreateAsync(string room, string? on)
    {
        if (node.GlobalRegistry.Whereis(Prefix + room) is { } existing)
        {
            Console.WriteLine($"Room \"{room}\" already exists (on {existing.Node}).");
            return;
        }
        var candidates = node.GetConnectedNodes().Select(n => n.Id).Prepend(node.Id).ToArray();
        var target = on is null ? node.Id : candidates.FirstOrDefault(id => id.ToString() == on) ?? candidates.FirstOrDefault(id => id.Name == on);
        if (target is null)
        {
            Console.WriteLine($"Unknown node \"{on}\". Connected: {string.Join(", ", candidates.Select(c => c.ToString()))}");
            return;
        }
        await node.SpawnAsync(Behavior, target, new SpawnOptions
        {
            Name = Prefix + room,
            Registration = SpawnRegistration.Global,
            Args = Value.Object(("name", room)),
        });
        Console.WriteLine(target == node.Id ? $"Room \"{room}\" created successfully." : $"Room \"{room}\" created successfully on {target}.");
    }

    private async Task JoinAsync(string room)
    {
        if (_name is null)
        {
            Console.WriteLine("Set your username first with /name <username>.");
            return;
        }
        if (node.GlobalRegistry.Whereis(Prefix + room) is not { } roomRef)
        {
            Console.WriteLine($"Room \"{room}\" not found. Use /rooms to list the rooms.");
            return;
        }
        var reply = await node.Runtime.CallAsync(roomRef, Value.Object(("type", "join"), ("user", _name), ("node", user.Node), ("id", user.Id)));
        if (reply.TryGetProperty("error", out var error))
        {
            Console.WriteLine((string?)error);
            return;
        }
        // Joined the new room (or the same one under a new name): only now leave what we were in before.
        if (_room is { } before && (before.Ref != roomRef || before.User != _name))
        {
            await LeaveAsync(quiet: true);
        }
        _room = (room, roomRef, _name);
        Console.WriteLine($"Joined room \"{room}\". Type messages directly or use /msg.");
        // What was said before we came, in the same format as what is said from now on.
        foreach (var message in reply["history"].AsArray())
        {
            ChatUser.Print(message);
        }
    }

    private Task SayAsync(string text)
    {
        if (_room is not { } room)
        {
            Console.WriteLine("Join a room first with /join <room>.");
            return Task.CompletedTask;
        }
        node.Runtime.Cast(room.Ref, Value.Object(("type", "broadcast"), ("user", room.User), ("text", text)));
        return Task.CompletedTask;
    }

    private async Task UsersAsync()
    {
        if (_room is not { } room)
        {
            Console.WriteLine("You are not in a room.");
            return;
        }
        var users = await node.Runtime.CallAsync(room.Ref, Value.Object(("type", "users")));
        Console.WriteLine($"Users in \"{room.Name}\" ({users.Count}):");
        foreach (var entry in users.AsArray())
        {
            Console.WriteLine($"  - {(string?)entry["user"]} ({(string?)entry["node"]})");
        }
    }

    private void Rooms()
    {
        var rooms = node.GlobalRegistry.GetNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        if (rooms.Length == 0)
        {
            Console.WriteLine("No rooms yet. Create one with /create <room>.");
            return;
        }
        Console.WriteLine("Available rooms:");
        foreach (var name in rooms)
        {
            if (node.GlobalRegistry.Whereis(name) is { } room)
            {
                Console.WriteLine($"  - {name[Prefix.Length..]} (on {room.Node})");
            }
        }
    }

    private void Nodes()
    {
        Console.WriteLine($"This node: {node.Id}");
        var others = node.GetConnectedNodes();
        if (others.Count == 0)
        {
            Console.WriteLine("No other nodes connected.");
            return;
        }
        Console.WriteLine("Connected nodes:");
        foreach (var info in others)
        {
            Console.WriteLine($"  - {info.Id}");
        }
    }
}

/// <summary>
/// A room (the behaviour "chat:room"): its members by username, and the last messages for those who join later.
/// It monitors its members, so a user whose node dies leaves the room by itself.
/// </summary>
internal sealed class ChatRoom : GenServer<ChatRoom.RoomState>
{
    private const int HistoryLength = 20;

    protected override ValueTask<RoomState> InitAsync(Value args, CancellationToken cancellationToken) =>
        new(new RoomState((string?)args["name"] ?? "room"));

    protected override ValueTask<CallResult<RoomState>> HandleCallAsync(Value request, CallFrom from, RoomState room)
    {
        Value reply;
        switch ((string?)request["type"])
        {
            case "join":
                var user = (string)request["user"]!;
                var member = new ProcessRef((string)request["node"]!, request["id"].AsInt64());
                if (room.Members.TryGetValue(user, out var taken) && taken.Ref != member)
                {
                    reply = Value.Object(("error", $"The name \"{user}\" is taken in \"{room.Name}\"; pick another with /name."));
                    break;
                }
                if (taken.Ref != member)
                {
                    room.Members[user] = (member, Runtime.Monitor(Self, member));
                }
                reply = Value.Object(("history", Value.Array(room.History)));
                break;
            case "leave":
                if (room.Members.Remove((string)request["user"]!, out var left))
                {
                    Runtime.Demonitor(left.Monitor);
                }
                reply = true;
                break;
            case "users":
                reply = Value.Array(room.Members.Select(m => Value.Object(("user", m.Key), ("node", m.Value.Ref.Node))));
                break;
            default:
                throw new ArgumentException($"unknown call '{(string?)request["type"]}'");
        }
        return new(CallResult<RoomState>.WithReply(reply, room));
    }

    protected override ValueTask<RoomState> HandleCastAsync(Value message, RoomState room)
    {
        if ((string?)message["type"] == "broadcast")
        {
            var line = Value.Object(
                ("type", "message"),
                ("room", room.Name),
                ("user", message["user"]),
                ("text", message["text"]),
                ("time", DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)));
            room.History.Enqueue(line);
            if (room.History.Count > HistoryLength)
            {
                room.History.Dequeue();
            }
            foreach (var (_, member) in room.Members)
            {
                Runtime.Cast(member.Ref, line);
            }
        }
        return new(room);
    }

    protected override ValueTask<RoomState> HandleInfoAsync(InfoMessage info, RoomState room)
    {
        if (info.Kind == InfoKind.Down && room.Members.FirstOrDefault(m => m.Value.Monitor.Id == info.Monitor.Id) is { Key: { } gone })
        {
            room.Members.Remove(gone);
        }
        return new(room);
    }

    /// <summary>The room's name, members (username to process and monitor) and recent messages.</summary>
    internal sealed record RoomState(string Name)
    {
        public Dictionary<string, (ProcessRef Ref, MonitorRef Monitor)> Members { get; } = new(StringComparer.Ordinal);

        public Queue<Value> History { get; } = new();
    }
}

/// <summary>This terminal's user: the process rooms cast messages to; it prints them.</summary>
internal sealed class ChatUser : GenServer<int>
{
    /// <summary>Prints a message as <c>[HH:MM:SS] [room] user: text</c>.</summary>
    public static void Print(Value message) =>
        Console.WriteLine($"[{(string?)message["time"]}] [{(string?)message["room"]}] {(string?)message["user"]}: {(string?)message["text"]}");

    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<int> HandleCastAsync(Value message, int received)
    {
        if ((string?)message["type"] == "message")
        {
            Print(message);
        }
        return new(received + 1);
    }
}
