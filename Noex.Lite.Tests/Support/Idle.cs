namespace Noex.Lite.Tests;

/// <summary>A process that only lives (calls get null, casts are ignored): global names need something to name.</summary>
internal sealed class Idle : GenServer<int>
{
    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
        new(CallResult<int>.WithReply(Value.Null, state));

    protected override ValueTask<int> HandleCastAsync(Value message, int state) => new(state);
}
