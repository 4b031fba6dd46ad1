namespace Noex.Lite.Dashboard;

/// <summary>How a dashboard refreshes and what its page keeps.</summary>
/// <remarks>Validated when the dashboard is mapped; the error names the property.</remarks>
public sealed record NoexDashboardOptions
{
    /// <summary>The defaults.</summary>
    public static NoexDashboardOptions Default { get; } = new();

    /// <summary>
    /// How often the page gets a new snapshot over its event stream. Default 1 s; at least 100 ms. Every open page
    /// shares one snapshot per interval, so more viewers do not mean more questions to the cluster.
    /// </summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a snapshot waits for each node's figures; a node that does not answer in time is shown as not
    /// answering. Default 2 s; more than zero.
    /// </summary>
    public TimeSpan SnapshotTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How many samples each chart keeps in the browser (one per refresh). Default 60; 2 to 3600.</summary>
    public int ChartSamples { get; init; } = 60;

    /// <summary>The page's title. Default <c>Noex.Lite cluster</c>.</summary>
    public string Title { get; init; } = "Noex.Lite cluster";

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it.</exception>
    /// <exception cref="ArgumentException">The title is empty.</exception>
    internal NoexDashboardOptions Validate()
    {
        if (RefreshInterval < TimeSpan.FromMilliseconds(100))
        {
            throw new ArgumentOutOfRangeException(nameof(RefreshInterval), RefreshInterval, "the refresh interval must be at least 100 ms");
        }
        if (SnapshotTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(SnapshotTimeout), SnapshotTimeout, "the snapshot timeout must be more than zero");
        }
        if (ChartSamples is < 2 or > 3600)
        {
            throw new ArgumentOutOfRangeException(nameof(ChartSamples), ChartSamples, "charts keep 2 to 3600 samples");
        }
        if (string.IsNullOrWhiteSpace(Title))
        {
            throw new ArgumentException("the title must not be empty", nameof(Title));
        }
        return this;
    }
}
