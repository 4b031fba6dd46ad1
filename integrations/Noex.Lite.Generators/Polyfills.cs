// netstandard2.0 lacks the type that marks init accessors, which records and init properties need; the compiler finds it
// by name in any assembly, so an internal copy is enough.
namespace System.Runtime.CompilerServices;

internal static class IsExternalInit
{
}
