using System.Globalization;
using Noex.Lite;
using Noex.Lite.Tests;

/// <summary>
/// Named distributed supervisors in a NodeHost process (the failover tests):
/// "dsup-start NAME COUNT HOST,HOST..." starts a member of SupervisionGroup.Options(NAME, COUNT, hosts) (NAME "-": an
/// unnamed supervisor with those children) and prints "DSUP-STARTED NAME active|standby"; from then on each of its events
/// is printed as
/// "DSUP NAME KIND child=ID node=NODE from=NODE reason=R" (fields that do not apply are "-").
/// "dsup-children NAME" asks the active member by name from this node and prints "DSUP-CHILDREN NAME id=node/process ...".
/// "dsup-crash NAME CHILD" finds the child by name and sends its instance an exit signal (an error), printing "DSUP-CRASHED".
/// "dsup-local NAME" prints what this node's member holds: "DSUP-LOCAL NAME active|standby id=node/process ...".
/// A command that fails prints "DSUP-ERROR EXCEPTION: MESSAGE".
/// "workers" prints "WORKERS id:process ..." for the live dsup-worker instances of this node (started by anyone).
/// </summary>
internal sealed class SupervisionGroupCommands(Node node, TextWriter output) : IAsyncDisposable
{
    private readonly List<DistributedSupervisor> _members = [];

    public async Task HandleAsync(string line)
    {
        try
        {
            await RunAsync(line.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        catch (NoexException e)
        {
            // A command that fails says so (the test reads it) instead of ending the process.
            output.WriteLine($"DSUP-ERROR {e.GetType().Name}: {e.Message}");
        }
    }

    private async Task RunAsync(string[] words)
    {
        switch (words)
        {
            case ["dsup-start", var name, var count, var hosts]:
                var options = SupervisionGroup.Options(name, int.Parse(count, CultureInfo.InvariantCulture), hosts.Split(','));
                var member = await DistributedSupervisor.StartAsync(node, name == "-" ? options with { Name = null } : options);
                member.LifecycleEvent += e => output.WriteLine(
                    $"DSUP {name} {e.Kind} child={e.ChildId ?? "-"} node={e.Node?.ToString() ?? "-"} from={e.FromNode?.ToString() ?? "-"} reason={e.Reason ?? "-"}");
                _members.Add(member);
                output.WriteLine($"DSUP-STARTED {name} {(member.IsActive ? "active" : "standby")}");
                break;
            case ["dsup-children", var name]:
                var children = await new DistributedSupervisorRef(node, name).GetChildrenAsync();
                output.WriteLine($"DSUP-CHILDREN {name} {string.Join(' ', children.Select(SupervisionGroup.Describe))}");
                break;
            case ["dsup-local", var name]:
                var local = _members.Single(m => (m.Name ?? "-") == name);
                output.WriteLine($"DSUP-LOCAL {name} {(local.IsActive ? "active" : "standby")} {string.Join(' ', local.GetChildren().Select(SupervisionGroup.Describe))}".TrimEnd());
                break;
            case ["workers"]:
                output.WriteLine($"WORKERS {string.Join(' ', SupervisionBehaviors.Live(node))}".TrimEnd());
                break;
            case ["dsup-crash", var name, var child]:
                var target = (await new DistributedSupervisorRef(node, name).GetChildrenAsync()).Single(c => c.Id == child);
                node.Runtime.Exit(target.Ref, ExitReason.Error("crashed on purpose"));
                output.WriteLine($"DSUP-CRASHED {name} {child}");
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var member in _members)
        {
            await member.DisposeAsync();
        }
    }
}
