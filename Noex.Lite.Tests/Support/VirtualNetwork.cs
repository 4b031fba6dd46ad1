using System.Globalization;
using System.Net;
using System.Text;

namespace Noex.Lite.Tests;

/// <summary>
/// A network of hosts for one test, made of Linux network namespaces: one namespace per host, its <c>eth0</c> one end of
/// a veth pair whose other end is in a bridge, an address per host in a /24 of its own (10.251.X.0/24, X unique among the
/// networks alive on this machine) and the bridge itself at .1, so the test process (in the root namespace) reaches every
/// host. Nodes run inside as OS processes (<see cref="StartNodeAsync"/>); faults are real: nft rules on the bridge drop
/// the traffic between hosts (<see cref="Partition"/>, <see cref="DropOneWay"/>, <see cref="SetLoss"/>) and a host's
/// interface goes down (<see cref="SetLink"/>); latency comes from <see cref="DelayRelay"/>s on the bridge's address.
/// </summary>
/// <remarks>
/// Everything it makes carries the test process's pid: namespaces <c>noexT&lt;pid&gt;-&lt;n&gt;-&lt;i&gt;</c>, the bridge
/// <c>nxT&lt;pid&gt;-&lt;n&gt;</c>, veths <c>nxT&lt;pid&gt;-&lt;n&gt;v&lt;i&gt;</c> (interface names have at most 15
/// characters), the nft table <c>bridge noexT&lt;pid&gt;_&lt;n&gt;</c>, and <c>/etc/netns/&lt;namespace&gt;</c>. Disposing
/// kills its nodes and removes all of it, whether the test passed or not; what a crashed run left behind (its pid is
/// dead) is removed when the next network is made, and what a test process leaves at exit is removed as it exits. It
/// touches nothing else.
/// </remarks>
public sealed class VirtualNetwork : IAsyncDisposable
{
    /// <summary>The port every node listens on, on its own host's address.</summary>
    public const int NodePort = 4370;

    private const string Prefix = "noexT";
    private const string LinkPrefix = "nxT";
    private const string Chain = "filt";
    private const string EtcNetns = "/etc/netns";

    private static readonly Lock s_subnetLock = new();
    private static readonly HashSet<int> s_subnets = [];
    private static int s_instances;
    private static int s_exitHook;
    private static bool s_madeEtcNetns;

    private readonly int _subnet;
    private readonly List<NetnsHost> _hosts = [];
    private readonly List<NodeProcess> _nodes = [];
    private readonly List<DelayRelay> _relays = [];
    private readonly Dictionary<string, string> _rules = [];
    private readonly Lock _lock = new();
    private bool _bridgeMade;
    private bool _disposed;

    private VirtualNetwork(int instance, int subnet)
    {
        Name = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Environment.ProcessId}-{instance}");
        Bridge = string.Create(CultureInfo.InvariantCulture, $"{LinkPrefix}{Environment.ProcessId}-{instance}");
        Table = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Environment.ProcessId}_{instance}");
        _subnet = subnet;
        BridgeAddress = string.Create(CultureInfo.InvariantCulture, $"10.251.{subnet}.1");
    }

    /// <summary>The prefix of this network's namespaces.</summary>
    public string Name { get; }

    /// <summary>The bridge's interface, in the root namespace.</summary>
    public string Bridge { get; }

    /// <summary>The bridge's address: where the test process is, as the hosts see it.</summary>
    public string BridgeAddress { get; }

    /// <summary>The nft table (family bridge) that holds this network's faults.</summary>
    public string Table { get; }

    /// <summary>The hosts, in the order they were made.</summary>
    public IReadOnlyList<NetnsHost> Hosts => _hosts;

    public NetnsHost this[int index] => _hosts[index];

    /// <summary>Makes a network of <paramref name="hosts"/> hosts (on a worker thread: it runs a few dozen commands).</summary>
    public static Task<VirtualNetwork> CreateAsync(int hosts) => Task.Run(() => Create(hosts));

    private static VirtualNetwork Create(int hosts)
    {
        if (Interlocked.Exchange(ref s_exitHook, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveLeftovers(pid => pid == Environment.ProcessId);
        }
        RemoveLeftovers(pid => pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"));
        var instance = Interlocked.Increment(ref s_instances);
        var network = new VirtualNetwork(instance, AllocateSubnet(instance));
        try
        {
            network.SetUp(hosts);
            return network;
        }
        catch
        {
            network.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    /// <summary>Starts a node inside <paramref name="host"/>, listening on its address and <see cref="NodePort"/>.</summary>
    /// <param name="host">Where it runs.</param>
    /// <param name="args">NodeHost's other arguments (name, secret, seeds, heartbeat, advertised address...).</param>
    public async Task<NodeProcess> StartNodeAsync(NetnsHost host, params string[] args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var ip = SystemCommand.Find("ip")!;
        var node = await NodeHostProcess.StartUnderAsync([ip, "netns", "exec", host.Namespace],
            ["--host", host.Address, "--port", NodePort.ToString(CultureInfo.InvariantCulture), .. args]);
        lock (_lock)
        {
            _nodes.Add(node);
        }
        return node;
    }

    /// <summary>
    /// Starts a relay on the bridge's address that forwards to the node port of <paramref name="target"/> with
    /// <paramref name="delay"/> each way; a node there that advertises the relay is reached only through it.
    /// </summary>
    public DelayRelay StartRelay(NetnsHost target, TimeSpan delay)
    {
        var relay = new DelayRelay(IPAddress.Parse(BridgeAddress), new IPEndPoint(IPAddress.Parse(target.Address), NodePort), delay);
        lock (_lock)
        {
            _relays.Add(relay);
        }
        return relay;
    }

    /// <summary>Drops everything between every host of <paramref name="side"/> and every host of <paramref name="other"/>, both ways.</summary>
    public void Partition(IEnumerable<NetnsHost> side, IEnumerable<NetnsHost> other)
    {
        var others = other.ToArray();
        lock (_lock)
        {
            foreach (var a in side)
            {
                foreach (var b in others)
                {
                    AddDrop(a, b);
                    AddDrop(b, a);
                }
            }
            ApplyRules();
        }
    }

    /// <summary>Drops what <paramref name="from"/> sends to <paramref name="to"/> (the other way still passes).</summary>
    public void DropOneWay(NetnsHost from, NetnsHost to)
    {
        lock (_lock)
        {
            AddDrop(from, to);
            ApplyRules();
        }
    }

    /// <summary>Removes every partition and one-way drop (not the loss).</summary>
    public void Heal()
    {
        lock (_lock)
        {
            foreach (var key in _rules.Keys.Where(k => k.StartsWith("drop ", StringComparison.Ordinal)).ToArray())
            {
                _rules.Remove(key);
            }
            ApplyRules();
        }
    }

    /// <summary>Drops at random <paramref name="percent"/>% of the packets <paramref name="host"/> sends (0 removes the loss).</summary>
    public void SetLoss(NetnsHost host, int percent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(percent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(percent, 100);
        lock (_lock)
        {
            var key = $"loss {host.Address}";
            if (percent == 0)
            {
                _rules.Remove(key);
            }
            else
            {
                _rules[key] = string.Create(CultureInfo.InvariantCulture, $"ip saddr {host.Address} numgen random mod 100 < {percent} drop");
            }
            ApplyRules();
        }
    }

    /// <summary>
    /// Writes <paramref name="lines"/> as <paramref name="host"/>'s <c>/etc/hosts</c>: <c>ip netns exec</c> bind-mounts
    /// <c>/etc/netns/&lt;namespace&gt;/hosts</c> over <c>/etc/hosts</c> for what it starts, so write it before the node
    /// starts. Later writes go into the same file (same inode: truncated and rewritten), so a running node's resolver sees
    /// the new answer (glibc reads the file at every lookup and returns every address of a name listed on several lines).
    /// </summary>
    public static void WriteHosts(NetnsHost host, IEnumerable<string> lines)
    {
        var directory = Path.Combine(EtcNetns, host.Namespace);
        if (!Directory.Exists(EtcNetns))
        {
            s_madeEtcNetns = true;
        }
        Directory.CreateDirectory(directory);
        using var file = new FileStream(Path.Combine(directory, "hosts"), FileMode.OpenOrCreate, FileAccess.Write);
        file.SetLength(0);
        using var writer = new StreamWriter(file);
        writer.Write(string.Concat(new[] { "127.0.0.1 localhost" }.Concat(lines).Select(l => l + "\n")));
    }

    /// <summary>Takes <paramref name="host"/>'s interface down or brings it up, inside its namespace (its process runs on).</summary>
    public static void SetLink(NetnsHost host, bool up) =>
        SystemCommand.Check("ip", "-n", host.Namespace, "link", "set", "eth0", up ? "up" : "down");

    /// <summary>Kills the nodes, stops the relays, and removes the namespaces, links, nft table and /etc/netns entries.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        var failures = new List<string>();
        NodeProcess[] nodes;
        DelayRelay[] relays;
        lock (_lock)
        {
            nodes = [.. _nodes];
            relays = [.. _relays];
        }
        foreach (var node in nodes)
        {
            try
            {
                await node.DisposeAsync();
            }
            catch (Exception e)
            {
                failures.Add($"node {node.Pid}: {e.Message}");
            }
        }
        foreach (var relay in relays)
        {
            await relay.DisposeAsync();
        }
        await Task.Run(() => Remove(failures));
        lock (s_subnetLock)
        {
            s_subnets.Remove(_subnet);
        }
        if (failures.Count > 0)
        {
            throw new InvalidOperationException($"{Name} could not remove all it made:\n{string.Join('\n', failures)}");
        }
    }

    /// <summary>
    /// Makes a namespace, a bridge, a veth pair and a bridge-family nft table with the rules the harness uses, then
    /// removes them; returns why that failed, or null.
    /// </summary>
    internal static string? Probe()
    {
        var ns = $"{Prefix}{Environment.ProcessId}-probe";
        var bridge = $"{LinkPrefix}{Environment.ProcessId}-p";
        var veth = $"{LinkPrefix}{Environment.ProcessId}-pv";
        var table = $"{Prefix}{Environment.ProcessId}_probe";
        try
        {
            foreach (var args in new[]
            {
                new[] { "netns", "add", ns },
                ["link", "add", bridge, "type", "bridge"],
                ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
                ["link", "set", veth, "master", bridge, "up"],
            })
            {
                if (SystemCommand.Run("ip", args) is { Succeeded: false } failed)
                {
                    return $"the network harness cannot make its network here: {failed}";
                }
            }
            var rules = $"table bridge {table} {{\nchain {Chain} {{\ntype filter hook forward priority 0; policy accept;\n" +
                "ip saddr 10.251.0.2 ip daddr 10.251.0.3 drop\nip saddr 10.251.0.4 numgen random mod 100 < 5 drop\n}\n}\n";
            if (SystemCommand.Run("nft", ["-f", "-"], rules) is { Succeeded: false } refused)
            {
                return $"the network harness cannot filter a bridge with nft here: {refused}";
            }
            return null;
        }
        finally
        {
            SystemCommand.Run("ip", ["link", "del", veth]);
            SystemCommand.Run("ip", ["link", "del", bridge]);
            SystemCommand.Run("ip", ["netns", "del", ns]);
            SystemCommand.Run("nft", ["delete", "table", "bridge", table]);
        }
    }

    private void SetUp(int hosts)
    {
        SystemCommand.Check("ip", "link", "add", Bridge, "type", "bridge");
        _bridgeMade = true;
        SystemCommand.Check("ip", "addr", "add", $"{BridgeAddress}/24", "dev", Bridge);
        SystemCommand.Check("ip", "link", "set", Bridge, "up");
        for (var i = 1; i <= hosts; i++)
        {
            var host = new NetnsHost(i,
                string.Create(CultureInfo.InvariantCulture, $"{Name}-{i}"),
                string.Create(CultureInfo.InvariantCulture, $"10.251.{_subnet}.{i + 1}"),
                string.Create(CultureInfo.InvariantCulture, $"{Bridge}v{i}"));
            if (host.Link.Length > 15)
            {
                throw new InvalidOperationException($"interface name {host.Link} is longer than 15 characters");
            }
            SystemCommand.Check("ip", "netns", "add", host.Namespace);
            _hosts.Add(host);
            SystemCommand.Check("ip", "link", "add", host.Link, "type", "veth", "peer", "name", "eth0", "netns", host.Namespace);
            SystemCommand.Check("ip", "link", "set", host.Link, "master", Bridge, "up");
            SystemCommand.Check("ip", "-n", host.Namespace, "addr", "add", $"{host.Address}/24", "dev", "eth0");
            SystemCommand.Check("ip", "-n", host.Namespace, "link", "set", "lo", "up");
            SystemCommand.Check("ip", "-n", host.Namespace, "link", "set", "eth0", "up");
        }
        lock (_lock)
        {
            ApplyRules();
        }
    }

    private void AddDrop(NetnsHost from, NetnsHost to) =>
        _rules[$"drop {from.Address} {to.Address}"] = $"ip saddr {from.Address} ip daddr {to.Address} drop";

    /// <summary>Replaces the chain's rules with <see cref="_rules"/> in one nft transaction (the table made if new).</summary>
    private void ApplyRules()
    {
        var script = new StringBuilder();
        script.Append(CultureInfo.InvariantCulture, $"table bridge {Table} {{\nchain {Chain} {{\ntype filter hook forward priority 0; policy accept;\n}}\n}}\n");
        script.Append(CultureInfo.InvariantCulture, $"flush chain bridge {Table} {Chain}\n");
        foreach (var rule in _rules.Values)
        {
            script.Append(CultureInfo.InvariantCulture, $"add rule bridge {Table} {Chain} {rule}\n");
        }
        SystemCommand.Check("nft", ["-f", "-"], script.ToString());
    }

    private void Remove(List<string> failures)
    {
        void Try(string program, params string[] args)
        {
            if (SystemCommand.Run(program, args) is { Succeeded: false } failed)
            {
                failures.Add(failed.ToString());
            }
        }

        if (HasTable(Table))
        {
            Try("nft", "delete", "table", "bridge", Table);
        }
        foreach (var host in _hosts)
        {
            KillProcessesIn(host.Namespace);
            Try("ip", "link", "del", host.Link);
            Try("ip", "netns", "del", host.Namespace);
            DeleteEtc(host.Namespace);
        }
        if (_bridgeMade)
        {
            Try("ip", "link", "del", Bridge);
        }
    }

    private static bool HasTable(string table) =>
        SystemCommand.Run("nft", ["list", "tables", "bridge"]).Output.Split('\n').Any(l => l.Trim() == $"table bridge {table}");

    private static int AllocateSubnet(int instance)
    {
        var inUse = SystemCommand.Check("ip", "-4", "-o", "addr", "show");
        lock (s_subnetLock)
        {
            var start = (Environment.ProcessId + (instance * 37)) % 250;
            for (var k = 0; k < 250; k++)
            {
                var x = 2 + ((start + k) % 250);
                if (!s_subnets.Contains(x) && !inUse.Contains($"inet 10.251.{x}.", StringComparison.Ordinal))
                {
                    s_subnets.Add(x);
                    return x;
                }
            }
        }
        throw new InvalidOperationException("no free 10.251.X.0/24 subnet for a virtual network");
    }

    /// <summary>Removes the namespaces, links, nft tables and /etc/netns entries of the test processes <paramref name="owned"/> says are to go.</summary>
    private static void RemoveLeftovers(Func<int, bool> owned)
    {
        var namespaces = SystemCommand.Run("ip", ["netns", "list"]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')[0])
            .Where(n => Owner(n, Prefix) is { } pid && owned(pid))
            .ToArray();
        foreach (var ns in namespaces)
        {
            KillProcessesIn(ns);
        }
        // "7: nxT123-4v1@if2: <BROADCAST,...": the name is the second field, up to the '@' of a veth.
        foreach (var link in SystemCommand.Run("ip", ["-o", "link", "show"]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, var name, ..] ? name.TrimEnd(':').Split('@')[0] : "")
            .Where(n => Owner(n, LinkPrefix) is { } pid && owned(pid)))
        {
            SystemCommand.Run("ip", ["link", "del", link]);
        }
        foreach (var ns in namespaces)
        {
            SystemCommand.Run("ip", ["netns", "del", ns]);
        }
        foreach (var table in SystemCommand.Run("nft", ["list", "tables", "bridge"]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Trim().Split(' ') is ["table", "bridge", var name] ? name : "")
            .Where(n => Owner(n, Prefix) is { } pid && owned(pid)))
        {
            SystemCommand.Run("nft", ["delete", "table", "bridge", table]);
        }
        if (Directory.Exists(EtcNetns))
        {
            foreach (var directory in Directory.GetDirectories(EtcNetns).Select(Path.GetFileName)
                .Where(n => Owner(n!, Prefix) is { } pid && owned(pid)))
            {
                DeleteEtc(directory!);
            }
        }
    }

    /// <summary>The pid in <paramref name="name"/> if it is <paramref name="prefix"/>, digits, then <c>-</c> or <c>_</c>.</summary>
    private static int? Owner(string name, string prefix)
    {
        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }
        var digits = name[prefix.Length..].TakeWhile(char.IsAsciiDigit).Count();
        var end = prefix.Length + digits;
        return digits > 0 && end < name.Length && name[end] is '-' or '_'
            && int.TryParse(name.AsSpan(prefix.Length, digits), CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    private static void KillProcessesIn(string ns)
    {
        foreach (var pid in SystemCommand.Run("ip", ["netns", "pids", ns]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            SystemCommand.Run("kill", ["-9", pid.Trim()]);
        }
    }

    private static void DeleteEtc(string ns)
    {
        var directory = Path.Combine(EtcNetns, ns);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
        // /etc/netns itself only if this process made it and nothing else is in it.
        if (s_madeEtcNetns && Directory.Exists(EtcNetns) && Directory.GetFileSystemEntries(EtcNetns).Length == 0)
        {
            Directory.Delete(EtcNetns);
        }
    }
}
