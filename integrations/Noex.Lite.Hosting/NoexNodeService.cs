using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Noex.Lite.Hosting;

/// <summary>A behaviour that <c>AddNoexBehavior</c> registered: its name and how to make one server from the container.</summary>
internal sealed record NoexBehaviorRegistration(string Name, Func<IServiceProvider, GenServer> Factory);

/// <summary>A code change to the options after the settings made them (<c>ConfigureNoexNodeOptions</c>).</summary>
internal sealed record NoexNodeOptionsConfiguration(Func<IServiceProvider, NodeOptions, NodeOptions> Configure);

/// <summary>
/// Runs the node with the host: starts it in <see cref="StartingAsync"/>, before any hosted service's
/// <c>StartAsync</c>, so that they can use it; stops it gracefully in <see cref="StoppedAsync"/>, after they have
/// stopped, so that peers see <see cref="NodeDownReason.GracefulShutdown"/> once nothing here needs the cluster any more.
/// </summary>
internal sealed class NoexNodeService : IHostedLifecycleService, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly NoexNodeAccessor _accessor;
    private readonly IOptions<NoexNodeSettings> _settings;
    private readonly NoexSettingsSection _section;
    private readonly IEnumerable<NoexBehaviorRegistration> _behaviors;
    private readonly IEnumerable<NoexNodeOptionsConfiguration> _configurations;
    private readonly ILogger _logger;
    private NoexLogBridge? _bridge;
    private int _stopped;

    public NoexNodeService(IServiceProvider services, NoexNodeAccessor accessor, IOptions<NoexNodeSettings> settings, NoexSettingsSection section,
        IEnumerable<NoexBehaviorRegistration> behaviors, IEnumerable<NoexNodeOptionsConfiguration> configurations)
    {
        _services = services;
        _accessor = accessor;
        _settings = settings;
        _section = section;
        _behaviors = behaviors;
        _configurations = configurations;
        // A host always has logging; a bare container (a test's) may not.
        var factory = (ILoggerFactory?)services.GetService(typeof(ILoggerFactory)) ?? NullLoggerFactory.Instance;
        _logger = factory.CreateLogger(NoexLogMessages.Category);
    }

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var name = "?";
        Node? node = null;
        try
        {
            // Reading the value runs the validation (the host's ValidateOnStart may have run it already).
            var settings = _settings.Value;
            name = settings.Name ?? "?";
            var options = NoexNodeOptionsBuilder.Build(settings, _section);
            foreach (var configuration in _configurations)
            {
                options = configuration.Configure(_services, options);
            }
            _logger.NodeStarting(options.Name, options.Host, options.Port, options.Seeds.Count,
                options.SeedProvider is null ? "" : $" and seeds from {options.SeedProvider}", options.TlsServerOptions is null ? "" : ", over TLS");
            try
            {
                node = await Node.StartAsync(options, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidClusterConfigException e)
            {
                // A rule of the node's that the settings' validation does not repeat: named by its key all the same.
                throw new OptionsValidationException(Options.DefaultName, typeof(NoexNodeSettings), [$"{_section.Key(e.Option)} {e.Reason}"]);
            }
            _bridge = new NoexLogBridge(node, _logger);
            // The listener accepts from the moment StartAsync returns; a peer's spawn in the microseconds before these
            // registrations is answered "no such behaviour", as for any name the node does not have.
            foreach (var behavior in _behaviors)
            {
                var factory = behavior.Factory;
                node.Behaviors.Register(behavior.Name, () => factory(_services));
            }
            _accessor.SetStarted(node);
            _logger.NodeStarted(node.Id.ToString(), node.ListenPort, node.Incarnation, string.Join(", ", node.Behaviors.Names));
        }
        catch (Exception e)
        {
            _logger.NodeStartFailed(name, e.Message, e);
            _accessor.SetFailed(e);
            if (node is not null)
            {
                // Started, then a behaviour could not be registered: the host fails, and the node must not outlive it.
                _bridge?.Dispose();
                await node.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
            throw;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => StopNodeAsync(cancellationToken);

    /// <summary>Stops the node if the host did not (its start failed after the node's, or it was never stopped).</summary>
    public async ValueTask DisposeAsync() => await StopNodeAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task StopNodeAsync(CancellationToken cancellationToken)
    {
        // Once: the host's StoppedAsync, or the container's dispose when the host never stopped it.
        if (!_accessor.TryGetNode(out var node) || Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        _logger.NodeStopping(node.Id.ToString(), node.GetConnectedNodes().Count);
        try
        {
            // The goodbye first, then what is queued (for up to a second, or until the host's shutdown timeout).
            await node.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _logger.NodeStopped(node.Id.ToString(), node.Uptime);
            _bridge?.Dispose();
        }
    }
}
