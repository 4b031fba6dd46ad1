using System.Collections.Concurrent;
using System.Text;

namespace Noex.Lite;

/// <summary>
/// The behaviours a node lets its peers spawn: a name and a factory that makes a fresh <see cref="GenServer"/> for each
/// spawn. Code is never shipped between nodes, so a behaviour must be registered under the same name on every node that
/// may host it; a spawn of a name that is not registered fails with <see cref="BehaviorNotFoundException"/>.
/// </summary>
/// <remarks>Thread-safe. One per <see cref="Node"/> (<see cref="Node.Behaviors"/>); the static <see cref="Behaviors"/> facade uses the default node's.</remarks>
public sealed class BehaviorRegistry
{
    /// <summary>The longest behaviour name, in UTF-8 bytes: it travels as a one-byte-length string (protocol.md §5.3).</summary>
    public const int MaxNameBytes = 255;

    private readonly ConcurrentDictionary<string, Func<GenServer>> _factories = new(StringComparer.Ordinal);

    internal BehaviorRegistry()
    {
    }

    /// <summary>How many behaviours are registered.</summary>
    public int Count => _factories.Count;

    /// <summary>Registers a behaviour that peers may spawn by <paramref name="name"/>.</summary>
    /// <param name="name">The name, non-empty, at most <see cref="MaxNameBytes"/> UTF-8 bytes, unique in this registry.</param>
    /// <param name="factory">Makes a fresh server instance for each spawn (one instance is one process).</param>
    /// <exception cref="BehaviorAlreadyRegisteredException">The name is taken.</exception>
    /// <exception cref="ArgumentException">The name is null, empty or too long.</exception>
    /// <exception cref="ArgumentNullException">The factory is null.</exception>
    public void Register(string name, Func<GenServer> factory)
    {
        if (name is not null && _factories.ContainsKey(name))
        {
            throw new BehaviorAlreadyRegisteredException(name);
        }
        ValidateName(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (!_factories.TryAdd(name, factory))
        {
            throw new BehaviorAlreadyRegisteredException(name);
        }
    }

    /// <summary>The factory registered as <paramref name="name"/>, or null.</summary>
    /// <param name="name">The behaviour name.</param>
    public Func<GenServer>? Get(string name) => name is not null && _factories.TryGetValue(name, out var factory) ? factory : null;

    /// <summary>Whether <paramref name="name"/> is registered.</summary>
    /// <param name="name">The behaviour name.</param>
    public bool Has(string name) => name is not null && _factories.ContainsKey(name);

    /// <summary>Removes a behaviour; processes already spawned from it keep running.</summary>
    /// <param name="name">The behaviour name.</param>
    /// <returns>True if it was registered.</returns>
    public bool Unregister(string name) => name is not null && _factories.TryRemove(name, out _);

    /// <summary>The registered names, sorted (a snapshot).</summary>
    public IReadOnlyList<string> Names => _factories.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>How many behaviours are registered, and their names, sorted (a snapshot).</summary>
    public BehaviorRegistryStats GetStats()
    {
        var names = Names;
        return new BehaviorRegistryStats(names.Count, names);
    }

    /// <summary>Throws unless <paramref name="name"/> can name a behaviour (non-empty, fits its wire field).</summary>
    internal static void ValidateName([System.Diagnostics.CodeAnalysis.NotNull] string? name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            throw new ArgumentException($"A behaviour name is at most {MaxNameBytes} UTF-8 bytes; '{name[..Math.Min(name.Length, 32)]}…' is longer.", nameof(name));
        }
    }
}

/// <summary>What <see cref="BehaviorRegistry.GetStats"/> reports.</summary>
/// <param name="Count">How many behaviours are registered.</param>
/// <param name="Names">Their names, sorted.</param>
public sealed record BehaviorRegistryStats(int Count, IReadOnlyList<string> Names);

/// <summary>A behaviour name is already registered in this node's <see cref="BehaviorRegistry"/>.</summary>
public sealed class BehaviorAlreadyRegisteredException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="behaviorName">The name.</param>
    public BehaviorAlreadyRegisteredException(string behaviorName)
        : base($"Behavior '{behaviorName}' is already registered (unregister it first to replace it).")
    {
        BehaviorName = behaviorName;
    }

    /// <summary>The name.</summary>
    public string BehaviorName { get; }
}
