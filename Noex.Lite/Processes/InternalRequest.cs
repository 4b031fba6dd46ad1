namespace Noex.Lite;

/// <summary>A runtime-internal request (a supervisor command) that carries objects and completes itself.</summary>
internal abstract class InternalRequest
{
    private readonly TaskCompletionSource<object?> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<object?> Completion => _completion.Task;

    public void Complete(object? result) => _completion.TrySetResult(result);

    public void Fail(Exception error) => _completion.TrySetException(error);
}
