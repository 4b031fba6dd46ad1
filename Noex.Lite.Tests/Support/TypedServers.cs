namespace Noex.Lite.Tests;

/// <summary>Moves a point: a call adds the request to the state and answers the sum; a cast adds without answering.
/// It keeps the last request object it saw, to tell a by-reference hand-over from a copy.</summary>
internal sealed class Mover : GenServer<Point, Point, Point, Point>
{
    public Point? LastRequest { get; private set; }

    protected override ValueTask<Point> InitAsync(Value args, CancellationToken cancellationToken) => new(new Point(0, 0));

    protected override ValueTask<CallResult<Point, Point>> HandleCallAsync(Point request, CallFrom<Point> from, Point state)
    {
        LastRequest = request;
        if (request.X == int.MinValue)
        {
            // Deferred: answer through the typed reply address.
            from.Reply(state);
            return new(NoReply(state));
        }
        var moved = new Point(state.X + request.X, state.Y + request.Y);
        return new(Reply(moved, moved));
    }

    protected override ValueTask<Point> HandleCastAsync(Point message, Point state) => new(new Point(state.X + message.X, state.Y + message.Y));
}

/// <summary>A value-level server that echoes what it is called with.</summary>
internal sealed class Echo : GenServer<int>
{
    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
        new(CallResult<int>.WithReply(request, state));
}
