using System.Net;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// Seeds from DNS: every A and AAAA record of one host name is a node <c>nodeName@address:port</c> (libcluster's
/// <c>basename@ip</c> rule). Made for a Kubernetes headless service, whose name resolves to the ready pods' addresses.
/// </summary>
/// <remarks>
/// Every node of such a cluster must use the same rule for its own id: <see cref="NodeOptions.Name"/> =
/// <c>nodeName</c>, <see cref="NodeOptions.AdvertisedHost"/> = its own address (the pod IP) and the same port. A pod that
/// comes back at an address that was used before then reads as a restart of that node (a new incarnation), never as a
/// stranger at a known address.
/// </remarks>
public sealed class DnsSeedProvider : ISeedProvider
{
    private readonly string _hostName;
    private readonly string _nodeName;
    private readonly int _port;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;

    /// <summary>Seeds from the A and AAAA records of <paramref name="hostName"/>, through the system resolver.</summary>
    /// <param name="hostName">The name to resolve, e.g. <c>noex.my-namespace.svc.cluster.local</c>.</param>
    /// <param name="nodeName">The node name every node of the cluster uses.</param>
    /// <param name="port">The port every node of the cluster listens on.</param>
    /// <exception cref="ArgumentException">The host name is empty, or the node name or port breaks the node id rules.</exception>
    public DnsSeedProvider(string hostName, string nodeName, int port)
        : this(hostName, nodeName, port, static (name, token) => Dns.GetHostAddressesAsync(name, token))
    {
    }

    /// <summary>Seeds from the addresses that <paramref name="resolve"/> gives for <paramref name="hostName"/>.</summary>
    /// <param name="hostName">The name to resolve.</param>
    /// <param name="nodeName">The node name every node of the cluster uses.</param>
    /// <param name="port">The port every node of the cluster listens on.</param>
    /// <param name="resolve">The resolver (another DNS client, or a test's).</param>
    /// <exception cref="ArgumentException">The host name is empty, or the node name or port breaks the node id rules.</exception>
    public DnsSeedProvider(string hostName, string nodeName, int port, Func<string, CancellationToken, Task<IPAddress[]>> resolve)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(hostName);
        ArgumentNullException.ThrowIfNull(resolve);
        try
        {
            NodeId.Create(nodeName, "127.0.0.1", port);
        }
        catch (InvalidNodeIdException e)
        {
            throw new ArgumentException(e.Message, e.Reason.StartsWith("name", StringComparison.Ordinal) ? nameof(nodeName) : nameof(port), e);
        }
        _hostName = hostName;
        _nodeName = nodeName;
        _port = port;
        _resolve = resolve;
    }

    /// <inheritdoc/>
    /// <exception cref="SocketException">The name does not resolve (the node counts it and asks again later).</exception>
    public async ValueTask<IReadOnlyList<NodeId>> GetSeedsAsync(CancellationToken cancellationToken)
    {
        var addresses = await _resolve(_hostName, cancellationToken).ConfigureAwait(false);
        var seeds = new List<NodeId>(addresses.Length);
        foreach (var address in addresses)
        {
            // A v4-mapped address is the IPv4 node; a scoped (link-local) IPv6 address cannot be part of an id.
            var usable = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            if (usable.AddressFamily == AddressFamily.InterNetworkV6 && usable.ScopeId != 0)
            {
                continue;
            }
            var id = NodeId.Create(_nodeName, usable.ToString(), _port);
            if (!seeds.Contains(id))
            {
                seeds.Add(id);
            }
        }
        return seeds;
    }

    /// <inheritdoc/>
    public override string ToString() => $"dns {_hostName} as {_nodeName}@*:{_port}";
}
