using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Noex.Lite;
using Noex.Lite.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// The node's health checks: <em>live</em> (tagged <see cref="LiveTag"/>) while the node runs, <em>ready</em> (tagged
/// <see cref="ReadyTag"/>) while it runs, the host is not stopping, and it is connected as configured
/// (<see cref="NoexNodeSettings.ReadyMinPeers"/>, <see cref="NoexNodeSettings.ReadyRequiresQuorum"/>).
/// </summary>
/// <example>
/// <code>
/// builder.Services.AddHealthChecks().AddNoexHealthChecks();
/// app.MapHealthChecks("/health/live", new() { Predicate = c => c.Tags.Contains(NoexHealthChecks.LiveTag) });
/// app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains(NoexHealthChecks.ReadyTag) });
/// </code>
/// </example>
public static class NoexHealthChecks
{
    /// <summary>The liveness check's tag, <c>live</c>.</summary>
    public const string LiveTag = "live";

    /// <summary>The readiness check's tag, <c>ready</c>.</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Adds the node's two checks, <c>{name}-live</c> and <c>{name}-ready</c>. Live is unhealthy until the node has
    /// started and from the moment it begins to stop: a process whose node is gone should be restarted. Ready is healthy
    /// when the node runs, the host is not stopping, and the node is connected to at least
    /// <see cref="NoexNodeSettings.ReadyMinPeers"/> other nodes, or, when that is unset, to one of its seeds if it has
    /// any, else to one peer if its seeds come from DNS, else at once; with
    /// <see cref="NoexNodeSettings.ReadyRequiresQuorum"/> it must also see a quorum. A node that is not ready redials by
    /// itself; nothing needs restarting. Each result's data carries the node's <see cref="NodeHealth"/>.
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="name">The checks' name prefix. Default <c>noex</c>.</param>
    /// <param name="tags">More tags for both checks, besides <see cref="LiveTag"/> and <see cref="ReadyTag"/>.</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddNoexHealthChecks(this IHealthChecksBuilder builder, string name = "noex", params string[] tags)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        builder.Add(new HealthCheckRegistration(name + "-live",
            sp => new LiveCheck(sp.GetRequiredService<NoexNodeAccessor>()), failureStatus: null, [LiveTag, .. tags]));
        builder.Add(new HealthCheckRegistration(name + "-ready",
            sp => new ReadyCheck(sp.GetRequiredService<NoexNodeAccessor>(), sp.GetRequiredService<IOptions<NoexNodeSettings>>().Value,
                sp.GetRequiredService<NoexSettingsSection>(), sp.GetService<IHostApplicationLifetime>()), failureStatus: null, [ReadyTag, .. tags]));
        return builder;
    }

    /// <summary>The readiness rule on one health snapshot, or null when it holds; the reason it does not otherwise.</summary>
    internal static string? NotReady(NodeHealth health, NoexNodeSettings settings, NoexSettingsSection section, bool seedsFromProvider)
    {
        if (health.State != NodeState.Running)
        {
            return $"the node is {health.State}";
        }
        if (settings.ReadyMinPeers is { } min)
        {
            if (health.Connected < min)
            {
                return $"connected to {health.Connected} of the {min} nodes it needs ({section.Key(nameof(settings.ReadyMinPeers))})";
            }
        }
        else if (health.Seeds > 0)
        {
            if (health.SeedsConnected == 0)
            {
                return $"connected to none of its {health.Seeds} seeds";
            }
        }
        else if (seedsFromProvider && health.Connected == 0)
        {
            return "connected to no node found by its seed provider";
        }
        if (settings.ReadyRequiresQuorum && !health.HasQuorum)
        {
            return $"no quorum: connected to {health.Connected} of {health.Members} members ({section.Key(nameof(settings.ReadyRequiresQuorum))})";
        }
        return null;
    }

    private static Dictionary<string, object> Data(NodeHealth health) => new()
    {
        ["state"] = health.State.ToString(),
        ["seeds"] = health.Seeds,
        ["seedsConnected"] = health.SeedsConnected,
        ["members"] = health.Members,
        ["connected"] = health.Connected,
        ["hasQuorum"] = health.HasQuorum,
        ["uptime"] = health.Uptime.ToString(),
    };

    private sealed class LiveCheck(NoexNodeAccessor accessor) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (!accessor.TryGetNode(out var node))
            {
                return Task.FromResult(HealthCheckResult.Unhealthy("the node has not started"));
            }
            var health = node.GetHealth();
            return Task.FromResult(health.State == NodeState.Running
                ? HealthCheckResult.Healthy($"{node.Id} is running", Data(health))
                : HealthCheckResult.Unhealthy($"{node.Id} is {health.State}", data: Data(health)));
        }
    }

    private sealed class ReadyCheck(NoexNodeAccessor accessor, NoexNodeSettings settings, NoexSettingsSection section, IHostApplicationLifetime? lifetime) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (!accessor.TryGetNode(out var node))
            {
                return Task.FromResult(HealthCheckResult.Unhealthy("the node has not started"));
            }
            var health = node.GetHealth();
            // A stopping host takes no new work: not ready from its first moment, while the node still says goodbye.
            var problem = lifetime?.ApplicationStopping.IsCancellationRequested == true
                ? "the host is stopping"
                : NotReady(health, settings, section, node.Options.SeedProvider is not null);
            return Task.FromResult(problem is null
                ? HealthCheckResult.Healthy($"{node.Id} is ready: connected to {health.Connected} nodes ({health.SeedsConnected} of {health.Seeds} seeds)", Data(health))
                : HealthCheckResult.Unhealthy($"{node.Id} is not ready: {problem}", data: Data(health)));
        }
    }
}
