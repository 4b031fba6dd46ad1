namespace Noex.Lite.Tests;

/// <summary>Moves a coordinate: a call adds the request to the state and answers the sum; a cast adds without answering.
/// It keeps the last request object it saw, to tell a by-reference hand-over from a copy.</summary>
internal sealed class Mover : GenServer<Coord, Coord, Coord, Coord>
{
    public Coord? LastRequest { get; private set; }

    protected override ValueTask<Coord> InitAsync(Value args, CancellationToken cancellationToken) => new(new Coord(0, 0));

    protected override ValueTask<CallResult<Coord, Coord>> HandleCallAsync(Coord request, CallFrom<Coord> from, Coord state)
    {
        LastRequest = request;
        if (request.X == int.MinValue + 1)
        {
            // Never answers: the caller times out.
            return new(NoReply(state));
        }
        if (request.X == int.MinValue)
        {
            // Deferred: answer through the typed reply address.
            from.Reply(state);
            return new(NoReply(state));
        }
        var moved = new Coord(state.X + request.X, state.Y + request.Y);
        return new(Reply(moved, moved));
    }

    protected override ValueTask<Coord> HandleCastAsync(Coord message, Coord state) => new(new Coord(state.X + message.X, state.Y + message.Y));
}

/// <summary>A value-level server that echoes what it is called with.</summary>
internal sealed class Echo : GenServer<int>
{
    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
        new(CallResult<int>.WithReply(request, state));
}
