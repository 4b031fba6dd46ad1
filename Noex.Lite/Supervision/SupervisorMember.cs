namespace Noex.Lite;

/// <summary>
/// The process of one member of a named supervisor: the active member's is what the name points at, so that any node
/// reaches the supervisor with calls (<see cref="DistributedSupervisorRef"/>), and standbys receive the active member's
/// state as casts (protocol.md §5.6, "Named supervisors").
/// </summary>
/// <remarks>
/// A call is handed to the supervisor's loop and answered from there, so the process never waits: a join or a state
/// arriving meanwhile is taken at once and queued on the loop behind the call.
/// </remarks>
internal sealed class SupervisorMember(DistributedSupervisor supervisor) : GenServer<int>
{
    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state)
    {
        _ = AnswerAsync(request, from);
        return new(CallResult<int>.NoReply(state));
    }

    protected override ValueTask<int> HandleCastAsync(Value message, int state)
    {
        supervisor.OnMemberCast(message);
        return new(state);
    }

    private async Task AnswerAsync(Value request, CallFrom from)
    {
        Value reply;
        try
        {
            reply = Value.Object(("ok", await supervisor.AnswerCallAsync(request).ConfigureAwait(false)));
        }
        catch (Exception e)
        {
            reply = SupervisorErrors.ToValue(e);
        }
        from.Reply(reply);
        if (reply.TryGetProperty("ok", out _) && request.TryGetProperty("op", out var op) && op.TryGetString(out var text) && text == "stop")
        {
            supervisor.StopGroup();
        }
    }
}

/// <summary>
/// The typed errors of a named supervisor's calls as they cross the wire (<c>{"error": kind, "message": text, ...}</c>)
/// and back, so that a caller on another node gets the exception a local caller would.
/// </summary>
internal static class SupervisorErrors
{
    /// <summary>The answer of a standby: the caller looks the name up again and retries.</summary>
    public const string NotActive = "not_active";

    public static Value ToValue(Exception e) => e switch
    {
        DistributedChildNotFoundException x => Error("not_found", x, ("child", x.ChildId)),
        DistributedDuplicateChildException x => Error("duplicate", x, ("child", x.ChildId)),
        DistributedInvalidSimpleOneForOneException x => Error("invalid_simple_one_for_one", x, ("reason", x.Reason)),
        DistributedBehaviorNotFoundException x => Error("behavior_not_found", x, ("behavior", x.BehaviorName), ("node", x.NodeId.ToString())),
        NoAvailableNodeException x => Error("no_node", x, ("child", x.ChildId), ("selector", x.Selector.ToString())),
        StandbyException => Value.Object(("error", NotActive), ("message", e.Message)),
        DistributedSupervisorException x => Error("stopped", x),
        FormatException or ArgumentException => Value.Object(("error", "bad_request"), ("message", e.Message)),
        _ => Value.Object(("error", "failed"), ("message", e.Message)),
    };

    /// <summary>The exception an error answer stands for; null when the answer is no error.</summary>
    public static Exception? FromValue(string name, Value reply)
    {
        if (!reply.TryGetProperty("error", out var kind) || !kind.TryGetString(out var error))
        {
            return null;
        }
        string Text(string key) => reply.TryGetProperty(key, out var v) && v.TryGetString(out var t) ? t : "";
        return error switch
        {
            "not_found" => new DistributedChildNotFoundException(name, Text("child")),
            "duplicate" => new DistributedDuplicateChildException(name, Text("child")),
            "invalid_simple_one_for_one" => new DistributedInvalidSimpleOneForOneException(name, Text("reason")),
            "behavior_not_found" when NodeId.TryParse(Text("node"), out var node) => new DistributedBehaviorNotFoundException(Text("behavior"), node),
            // A custom selector has no wire form: the error then says what happened without it.
            "no_node" when Text("selector") != "custom" => new NoAvailableNodeException(Text("child"), SupervisorReplica.SelectorFromText(Text("selector"))),
            "bad_request" => new ArgumentException(Text("message")),
            NotActive => new StandbyException(name),
            _ => new DistributedSupervisorException(name, Text("message")),
        };
    }

    private static Value Error(string kind, Exception e, params ReadOnlySpan<(string Key, Value Value)> fields)
    {
        var entries = new List<KeyValuePair<string, Value>> { new("error", kind), new("message", e.Message) };
        foreach (var (key, value) in fields)
        {
            entries.Add(new(key, value));
        }
        return Value.Object(entries);
    }

    /// <summary>A call reached a member that does not act (it stands by, or stood down meanwhile).</summary>
    internal sealed class StandbyException(string name) : DistributedSupervisorException(name, "this member stands by; the name points elsewhere now");
}
