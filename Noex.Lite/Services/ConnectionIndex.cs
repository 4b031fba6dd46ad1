namespace Noex.Lite;

/// <summary>
/// A service's entries grouped by the connection they travel on, so that a connection that closes finds its own entries
/// without a walk over every entry of the node: a lost node's downs and exit signals then come right after its node-down
/// event, however many monitors and links other peers hold.
/// </summary>
/// <remarks>
/// <see cref="RemoteMonitor"/> keeps its monitors here and <see cref="RemoteLink"/> its links and unacknowledged link
/// requests; each keeps its own table as the truth and this index beside it, changed in the same steps. Not thread-safe:
/// both use it under their lock.
/// </remarks>
/// <typeparam name="T">What identifies an entry within its connection (a monitor id, a pair of processes).</typeparam>
internal sealed class ConnectionIndex<T>
    where T : notnull
{
    // Connection does not override Equals: the default comparer is by reference.
    private readonly Dictionary<Connection, HashSet<T>> _byConnection = new();

    /// <summary>Entries indexed, over every connection (for tests: the index matches its table).</summary>
    public int Count { get; private set; }

    /// <summary>Files <paramref name="item"/> under <paramref name="connection"/>; a no-op when it is filed there already.</summary>
    public void Add(Connection connection, T item)
    {
        if (!_byConnection.TryGetValue(connection, out var items))
        {
            _byConnection[connection] = items = [];
        }
        if (items.Add(item))
        {
            Count++;
        }
    }

    /// <summary>Takes <paramref name="item"/> out of <paramref name="connection"/>'s entries, and the connection out of the
    /// index with its last one.</summary>
    public void Remove(Connection connection, T item)
    {
        if (_byConnection.TryGetValue(connection, out var items) && items.Remove(item))
        {
            Count--;
            if (items.Count == 0)
            {
                _byConnection.Remove(connection);
            }
        }
    }

    /// <summary>
    /// Takes every entry of <paramref name="connection"/> out of the index at once (it closed), or null when it has none.
    /// The set returned is the caller's: removing its entries from the table afterwards (<see cref="Remove"/> then finds
    /// nothing) does not change it while it is walked.
    /// </summary>
    public HashSet<T>? Take(Connection connection)
    {
        if (!_byConnection.Remove(connection, out var items))
        {
            return null;
        }
        Count -= items.Count;
        return items;
    }
}
