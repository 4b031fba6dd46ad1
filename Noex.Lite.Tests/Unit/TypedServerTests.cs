namespace Noex.Lite.Tests;

/// <summary>Typed servers and typed calls on one runtime: messages by reference between typed code, through their
/// encoding where typed code meets value-level code, and misfits refused without harm to the server.</summary>
[Trait("Category", Category.Unit)]
public class TypedServerTests
{
    [Fact]
    public async Task TypedCall_BetweenTypedCode_HandsTheSameObjectOverAndBack()
    {
        await using var runtime = new ProcessRuntime();
        var mover = new Mover();
        var server = await runtime.StartAsync(mover).Within();
        var request = new Coord(2, 3);

        var reply = await runtime.CallAsync<Coord, Coord>(server, request).Within();

        Assert.Same(request, mover.LastRequest);
        Assert.Equal(new Coord(2, 3), reply);
        Assert.Equal(new Coord(3, 3), await runtime.CallAsync<Coord, Coord>(server, new Coord(1, 0)).Within());
    }

    [Fact]
    public async Task ValueCaller_ToTypedServer_SendsJsonShapeAndGetsJsonShapeBack()
    {
        await using var runtime = new ProcessRuntime();
        var server = await runtime.StartAsync(new Mover()).Within();

        // Extra keys are skipped: a sender one version ahead still works.
        var reply = await runtime.CallAsync(server, Value.Parse("""{"x":5,"y":-1,"z":"later"}""")).Within();

        Assert.Equal(Value.Parse("""{"x":5,"y":-1}"""), reply);
        Assert.Equal(ValueKind.Object, reply.Kind);
    }

    [Fact]
    public async Task TypedCaller_ToValueServer_SeesTheValueShapeAndReadsTheReplyBack()
    {
        await using var runtime = new ProcessRuntime();
        var echo = await runtime.StartAsync(new Echo()).Within();

        var asValue = await runtime.CallAsync<Coord, Value>(echo, new Coord(7, 8)).Within();
        var asPoint = await runtime.CallAsync<Coord, Coord>(echo, new Coord(7, 8)).Within();

        Assert.Equal(Value.Parse("""{"x":7,"y":8}"""), asValue);
        Assert.Equal(new Coord(7, 8), asPoint);
        Assert.Equal(42L, await runtime.CallAsync<long, long>(echo, 42).Within());
        Assert.Equal("hi", await runtime.CallAsync<string, string>(echo, "hi").Within());
    }

    [Fact]
    public async Task Misfit_RequestOfTheWrongShape_FailsTheCallNamingTheFieldAndTheServerGoesOn()
    {
        await using var runtime = new ProcessRuntime();
        var server = await runtime.StartAsync(new Mover()).Within();

        var wrongKind = await Assert.ThrowsAsync<BadRequestException>(() => runtime.CallAsync(server, Value.Parse("""{"x":"one","y":1}""")).AsTask()).Within();
        var missing = await Assert.ThrowsAsync<BadRequestException>(() => runtime.CallAsync(server, Value.Parse("""{"x":1}""")).AsTask()).Within();
        var overflow = await Assert.ThrowsAsync<BadRequestException>(() => runtime.CallAsync<long, Coord>(server, 1L).AsTask()).Within();

        var inner = Assert.IsType<MessageContractException>(wrongKind.InnerException);
        Assert.Equal((MessageContractError.WrongKind, "Coord", "x"), (inner.Error, inner.TypeName, inner.Field));
        Assert.Contains("Coord.x: expected an integer, found a string", wrongKind.Message, StringComparison.Ordinal);
        Assert.Equal(MessageContractError.MissingField, Assert.IsType<MessageContractException>(missing.InnerException).Error);
        Assert.Equal("Coord.y", $"{((MessageContractException)missing.InnerException!).TypeName}.{((MessageContractException)missing.InnerException!).Field}");
        Assert.Equal(MessageContractError.WrongKind, Assert.IsType<MessageContractException>(overflow.InnerException).Error);
        Assert.True(runtime.IsAlive(server));
        Assert.Equal(new Coord(1, 1), await runtime.CallAsync<Coord, Coord>(server, new Coord(1, 1)).Within());
    }

    [Fact]
    public async Task Misfit_ReplyOfAnotherType_FailsTheCallerWithTheTypeAndField()
    {
        await using var runtime = new ProcessRuntime();
        var echo = await runtime.StartAsync(new Echo()).Within();

        var error = await Assert.ThrowsAsync<MessageContractException>(
            () => runtime.CallAsync<Value, Coord>(echo, Value.Parse("""{"x":1,"y":3000000000}""")).AsTask()).Within();

        Assert.Equal((MessageContractError.InvalidValue, "Coord", "y"), (error.Error, error.TypeName, error.Field));
        Assert.True(runtime.IsAlive(echo));
    }

    [Fact]
    public async Task Casts_TypedAndValue_AreHandledInOrderAndAMisfitIsADeadLetter()
    {
        await using var runtime = new ProcessRuntime();
        var server = await runtime.StartAsync(new Mover()).Within();

        Assert.True(runtime.Cast(server, new Coord(1, 2)));
        Assert.True(runtime.Cast(server, Value.Parse("""{"x":10,"y":20}""")));
        Assert.True(runtime.Cast(server, Value.Parse("""{"x":"no"}""")));
        Assert.True(await runtime.CastAsync(server, new Coord(100, 200)));
        var total = await runtime.CallAsync<Coord, Coord>(server, new Coord(0, 0)).Within();

        Assert.Equal(new Coord(111, 222), total);
        Assert.Equal(1, runtime.DeadLetters);
        Assert.True(runtime.IsAlive(server));
    }

    [Fact]
    public async Task DeferredReply_ThroughTheTypedReplyAddress_ReachesTheCaller()
    {
        await using var runtime = new ProcessRuntime();
        var server = await runtime.StartAsync(new Mover()).Within();
        await runtime.CallAsync<Coord, Coord>(server, new Coord(4, 4)).Within();

        Assert.Equal(new Coord(4, 4), await runtime.CallAsync<Coord, Coord>(server, new Coord(int.MinValue, 0)).Within());
    }

    [Fact]
    public async Task TypedValue_NeverLeaksToValueCode_ItsTextAndEqualityAreThoseOfItsShape()
    {
        await using var runtime = new ProcessRuntime();
        var echo = await runtime.StartAsync(new Echo()).Within();

        var reply = await runtime.CallAsync(echo, Value.Parse("""{"x":1,"y":2}""")).Within();
        var typed = ValueContracts.Get<Coord>().Wrap(new Coord(1, 2));

        Assert.Equal(reply, typed);
        Assert.Equal("""{"x":1,"y":2}""", typed.ToString());
        Assert.Equal(reply.GetHashCode(), typed.GetHashCode());
        Assert.Equal(ValueCodec.Encode(reply), ValueCodec.Encode(typed));
    }

    [Fact]
    public void Contracts_MissingForAType_SayHowToGetOne()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ValueContracts.Get<TypedServerTests>());

        Assert.Contains("[NoexMessage]", error.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(TypedServerTests), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TypedCall_FailingBeforeItWaits_ThrowsAndItsWaiterServesTheNextCall()
    {
        await using var runtime = new ProcessRuntime();
        var server = await runtime.StartAsync(new Mover()).Within();
        await runtime.StopAsync(server).Within();
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();
        var live = await runtime.StartAsync(new Mover()).Within();

        await Assert.ThrowsAsync<ServerNotRunningException>(() => runtime.CallAsync<Coord, Coord>(server, new Coord(1, 1)).AsTask()).Within();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => runtime.CallAsync<Coord, Coord>(live, new Coord(1, 1), cancellationToken: canceled.Token).AsTask()).Within();
        await Assert.ThrowsAsync<CallTimeoutException>(
            () => runtime.CallAsync<Coord, Coord>(live, new Coord(int.MinValue + 1, 0), TimeSpan.FromMilliseconds(1)).AsTask()).Within();

        for (var i = 1; i <= 100; i++)
        {
            Assert.Equal(new Coord(i, 0), await runtime.CallAsync<Coord, Coord>(live, new Coord(1, 0)).Within());
        }
    }

    [Fact]
    public async Task TypedCaller_MessageThatCannotBeWritten_FailsTheCallAndNotTheValueServer()
    {
        await using var runtime = new ProcessRuntime();
        var echo = await runtime.StartAsync(new Echo()).Within();
        var unnamed = new Typed.Order("o-1", [], (Typed.OrderStatus)42, null);

        var error = await Assert.ThrowsAsync<BadRequestException>(() => runtime.CallAsync<Typed.Order, Value>(echo, unnamed).AsTask()).Within();

        Assert.Equal(MessageContractError.InvalidValue, Assert.IsType<MessageContractException>(error.InnerException).Error);
        Assert.Contains("Order.status: 42 is not a named member of OrderStatus", error.Message, StringComparison.Ordinal);
        Assert.True(runtime.IsAlive(echo));
        Assert.Equal(7L, await runtime.CallAsync<long, long>(echo, 7).Within());
    }
}
