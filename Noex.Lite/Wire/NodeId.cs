using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// The identity of a node: <c>name@host:port</c>, e.g. <c>app1@127.0.0.1:4369</c>.
/// </summary>
/// <remarks>
/// <para>
/// Rules: the name starts with an ASCII letter, goes on with letters, digits, <c>_</c> or <c>-</c>, and is 1 to 64
/// characters; the host is an IPv4 address, an IPv6 address (bare or in brackets) or an RFC 1123 host name; the port is
/// 1 to 65535 written in decimal digits only; the whole id is at most 255 characters. Parsing splits at the first
/// <c>@</c> and the last <c>:</c>, so IPv6 hosts work.
/// </para>
/// <para>
/// Two ids are equal when their text is equal (ordinal). A node that restarts keeps its id; the handshake tells its
/// incarnations apart.
/// </para>
/// </remarks>
public sealed class NodeId : IEquatable<NodeId>, IComparable<NodeId>
{
    /// <summary>The longest node name allowed.</summary>
    public const int MaxNameLength = 64;

    /// <summary>The longest whole id allowed: ids travel as <c>str8</c> (protocol.md §4.2), one length byte.</summary>
    public const int MaxLength = 255;

    private static readonly SearchValues<char> s_ipv4Characters = SearchValues.Create("0123456789.");

    private NodeId(string name, string host, int port, string text)
    {
        Name = name;
        Host = host;
        Port = port;
        _text = text;
    }

    private readonly string _text;

    /// <summary>The node's name, the part before <c>@</c>.</summary>
    public string Name { get; }

    /// <summary>The host other nodes dial, between <c>@</c> and the last <c>:</c>.</summary>
    public string Host { get; }

    /// <summary>The TCP port other nodes dial.</summary>
    public int Port { get; }

    /// <summary>Makes an id from its parts.</summary>
    /// <param name="name">The node name.</param>
    /// <param name="host">The host other nodes dial.</param>
    /// <param name="port">The port other nodes dial, 1 to 65535.</param>
    /// <returns>The id.</returns>
    /// <exception cref="InvalidNodeIdException">A part breaks the rules; the message says which and why.</exception>
    public static NodeId Create(string name, string host, int port)
    {
        var text = $"{name}@{host}:{port.ToString(CultureInfo.InvariantCulture)}";
        var error = ValidateName(name) ?? ValidateHost(host) ?? ValidatePort(port) ?? ValidateLength(text);
        return error is null ? new NodeId(name, host, port, text) : throw new InvalidNodeIdException(text, error);
    }

    /// <summary>Parses <c>name@host:port</c>.</summary>
    /// <param name="value">The text.</param>
    /// <returns>The id.</returns>
    /// <exception cref="InvalidNodeIdException">The text breaks the rules; the message says which and why.</exception>
    public static NodeId Parse(string value) =>
        TryParse(value, out var id, out var error) ? id : throw new InvalidNodeIdException(value ?? "(null)", error);

    /// <summary>Parses <c>name@host:port</c>, without throwing.</summary>
    /// <param name="value">The text.</param>
    /// <param name="id">The id, when the text is valid.</param>
    /// <returns>Whether the text is a valid id.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, [NotNullWhen(true)] out NodeId? id) =>
        TryParse(value, out id, out _);

    /// <summary>Whether <paramref name="value"/> is a valid <c>name@host:port</c>.</summary>
    /// <param name="value">The text.</param>
    /// <returns>Whether it parses.</returns>
    public static bool IsValid([NotNullWhen(true)] string? value) => TryParse(value, out _, out _);

    private static bool TryParse([NotNullWhen(true)] string? value, [NotNullWhen(true)] out NodeId? id, out string error)
    {
        id = null;
        if (value is null)
        {
            error = "must not be null";
            return false;
        }
        var at = value.IndexOf('@', StringComparison.Ordinal);
        if (at < 0)
        {
            error = "missing '@' separator";
            return false;
        }
        var colon = value.LastIndexOf(':');
        if (colon < at)
        {
            error = "missing ':' port separator";
            return false;
        }
        var name = value[..at];
        var host = value[(at + 1)..colon];
        var portText = value.AsSpan(colon + 1);
        var failure = ValidateName(name) ?? ValidateHost(host);
        if (failure is null)
        {
            // Digits only: "4369abc", "+4369" and " 4369" are refused, not read as 4369.
            if (portText.IsEmpty || portText.Length > 5 || portText.ContainsAnyExceptInRange('0', '9'))
            {
                failure = "port is not a valid number";
            }
            else
            {
                failure = ValidatePort(int.Parse(portText, NumberStyles.None, CultureInfo.InvariantCulture));
            }
        }
        failure ??= ValidateLength(value);
        if (failure is not null)
        {
            error = failure;
            return false;
        }
        error = "";
        id = new NodeId(name, host, int.Parse(portText, NumberStyles.None, CultureInfo.InvariantCulture), value);
        return true;
    }

    private static string? ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "name must not be empty";
        }
        if (name.Length > MaxNameLength)
        {
            return $"name is longer than {MaxNameLength} characters";
        }
        if (!char.IsAsciiLetter(name[0]))
        {
            return "name must start with a letter";
        }
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_' && c != '-')
            {
                return $"name may hold only letters, digits, '_' and '-', not '{c}'";
            }
        }
        return null;
    }

    private static string? ValidateHost(string? host)
    {
        if (string.IsNullOrEmpty(host))
        {
            return "host must not be empty";
        }
        if (!host.AsSpan().ContainsAnyExcept(s_ipv4Characters))
        {
            return IPAddress.TryParse(host, out var v4) && v4.AddressFamily == AddressFamily.InterNetwork && host.Split('.').Length == 4
                ? null
                : "host looks like IPv4 but is not a valid IPv4 address";
        }
        if (host.Contains(':', StringComparison.Ordinal))
        {
            var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
            return IPAddress.TryParse(bare, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6 && !bare.Contains('%', StringComparison.Ordinal)
                ? null
                : "host is not a valid IPv6 address";
        }
        if (host.Length > 253)
        {
            return "host name is longer than 253 characters";
        }
        foreach (var label in host.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                return "host is not a valid host name (RFC 1123 labels are 1–63 characters, not starting or ending with '-')";
            }
            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    return $"host name may hold only letters, digits, '-' and '.', not '{c}'";
                }
            }
        }
        return null;
    }

    private static string? ValidateLength(string text) =>
        text.Length <= MaxLength ? null : $"id is {text.Length} characters, longer than {MaxLength} (it travels as a str8)";

    private static string? ValidatePort(int port) => port is >= 1 and <= 65535 ? null : $"port {port} is outside 1–65535";

    /// <summary>The id as text, <c>name@host:port</c>.</summary>
    public override string ToString() => _text;

    /// <inheritdoc/>
    public bool Equals(NodeId? other) => other is not null && string.Equals(_text, other._text, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as NodeId);

    /// <inheritdoc/>
    public override int GetHashCode() => _text.GetHashCode(StringComparison.Ordinal);

    /// <summary>Orders ids by their text (ordinal): the deterministic order that settles races between nodes.</summary>
    /// <param name="other">The other id.</param>
    /// <returns>Negative, zero or positive.</returns>
    public int CompareTo(NodeId? other) => other is null ? 1 : string.CompareOrdinal(_text, other._text);

    /// <summary>Equality by text.</summary>
    public static bool operator ==(NodeId? left, NodeId? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Inequality by text.</summary>
    public static bool operator !=(NodeId? left, NodeId? right) => !(left == right);

    /// <summary>Ordinal order.</summary>
    public static bool operator <(NodeId? left, NodeId? right) => left is null ? right is not null : left.CompareTo(right) < 0;

    /// <summary>Ordinal order.</summary>
    public static bool operator >(NodeId? left, NodeId? right) => left is not null && left.CompareTo(right) > 0;

    /// <summary>Ordinal order.</summary>
    public static bool operator <=(NodeId? left, NodeId? right) => !(left > right);

    /// <summary>Ordinal order.</summary>
    public static bool operator >=(NodeId? left, NodeId? right) => !(left < right);
}

/// <summary>Text that is not a valid <c>name@host:port</c> node id.</summary>
public sealed class InvalidNodeIdException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="value">The text that was refused.</param>
    /// <param name="reason">Which rule it breaks.</param>
    public InvalidNodeIdException(string value, string reason)
        : base($"Invalid node id '{value}': {reason}")
    {
        Value = value;
        Reason = reason;
    }

    /// <summary>The text that was refused.</summary>
    public string Value { get; }

    /// <summary>Which rule it breaks.</summary>
    public string Reason { get; }
}
