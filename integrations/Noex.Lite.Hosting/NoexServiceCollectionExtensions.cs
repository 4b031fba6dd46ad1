using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Noex.Lite;
using Noex.Lite.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Runs a Noex.Lite node on the Generic Host: <see cref="AddNoexNode(IServiceCollection)"/> starts it with the host and
/// stops it gracefully with it, <see cref="AddNoexBehavior{T}(IServiceCollection, string)"/> lets peers spawn servers whose
/// dependencies come from the container.
/// </summary>
/// <example>
/// <code>
/// var builder = Host.CreateApplicationBuilder(args);
/// builder.Services.AddNoexNode();                        // the "Noex" section, and Noex__* environment variables
/// builder.Services.AddNoexBehavior&lt;Counter&gt;("counter"); // Counter's constructor takes services from the container
/// await builder.Build().RunAsync();
/// </code>
/// </example>
public static class NoexServiceCollectionExtensions
{
    /// <summary>
    /// Adds a node configured by the <c>Noex</c> section of the host's configuration (<see cref="NoexNodeSettings"/>):
    /// <c>appsettings.json</c>, and environment variables <c>Noex__Name</c>, <c>Noex__Seeds__0</c>, ... (any case:
    /// <c>NOEX__NAME</c> too).
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <returns>The services.</returns>
    /// <remarks>
    /// <para>
    /// The node starts in the host's <c>StartingAsync</c> phase (before every hosted service's <c>StartAsync</c>) and
    /// stops gracefully in its <c>StoppedAsync</c> phase (after every <c>StopAsync</c>): peers see
    /// <see cref="NodeDownReason.GracefulShutdown"/>. Invalid settings fail the host's start with an
    /// <see cref="OptionsValidationException"/> naming each key.
    /// </para>
    /// <para>
    /// Registers <see cref="NoexNodeAccessor"/> and <see cref="Node"/> (singletons; <see cref="Node"/> throws a clear
    /// error when resolved before the host starts), and logs the node's events through <c>ILogger</c> under the category
    /// <c>Noex.Lite</c>. Calling it again adds configuration to the same node.
    /// </para>
    /// </remarks>
    public static IServiceCollection AddNoexNode(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        AddCore(services, new NoexSettingsSection(NoexNodeSettings.SectionName)).BindConfiguration(NoexNodeSettings.SectionName);
        return services;
    }

    /// <summary>
    /// Adds a node configured by the <c>Noex</c> section of the host's configuration, then by
    /// <paramref name="configure"/>.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Changes the settings after configuration has set them.</param>
    /// <returns>The services.</returns>
    /// <remarks>See <see cref="AddNoexNode(IServiceCollection)"/>.</remarks>
    public static IServiceCollection AddNoexNode(this IServiceCollection services, Action<NoexNodeSettings> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(services, new NoexSettingsSection(NoexNodeSettings.SectionName)).BindConfiguration(NoexNodeSettings.SectionName).Configure(configure);
        return services;
    }

    /// <summary>Adds a node configured by <paramref name="configuration"/>, a section such as <c>configuration.GetSection("Cluster")</c>.</summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configuration">The section to bind <see cref="NoexNodeSettings"/> from; errors name its keys.</param>
    /// <returns>The services.</returns>
    /// <remarks>See <see cref="AddNoexNode(IServiceCollection)"/>.</remarks>
    public static IServiceCollection AddNoexNode(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        AddCore(services, SectionOf(configuration)).Bind(configuration);
        return services;
    }

    /// <summary>Adds a node configured by <paramref name="configuration"/>, then by <paramref name="configure"/>.</summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configuration">The section to bind <see cref="NoexNodeSettings"/> from; errors name its keys.</param>
    /// <param name="configure">Changes the settings after configuration has set them.</param>
    /// <returns>The services.</returns>
    /// <remarks>See <see cref="AddNoexNode(IServiceCollection)"/>.</remarks>
    public static IServiceCollection AddNoexNode(this IServiceCollection services, IConfiguration configuration, Action<NoexNodeSettings> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(services, SectionOf(configuration)).Bind(configuration).Configure(configure);
        return services;
    }

    /// <summary>
    /// Changes the node's <see cref="NodeOptions"/> in code after the settings made them, for what configuration cannot
    /// say: a custom <see cref="ISeedProvider"/>, a certificate validation callback, a <see cref="TimeProvider"/>. Runs
    /// at start, in registration order; Noex.Lite validates the result.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Takes the container and the options so far, and returns the options to use.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection ConfigureNoexNodeOptions(this IServiceCollection services, Func<IServiceProvider, NodeOptions, NodeOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddSingleton(new NoexNodeOptionsConfiguration(configure));
        return services;
    }

    /// <summary>
    /// Registers <typeparamref name="T"/> as a behaviour that peers (and this node) may spawn as <paramref name="name"/>
    /// (<see cref="Node.SpawnAsync"/>): each spawn makes a new <typeparamref name="T"/>, its constructor's parameters
    /// resolved from the container (<see cref="ActivatorUtilities"/>).
    /// </summary>
    /// <typeparam name="T">The server: a <see cref="GenServer"/> with a public constructor.</typeparam>
    /// <param name="services">The host's services.</param>
    /// <param name="name">The behaviour's name, unique on the node.</param>
    /// <returns>The services.</returns>
    /// <remarks>
    /// Dependencies are resolved from the root container: singletons, and transients (which the container keeps until it
    /// is disposed, so a transient that is disposable is a leak per spawn). A server that needs scoped services takes an
    /// <see cref="IServiceScopeFactory"/>, creates a scope in its init and disposes it in its terminate.
    /// </remarks>
    /// <exception cref="ArgumentException">The name is empty or longer than <see cref="BehaviorRegistry.MaxNameBytes"/> UTF-8
    /// bytes, or a behaviour of that name is registered already.</exception>
    public static IServiceCollection AddNoexBehavior<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(
        this IServiceCollection services, string name)
        where T : GenServer
    {
        ArgumentNullException.ThrowIfNull(services);
        // The constructor is chosen once, here; each spawn only calls the factory.
        var factory = ActivatorUtilities.CreateFactory<T>([]);
        return services.AddNoexBehavior(name, sp => factory(sp, null));
    }

    /// <summary>
    /// Registers a behaviour that peers (and this node) may spawn as <paramref name="name"/>, made by
    /// <paramref name="factory"/> from the container at each spawn.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="name">The behaviour's name, unique on the node.</param>
    /// <param name="factory">Makes a fresh server for each spawn (one instance is one process).</param>
    /// <returns>The services.</returns>
    /// <exception cref="ArgumentException">The name is empty or longer than <see cref="BehaviorRegistry.MaxNameBytes"/> UTF-8
    /// bytes, or a behaviour of that name is registered already.</exception>
    public static IServiceCollection AddNoexBehavior(this IServiceCollection services, string name, Func<IServiceProvider, GenServer> factory)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > BehaviorRegistry.MaxNameBytes)
        {
            throw new ArgumentException($"A behaviour name is at most {BehaviorRegistry.MaxNameBytes} UTF-8 bytes (it travels in a spawn request).", nameof(name));
        }
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(NoexBehaviorRegistration) && descriptor.ImplementationInstance is NoexBehaviorRegistration { } existing
                && existing.Name == name)
            {
                throw new ArgumentException($"A Noex behaviour named '{name}' is registered already.", nameof(name));
            }
        }
        services.AddSingleton(new NoexBehaviorRegistration(name, factory));
        return services;
    }

    /// <summary>What every AddNoexNode registers once; the settings' binding is the caller's.</summary>
    private static OptionsBuilder<NoexNodeSettings> AddCore(IServiceCollection services, NoexSettingsSection section)
    {
        services.TryAddSingleton<NoexNodeAccessor>();
        // Resolvable once the host has started; before, the accessor's error says when it will be.
        services.TryAddSingleton(sp => sp.GetRequiredService<NoexNodeAccessor>().Node);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, NoexNodeService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<NoexNodeSettings>, NoexNodeSettingsValidator>());
        // The last call's section names the keys in errors.
        services.RemoveAll<NoexSettingsSection>();
        services.AddSingleton(section);
        return services.AddOptions<NoexNodeSettings>().ValidateOnStart();
    }

    private static NoexSettingsSection SectionOf(IConfiguration configuration) =>
        new(configuration is IConfigurationSection section ? section.Path : "");
}
