using System.Runtime.InteropServices;

namespace Noex.Lite.Tests;

/// <summary>
/// Whether the network harness (<see cref="VirtualNetwork"/>) can run here, checked once per test run: Linux, root, the
/// <c>ip</c> and <c>nft</c> tools, and a namespace, a bridge, a veth pair and a bridge-family nft table that can really be
/// made (and are removed at once).
/// </summary>
internal static class NetnsAvailability
{
    private static readonly Lazy<string?> s_skipReason = new(Probe);

    /// <summary>Why the network tests cannot run here, or null when they can.</summary>
    public static string? SkipReason => s_skipReason.Value;

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return $"the network tests need Linux network namespaces; this is {RuntimeInformation.OSDescription}";
        }
        if (!Environment.IsPrivilegedProcess)
        {
            return $"the network tests need root to make network namespaces, bridges and nft rules (running as {Environment.UserName})";
        }
        if (SystemCommand.Find("ip") is null)
        {
            return "the network tests need the ip command (iproute2), which is not installed";
        }
        if (SystemCommand.Find("nft") is null)
        {
            return "the network tests need the nft command (apt-get install nftables), which is not installed";
        }
        try
        {
            return VirtualNetwork.Probe();
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            return $"the network harness could not run its tools: {e.Message}";
        }
    }
}
