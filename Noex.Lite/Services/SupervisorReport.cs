namespace Noex.Lite;

/// <summary>
/// A distributed supervisor as its own node reports it in <see cref="NodeStats.Supervisors"/>: the one place that knows
/// its children and where they run, so a cluster snapshot shows every supervisor of the cluster without anyone keeping a
/// list of them.
/// </summary>
/// <param name="Id">The supervisor's id.</param>
/// <param name="Strategy">Its restart strategy, as in the seeds (<c>one_for_one</c>, <c>one_for_all</c>, <c>rest_for_one</c>, <c>simple_one_for_one</c>).</param>
/// <param name="TotalRestarts">Restarts since it started, failovers included.</param>
/// <param name="NodeFailureRestarts">Restarts after a node was lost.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="Children">Its children, each where it runs now.</param>
public sealed record SupervisorReport(
    string Id,
    string Strategy,
    int TotalRestarts,
    int NodeFailureRestarts,
    DateTimeOffset StartedAt,
    IReadOnlyList<SupervisedChildReport> Children);
