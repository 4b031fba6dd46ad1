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
        SettleDead(entry.Name, events);
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
        Show(entry.Name, winner);
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

    /// <summary>Takes <paramref name="entry"/> out of the table, with every dead claim of its name, and settles the name.</summary>
    private void Remove(Entry entry, EventList events)
    {
        SettleDead(entry.Name, events);
        RemoveClaim(entry, events);
    }

    /// <summary>Takes the dead claims of <paramref name="name"/> (of runs that departed) out of the table before the name
    /// changes, so that the order of §5.4 is taken over the live claims only: a dead claim never wins again.</summary>
    private void SettleDead(string name, EventList events)
    {
        // Dead claims exist only while their run waits for its cleanup (GlobalRegistry.Departures.cs).
        if (_departing.Count == 0 || !_claims.TryGetValue(name, out var claims))
        {
            return;
        }
        Entry[]? dead = null;
        var found = 0;
        foreach (var entry in claims)
        {
            if (entry.IsDead)
            {
                (dead ??= new Entry[claims.Count])[found++] = entry;
            }
        }
        for (var i = 0; i < found; i++)
        {
            RemoveClaim(dead![i], events);
        }
    }

    private void RemoveClaim(Entry entry, EventList events)
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
            Hide(entry.Name);
            events.Add(EventKind.Unregistered, entry.Name, entry.Target, default);
            return;
        }
        var winner = Winner(claims);
        Show(entry.Name, winner);
        if (before.Target != winner.Target)
        {
            // The winner went and a waiting claim takes its place (a loser its registrar has not withdrawn yet).
            events.Add(EventKind.Unregistered, entry.Name, before.Target, default);
            events.Add(EventKind.Registered, entry.Name, winner.Target, default);
        }
        WithdrawLosingClaim(claims, winner, events);
    }

    /// <summary>Makes <paramref name="winner"/> the claim <paramref name="name"/> shows.</summary>
    private void Show(string name, Entry winner)
    {
        if (_visible.TryGetValue(name, out var shown))
        {
            if (ReferenceEquals(shown, winner))
            {
                return;
            }
            Unshown(shown);
        }
        _visible[name] = winner;
        // Shown counts per pair of runs let a departure tell at once how many shown names it kills (Count).
        winner.Pair!.Shown++;
        if (winner.IsDead)
        {
            _deadShown++;
        }
    }

    private void Hide(string name)
    {
        if (_visible.TryRemove(name, out var shown))
        {
            Unshown(shown);
        }
    }

    private void Unshown(Entry shown)
    {
        shown.Pair!.Shown--;
        if (shown.IsDead)
        {
            _deadShown--;
        }
    }

    /// <summary>The winner among the live claims of <paramref name="name"/>, or null (takes the lock).</summary>
    private Entry? LiveWinner(string name)
    {
        lock (_lock)
        {
            return _claims.TryGetValue(name, out var claims) ? LiveWinner(claims) : null;
        }
    }

    /// <summary>The least live claim in the order of §5.4, or null when all are dead.</summary>
    private static Entry? LiveWinner(List<Entry> claims)
    {
        Entry? best = null;
        foreach (var entry in claims)
        {
            if (!entry.IsDead && (best is null || Entry.Compare(entry, best) < 0))
            {
                best = entry;
            }
        }
        return best;
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
        IndexByRun(entry);
        ref var digest = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_digests, entry.RegistrarText, out _);
        digest = new SetDigest(digest.Count + 1, digest.Sum + entry.Hash);
    }

    private void Unindex(Entry entry)
    {
        if (_byTarget.TryGetValue(entry.Target, out var list) && list.Remove(entry) && list.Count == 0)
        {
            _byTarget.Remove(entry.Target);
        }
        UnindexByRun(entry);
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

    /// <summary>One registrar's claim of one name, as this node holds it; in the claim list of its <see cref="Pair"/>.</summary>
    private sealed class Entry : IntrusiveNode<Entry>
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

        /// <summary>Its registrar's run and its host's, set when it enters the table (and kept after it leaves).</summary>
        public Pair? Pair { get; set; }

        /// <summary>Whether its registrar's run or its host's has departed: the claim is gone for every reader, though it
        /// may still be in the table. Read without the lock (the flags are volatile).</summary>
        public bool IsDead => Pair is { } pair && pair.IsDead;

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
