using System.Collections.Concurrent;

namespace Noex.Lite;

/// <summary>Unique local names of one runtime's processes. A name is removed automatically when its process ends.</summary>
/// <remarks>
/// Thread-safe. Registering takes the process's own lock, the one its teardown takes, so a name is never
/// left behind by a process that ends while it is being registered.
/// </remarks>
public sealed class Registry
{
    private readonly ConcurrentDictionary<string, ProcessRef> _names = new(StringComparer.Ordinal);
    private readonly ProcessRuntime _runtime;

    internal Registry(ProcessRuntime runtime) => _runtime = runtime;

    /// <summary>How many names are registered.</summary>
    public int Count => _names.Count;

    /// <summary>The registered names (a snapshot).</summary>
    public IReadOnlyCollection<string> Names => _names.Keys.ToArray();

    /// <summary>Registers <paramref name="name"/> for a running process.</summary>
    /// <param name="name">The name, unique in this runtime.</param>
    /// <param name="target">The process.</param>
    /// <exception cref="AlreadyRegisteredException">The name is taken.</exception>
    /// <exception cref="ServerNotRunningException">The process is not running.</exception>
    public void Register(string name, ProcessRef target)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ProcessCell cell = _runtime.GetCell(target);
        bool claimed = false;
        if (!cell.TryAddName(name, () => claimed = _names.TryAdd(name, target)))
        {
            throw new ServerNotRunningException(target);
        }

        if (!claimed)
        {
            throw new AlreadyRegisteredException(name, Whereis(name) ?? default);
        }
    }

    /// <summary>Removes a name; the process keeps running.</summary>
    /// <param name="name">The name.</param>
    /// <returns>True if it was registered.</returns>
    public bool Unregister(string name)
    {
        if (!_names.TryRemove(name, out ProcessRef owner))
        {
            return false;
        }

        if (_runtime.TryGetCell(owner, out ProcessCell? cell))
        {
            cell.RemoveName(name);
        }

        return true;
    }

    /// <summary>The process registered as <paramref name="name"/>, or null.</summary>
    /// <param name="name">The name.</param>
    public ProcessRef? Whereis(string name) => _names.TryGetValue(name, out ProcessRef target) ? target : null;

    /// <summary>The process registered as <paramref name="name"/>.</summary>
    /// <param name="name">The name.</param>
    /// <exception cref="NotRegisteredException">No process has the name.</exception>
    public ProcessRef Lookup(string name) => _names.TryGetValue(name, out ProcessRef target) ? target : throw new NotRegisteredException(name);

    /// <summary>Whether <paramref name="name"/> is registered.</summary>
    /// <param name="name">The name.</param>
    public bool IsRegistered(string name) => _names.ContainsKey(name);

    /// <summary>Removes the name only if it still belongs to <paramref name="owner"/> (it may have been re-registered).</summary>
    internal void RemoveIfOwner(string name, ProcessRef owner) =>
        _names.TryRemove(new KeyValuePair<string, ProcessRef>(name, owner));
}
