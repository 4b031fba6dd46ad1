namespace Noex.Lite;

// Departures (protocol.md §5.4, Removal): a run of a node that goes, because its connection closed or a newer run of it
// connected, takes with it every claim it registered or hosts. The connection's close is on the path to the node-down
// event and the monitors' down messages (Mesh.OnClosed calls every service in turn), so the departure there is O(1) in
// the table's size: the run is marked departed, which kills its claims for every reader at once, and a cleanup on the
// thread pool takes them out of the table after the node-down event (AfterConnectionClosed), a chunk per hold of the lock.
public sealed partial class GlobalRegistry
{
    /// <summary>Claims the cleanup takes out per hold of the lock: a few hundred µs, so that a Register or a message
    /// waits no longer than a sync step makes it (<see cref="ScanPerStep"/>).</summary>
    private const int CleanupChunk = 256;

    // The runs that hold claims, by node; a run that departs leaves this index at once, so that a reconnect of the same
    // run (a new connection to a node that did not restart) starts a run object of its own, whose claims are alive.
    private readonly Dictionary<string, List<Run>> _runs = new(StringComparer.Ordinal);
    // Departed runs whose claims are still in the table, oldest first; a claim is dead only while its run is here.
    private readonly Queue<Run> _departing = new();
    private bool _cleaning;
    // Names whose shown claim is dead: Count leaves them out (written under the lock, read without it).
    private int _deadShown;

    /// <summary>Claims of departed runs still in the table (for tests: the cleanup has not finished).</summary>
    internal int DeadClaims
    {
        get
        {
            lock (_lock)
            {
                var dead = 0;
                foreach (var run in _departing)
                {
                    foreach (var pair in run.Pairs())
                    {
                        dead += pair.Claims.Count;
                    }
                }
                return dead;
            }
        }
    }

    /// <summary>When set, the cleanup waits for it before each chunk (for tests: the table as a departure leaves it,
    /// before the cleanup has taken anything out).</summary>
    internal ManualResetEventSlim? CleanupGate { get; set; }

    /// <summary>The run <paramref name="node"/>'s <paramref name="incarnation"/> in the index, made if asked and missing.</summary>
    private Run? RunOf(string node, ulong incarnation, bool create)
    {
        if (_runs.TryGetValue(node, out var runs))
        {
            foreach (var run in runs)
            {
                if (run.Incarnation == incarnation)
                {
                    return run;
                }
            }
        }
        else if (create)
        {
            _runs[node] = runs = new List<Run>(1);
        }
        if (!create)
        {
            return null;
        }
        var made = new Run(node, incarnation);
        runs!.Add(made);
        return made;
    }

    /// <summary>The claims registered by the runs of <paramref name="node"/> in the index (not departed), by their pairs.</summary>
    private IEnumerable<Entry> ClaimsRegisteredBy(string node)
    {
        if (!_runs.TryGetValue(node, out var runs))
        {
            yield break;
        }
        foreach (var run in runs)
        {
            foreach (var pair in run.AsRegistrar.Values)
            {
                for (var entry = pair.Claims.First; entry is not null; entry = entry.Next)
                {
                    yield return entry;
                }
            }
        }
    }

    /// <summary>How many live claims <paramref name="node"/> registered: O(its pairs).</summary>
    private int LiveClaimCount(string node)
    {
        var count = 0;
        if (_runs.TryGetValue(node, out var runs))
        {
            foreach (var run in runs)
            {
                foreach (var pair in run.AsRegistrar.Values)
                {
                    count += pair.IsDead ? 0 : pair.Claims.Count;
                }
            }
        }
        return count;
    }

    /// <summary>Puts a claim entering the table into the list of its pair of runs.</summary>
    private void IndexByRun(Entry entry)
    {
        var registrar = RunOf(entry.RegistrarText, entry.RegistrarIncarnation, create: true)!;
        var host = entry.Target.Node == entry.RegistrarText && entry.HostIncarnation == entry.RegistrarIncarnation
            ? registrar
            : RunOf(entry.Target.Node, entry.HostIncarnation, create: true)!;
        if (!registrar.AsRegistrar.TryGetValue(host, out var pair))
        {
            pair = new Pair(registrar, host);
            registrar.AsRegistrar.Add(host, pair);
            host.AsHost.Add(pair);
        }
        pair.Claims.AddLast(entry);
        entry.Pair = pair;
    }

    /// <summary>Takes a claim leaving the table out of its pair's list, and forgets a pair and runs left with none.</summary>
    private void UnindexByRun(Entry entry)
    {
        var pair = entry.Pair!;
        if (!pair.Claims.Remove(entry) || pair.Claims.Count != 0)
        {
            return;
        }
        pair.Registrar.AsRegistrar.Remove(pair.Host);
        pair.Host.AsHost.Remove(pair);
        Forget(pair.Registrar);
        Forget(pair.Host);

        void Forget(Run run)
        {
            // A departed run has left the index already; the cleanup lets go of it when it finds it empty.
            if (!run.IsDead && run.AsRegistrar.Count == 0 && run.AsHost.Count == 0 && _runs.TryGetValue(run.Node, out var runs)
                && runs.Remove(run) && runs.Count == 0)
            {
                _runs.Remove(run.Node);
            }
        }
    }

    /// <summary>
    /// <paramref name="run"/> has gone (under the lock): its claims are dead from
    /// now on, and the cleanup takes them out. O(pairs of the run), whatever the number of its claims.
    /// </summary>
    private void Depart(Run run)
    {
        if (run.IsDead)
        {
            return;
        }
        // Names it shows stop counting now; a pair dead already (its other run departed first) was counted then.
        foreach (var pair in run.Pairs())
        {
            if (!pair.IsDead)
            {
                _deadShown += pair.Shown;
            }
        }
        // Volatile: Whereis reads it without the lock. Set before the node-down event, on the same thread.
        run.IsDead = true;
        if (_runs.TryGetValue(run.Node, out var runs) && runs.Remove(run) && runs.Count == 0)
        {
            _runs.Remove(run.Node);
        }
        _departing.Enqueue(run);
    }

    /// <summary>Starts the cleanup of the departed runs, unless it runs already or none waits (under the lock).</summary>
    private void StartCleanup()
    {
        if (!_cleaning && _departing.Count != 0)
        {
            _cleaning = true;
            ThreadPool.UnsafeQueueUserWorkItem(static registry => registry.CleanUp(), this, preferLocal: false);
        }
    }

    /// <summary>Departs every run of <paramref name="node"/> but <paramref name="incarnation"/> (older runs, when a newer
    /// one connects), or only <paramref name="incarnation"/> when <paramref name="only"/>.</summary>
    private void Depart(string node, ulong incarnation, bool only)
    {
        if (!_runs.TryGetValue(node, out var runs))
        {
            return;
        }
        // Backwards: a departure takes the run out of this list.
        for (var i = runs.Count - 1; i >= 0; i--)
        {
            if ((runs[i].Incarnation == incarnation) == only)
            {
                Depart(runs[i]);
            }
        }
    }

    /// <summary>Takes a chunk of the departed runs' claims out of the table and raises their unregistrations; on the
    /// thread pool, one chunk at a time (<see cref="_cleaning"/>), each queueing the next.</summary>
    private void CleanUp()
    {
        CleanupGate?.Wait();
        var events = new EventList();
        bool more;
        lock (_lock)
        {
            for (var budget = CleanupChunk; budget > 0 && _departing.TryPeek(out var run); )
            {
                if (run.FirstPair() is not { } pair)
                {
                    _departing.Dequeue();
                    continue;
                }
                // Oldest first: a process's claims leave its target list from the front.
                var entry = pair.Claims.First!;
                Remove(entry, events);
                if (ReferenceEquals(entry.List, pair.Claims))
                {
                    // Never expected (a claim in a pair's list is in the table): out of the list, or this loop would not end.
                    UnindexByRun(entry);
                }
                budget--;
            }
            more = _departing.Count != 0;
            _cleaning = more;
        }
        Raise(events);
        if (more)
        {
            // The next chunk is queued behind the work that came meanwhile (the watchers' down messages among it), and a
            // thread waiting for the lock gets it: a loop here would take it again before a woken waiter runs.
            ThreadPool.UnsafeQueueUserWorkItem(static registry => registry.CleanUp(), this, preferLocal: false);
        }
    }

    /// <summary>One run of one node (its id and incarnation) as far as the table knows it: the pairs it is a party to.</summary>
    private sealed class Run(string node, ulong incarnation)
    {
        private volatile bool _dead;

        public string Node { get; } = node;

        public ulong Incarnation { get; } = incarnation;

        /// <summary>Departed: its claims are dead. Set once, under the registry's lock; read without it.</summary>
        public bool IsDead
        {
            get => _dead;
            set => _dead = value;
        }

        /// <summary>The pairs whose claims it registered, by host run.</summary>
        public Dictionary<Run, Pair> AsRegistrar { get; } = new(ReferenceEqualityComparer.Instance);

        /// <summary>The pairs whose claims name one of its processes (a pair of its own is here too).</summary>
        public List<Pair> AsHost { get; } = new(1);

        /// <summary>Every pair it is a party to, each once.</summary>
        public IEnumerable<Pair> Pairs()
        {
            foreach (var pair in AsRegistrar.Values)
            {
                yield return pair;
            }
            foreach (var pair in AsHost)
            {
                if (!ReferenceEquals(pair.Registrar, this))
                {
                    yield return pair;
                }
            }
        }

        /// <summary>A pair that still has claims, or null.</summary>
        public Pair? FirstPair()
        {
            if (AsHost.Count != 0)
            {
                return AsHost[^1];
            }
            foreach (var pair in AsRegistrar.Values)
            {
                return pair;
            }
            return null;
        }
    }

    /// <summary>The claims one run registered for processes of one run (often itself), in the order they entered the table.</summary>
    private sealed class Pair(Run registrar, Run host)
    {
        public Run Registrar { get; } = registrar;

        public Run Host { get; } = host;

        public IntrusiveList<Entry> Claims { get; } = new();

        /// <summary>How many names show one of its claims.</summary>
        public int Shown { get; set; }

        public bool IsDead => Registrar.IsDead || Host.IsDead;
    }
}
