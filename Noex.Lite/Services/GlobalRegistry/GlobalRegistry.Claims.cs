using System.Buffers;
using System.IO.Hashing;

namespace Noex.Lite;

// The claim table: every claim of every name, the conflict order that picks the one every node shows, and the per-registrar
// digests kept alongside. The table's methods all run under _lock.
public sealed partial class GlobalRegistry
{
    /// <summary>Adds (or replaces the registrar's earlier claim with) <paramref name="entry"/> and settles the name.</summary>
    private void Add(Entry entry, EventList events)
    {
        if (!_claims.TryGetValue(entry.Name, out var claims))
        {
            _claims[entry.Name] = claims = new List<Entry>(1);
        }
        var before = claims.Count == 0 ? null : Winner(claims);
        Entry? replaced = null;
        var index = claims.FindIndex(e => e.RegistrarText == entry.RegistrarText);
        if (index >= 0)
        {
            replaced = claims[index];
            Unindex(replaced);
            claims.RemoveAt(index);
        }
        claims.Add(entry);
        Index(entry);
        var winner = Winner(claims);
        if (before is null)
        {
            events.Add(EventKind.Registered, entry.Name, winner.Target, default);
        }
        else if (ReferenceEquals(before, replaced))
        {
            // The registrar replaced its own winning claim (a sync after it re-registered the name).
            if (before.Target != winner.Target)
            {
                events.Add(EventKind.Unregistered, entry.Name, before.Target, default);
                events.Add(EventKind.Registered, entry.Name, winner.Target, default);
            }
        }
        else if (before.Target != entry.Target)
        {
            // Two processes claim the name: every node that sees both reports the same winner.
            var loser = ReferenceEquals(winner, entry) ? before.Target : entry.Target;
            Interlocked.Increment(ref _conflicts);
            events.Add(EventKind.Conflict, entry.Name, winner.Target, loser);
        }
        _visible[entry.Name] = winner.Target;
        WithdrawLosingClaim(claims, winner, events);
    }

    /// <summary>This node's own claim lost (or duplicates the winner): withdraw it everywhere, and stop its process if asked.</summary>
    private void WithdrawLosingClaim(List<Entry> claims, Entry winner, EventList events)
    {
        if (winner.RegistrarText == _self || claims.Find(e => e.RegistrarText == _self) is not { } mine)
        {
            return;
        }
        Unindex(mine);
        claims.Remove(mine);
        Broadcast(new UnregisterMessage(mine.Name));
        // The loser may live on a third node: the runtime's stop reaches it there (protocol.md §5.3).
        if (mine.Target != winner.Target && _node.Options.StopGlobalNameLoser)
        {
            events.Add(EventKind.StopLoser, mine.Name, winner.Target, mine.Target);
        }
    }

    private void Remove(Entry entry, EventList events)
    {
        if (!_claims.TryGetValue(entry.Name, out var claims))
        {
            return;
        }
        var before = Winner(claims);
        if (!claims.Remove(entry))
        {
            return;
        }
        Unindex(entry);
        if (claims.Count == 0)
        {
            _claims.Remove(entry.Name);
            _visible.TryRemove(entry.Name, out _);
            events.Add(EventKind.Unregistered, entry.Name, entry.Target, default);
            return;
        }
        var winner = Winner(claims);
        _visible[entry.Name] = winner.Target;
        if (before.Target != winner.Target)
        {
            // The winner went and a waiting claim takes its place (a loser its registrar has not withdrawn yet).
            events.Add(EventKind.Unregistered, entry.Name, before.Target, default);
            events.Add(EventKind.Registered, entry.Name, winner.Target, default);
        }
        WithdrawLosingClaim(claims, winner, events);
    }

    private void RemoveWhere(Func<Entry, bool> predicate, EventList events)
    {
        var doomed = new List<Entry>();
        foreach (var claims in _claims.Values)
        {
            foreach (var entry in claims)
            {
                if (predicate(entry))
                {
                    doomed.Add(entry);
                }
            }
        }
        foreach (var entry in doomed)
        {
            Remove(entry, events);
        }
    }

    /// <summary>The claim every node shows: the least in the order of protocol.md §5.4.</summary>
    private static Entry Winner(List<Entry> claims)
    {
        var best = claims[0];
        for (var i = 1; i < claims.Count; i++)
        {
            if (Entry.Compare(claims[i], best) < 0)
            {
                best = claims[i];
            }
        }
        return best;
    }

    private void Index(Entry entry)
    {
        if (!_byTarget.TryGetValue(entry.Target, out var list))
        {
            _byTarget[entry.Target] = list = new List<Entry>(1);
        }
        list.Add(entry);
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_hostedOn, entry.Target.Node, out _)++;
        ref var digest = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_digests, entry.RegistrarText, out _);
        digest = new SetDigest(digest.Count + 1, digest.Sum + entry.Hash);
    }

    private void Unindex(Entry entry)
    {
        if (_byTarget.TryGetValue(entry.Target, out var list) && list.Remove(entry) && list.Count == 0)
        {
            _byTarget.Remove(entry.Target);
        }
        if (_hostedOn.TryGetValue(entry.Target.Node, out var hosted))
        {
            if (hosted <= 1)
            {
                _hostedOn.Remove(entry.Target.Node);
            }
            else
            {
                _hostedOn[entry.Target.Node] = hosted - 1;
            }
        }
        if (_digests.TryGetValue(entry.RegistrarText, out var digest))
        {
            if (digest.Count <= 1)
            {
                _digests.Remove(entry.RegistrarText);
            }
            else
            {
                _digests[entry.RegistrarText] = new SetDigest(digest.Count - 1, digest.Sum - entry.Hash);
            }
        }
    }

    /// <summary>One registrar's claim of one name, as this node holds it.</summary>
    private sealed class Entry
    {
        public Entry(string name, ProcessRef target, ulong hostIncarnation, long stamp, NodeId registrar, string registrarText, ulong registrarIncarnation)
        {
            Name = name;
            Target = target;
            HostIncarnation = hostIncarnation;
            Stamp = stamp;
            Registrar = registrar;
            RegistrarText = registrarText;
            RegistrarIncarnation = registrarIncarnation;
            Hash = HashOf(name, target, hostIncarnation, stamp, registrarIncarnation);
        }

        public string Name { get; }

        public ProcessRef Target { get; }

        public ulong HostIncarnation { get; }

        public long Stamp { get; }

        public NodeId Registrar { get; }

        public string RegistrarText { get; }

        public ulong RegistrarIncarnation { get; }

        /// <summary>The entry's share of its registrar's set digest (protocol.md §5.4).</summary>
        public ulong Hash { get; }

        public bool Matches(in WireEntry wire, ulong registrarIncarnation) =>
            wire.Stamp == Stamp && wire.HostIncarnation == HostIncarnation && wire.Target == Target && registrarIncarnation == RegistrarIncarnation;

        /// <summary>The order of protocol.md §5.4: negative when <paramref name="a"/> wins over <paramref name="b"/>.</summary>
        public static int Compare(Entry a, Entry b)
        {
            var c = a.Stamp.CompareTo(b.Stamp);
            if (c == 0)
            {
                c = string.CompareOrdinal(a.RegistrarText, b.RegistrarText);
            }
            if (c == 0)
            {
                c = a.RegistrarIncarnation.CompareTo(b.RegistrarIncarnation);
            }
            if (c == 0)
            {
                c = string.CompareOrdinal(a.Target.Node, b.Target.Node);
            }
            if (c == 0)
            {
                c = a.Target.Id.CompareTo(b.Target.Id);
            }
            return c;
        }

        /// <summary>XxHash64 of the entry as it travels (protocol.md §5.4), so that every node hashes a claim alike.</summary>
        public static ulong HashOf(string name, ProcessRef target, ulong hostIncarnation, long stamp, ulong registrarIncarnation)
        {
            var bytes = new ArrayBufferWriter<byte>(64);
            var writer = new WireWriter(bytes);
            new WireEntry(name, target, hostIncarnation, stamp).Write(ref writer);
            writer.WriteUInt64(registrarIncarnation);
            writer.Commit();
            return XxHash64.HashToUInt64(bytes.WrittenSpan);
        }
    }

    /// <summary>A registrar's set in brief: how many claims, and the sum of their hashes (order does not matter).</summary>
    private readonly record struct SetDigest(int Count, ulong Sum);
}
