namespace Noex.Lite.Tests;

/// <summary>The behaviour registry's own rules, as the original's (duplicate checked first, empty names refused).</summary>
[Trait("Category", Category.Unit)]
public class BehaviorRegistryTests
{
    private static GenServer Make() => new SpawnTests.Counter();

    [Fact]
    public void Register_ThenGetHasNamesStats_SeeIt()
    {
        var registry = new BehaviorRegistry();
        Func<GenServer> factory = Make;

        registry.Register("b-one", factory);
        registry.Register("a-two", Make);

        Assert.Same(factory, registry.Get("b-one"));
        Assert.True(registry.Has("a-two"));
        Assert.False(registry.Has("three"));
        Assert.Null(registry.Get("three"));
        Assert.Equal(["a-two", "b-one"], registry.Names);
        Assert.Equal(2, registry.Count);
        var stats = registry.GetStats();
        Assert.Equal(2, stats.Count);
        Assert.Equal(["a-two", "b-one"], stats.Names);
    }

    [Fact]
    public void Unregister_RemovesOnlyWhatWasThere()
    {
        var registry = new BehaviorRegistry();
        registry.Register("x", Make);

        Assert.True(registry.Unregister("x"));
        Assert.False(registry.Unregister("x"));
        Assert.False(registry.Has("x"));
        registry.Register("x", Make);
        Assert.True(registry.Has("x"));
    }

    [Fact]
    public void Register_Duplicate_TypedErrorNamingItAndTheFirstKept()
    {
        var registry = new BehaviorRegistry();
        Func<GenServer> first = Make;
        registry.Register("dup", first);

        var error = Assert.Throws<BehaviorAlreadyRegisteredException>(() => registry.Register("dup", null!));

        Assert.Equal("dup", error.BehaviorName);
        Assert.Contains("'dup' is already registered", error.Message);
        Assert.Same(first, registry.Get("dup"));
    }

    [Fact]
    public void Register_BadNameOrFactory_ArgumentErrors()
    {
        var registry = new BehaviorRegistry();

        Assert.Throws<ArgumentException>(() => registry.Register("", Make));
        Assert.Throws<ArgumentNullException>(() => registry.Register(null!, Make));
        Assert.Throws<ArgumentException>(() => registry.Register(new string('n', 256), Make));
        Assert.Throws<ArgumentNullException>(() => registry.Register("ok", null!));
        registry.Register(new string('n', 255), Make);
        Assert.Equal(1, registry.Count);
    }
}
