using System.Net;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>Node options for the loopback cluster tests; each class adds its own differences with <c>with { }</c>.</summary>
internal static class TestNodes
{
    /// <summary>
    /// A node named <paramref name="name"/> on 127.0.0.1 with an OS-chosen port, joining through <paramref name="seeds"/>.
    /// The secret is the caller's, so that test classes never join each other's clusters by accident.
    /// </summary>
    public static NodeOptions Options(string name, string? secret, params string[] seeds) => new()
    {
        Name = name,
        Host = "127.0.0.1",
        Port = 0,
        ClusterSecret = secret,
        Seeds = seeds,
        // 1 s × 3: these tests are not about detection time, and a loaded machine can stall a process for a second.
        HeartbeatInterval = TimeSpan.FromSeconds(1),
        // Quick redials, so that a test that drops a link sees it come back well inside its bounds.
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
    };

    /// <summary>A loopback port that was free a moment ago: for a node that must know its port before it starts.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
