using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>
/// One host of a <see cref="VirtualNetwork"/>: a network namespace whose <c>eth0</c> (one end of a veth pair, the other
/// end <see cref="Link"/> in the bridge) has <see cref="Address"/>.
/// </summary>
/// <param name="Index">1-based, in the order the hosts were made.</param>
/// <param name="Namespace">The namespace's name (<c>ip netns</c>).</param>
/// <param name="Address">The host's IPv4 address on the bridge's subnet.</param>
/// <param name="Link">The veth end in the root namespace, in the bridge.</param>
public sealed record NetnsHost(int Index, string Namespace, string Address, string Link)
{
    /// <summary>The id of a node named <paramref name="name"/> listening on this host's address and the harness's port.</summary>
    public string IdOf(string name) => string.Create(CultureInfo.InvariantCulture, $"{name}@{Address}:{VirtualNetwork.NodePort}");

    public override string ToString() => $"{Namespace} ({Address})";
}
