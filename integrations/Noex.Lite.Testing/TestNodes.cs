using System.Net;
using System.Net.Sockets;

namespace Noex.Lite.Testing;

/// <summary>Node options for clusters on loopback in tests; each test adds its own differences with <c>with { }</c>.</summary>
public static class TestNodes
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
        // 1 s × 3 (the default is 5 s): a lost node is found in about 3 s, and a loaded machine that stalls a process for a
        // second does not see a false failure. Tests about detection time set their own.
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
