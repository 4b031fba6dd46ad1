using System.Text;

namespace Noex.Lite;

/// <summary>Where a spawned process's name is registered.</summary>
public enum SpawnRegistration : byte
{
    /// <summary>Nowhere: the process is reached through its ref only (a name, if given, is not registered).</summary>
    None = 0,
    /// <summary>In the target node's local <see cref="Registry"/>.</summary>
    Local = 1,
    /// <summary>In the cluster-wide global registry (removed when the process ends).</summary>
    Global = 2,
}

/// <summary>How a behaviour is spawned (<see cref="Node.SpawnAsync"/>).</summary>
public sealed record SpawnOptions
{
    /// <summary>The defaults: no name, 10000 ms spawn timeout, 5000 ms init timeout, null args.</summary>
    public static SpawnOptions Default { get; } = new();

    /// <summary>A name for the process; null for none. Default null.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// Where <see cref="Name"/> is registered; null for <see cref="SpawnRegistration.Local"/> when a name is given and
    /// <see cref="SpawnRegistration.None"/> otherwise. Default null.
    /// </summary>
    /// <remarks><see cref="SpawnRegistration.None"/> registers nothing, even when a name is given.</remarks>
    public SpawnRegistration? Registration { get; init; }

    /// <summary>How long the whole spawn may take, round trip included; a late success is stopped. Default 10000 ms.</summary>
    public TimeSpan SpawnTimeout { get; init; } = TimeSpan.FromMilliseconds(10_000);

    /// <summary>How long init may take on the target node before the process is killed. Default 5000 ms.</summary>
    public TimeSpan InitTimeout { get; init; } = TimeSpan.FromMilliseconds(5_000);

    /// <summary>The arguments init receives (they cross the wire, so they must be encodable). Default null.</summary>
    public Value Args { get; init; }

    /// <summary>The registration that applies: <see cref="Registration"/>, or its default for <see cref="Name"/>.</summary>
    public SpawnRegistration EffectiveRegistration => Registration ?? (Name is null ? SpawnRegistration.None : SpawnRegistration.Local);

    /// <summary>Throws unless the options can be sent: a name for local and global registration, positive timeouts.</summary>
    internal void Validate()
    {
        if (Registration is { } r && !Enum.IsDefined(r))
        {
            throw new ArgumentOutOfRangeException(nameof(Registration), r, "SpawnOptions.Registration must be None, Local or Global.");
        }
        if (EffectiveRegistration != SpawnRegistration.None)
        {
            if (string.IsNullOrEmpty(Name))
            {
                throw new ArgumentException($"SpawnOptions.Name is required for {EffectiveRegistration} registration.", nameof(Name));
            }
        }
        if (Name is not null && (Name.Length == 0 || Encoding.UTF8.GetByteCount(Name) > BehaviorRegistry.MaxNameBytes))
        {
            throw new ArgumentException($"SpawnOptions.Name must be 1 to {BehaviorRegistry.MaxNameBytes} UTF-8 bytes.", nameof(Name));
        }
        CheckTimeout(SpawnTimeout, nameof(SpawnTimeout));
        CheckTimeout(InitTimeout, nameof(InitTimeout));
    }

    private static void CheckTimeout(TimeSpan timeout, string name)
    {
        if (timeout <= TimeSpan.Zero || timeout.TotalMilliseconds > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(name, timeout, $"SpawnOptions.{name} must be positive and at most {uint.MaxValue} ms.");
        }
    }
}
