namespace Noex.Lite;

/// <summary>A global name is already registered for another process.</summary>
public sealed class GlobalNameConflictException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="registryName">The name.</param>
    /// <param name="existing">The process that holds it.</param>
    public GlobalNameConflictException(string registryName, ProcessRef existing)
        : base($"The global name '{registryName}' is already registered on node {existing.Node} (process {existing}).")
    {
        RegistryName = registryName;
        Existing = existing;
    }

    /// <summary>The name.</summary>
    public string RegistryName { get; }

    /// <summary>The process that holds it.</summary>
    public ProcessRef Existing { get; }

    /// <summary>The node of the process that holds it, as <c>name@host:port</c>.</summary>
    public string ExistingNodeId => Existing.Node;
}

/// <summary>No process is registered under a global name.</summary>
public sealed class GlobalNameNotFoundException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="registryName">The name.</param>
    public GlobalNameNotFoundException(string registryName)
        : base($"The global name '{registryName}' is not registered.")
    {
        RegistryName = registryName;
    }

    /// <summary>The name.</summary>
    public string RegistryName { get; }
}
