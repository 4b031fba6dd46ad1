namespace Noex.Lite;

/// <summary>The contract of each message type: registered by generated code when its assembly loads, or by hand.</summary>
/// <remarks>
/// Lookup is a static field of a generic class per type: no dictionary, no reflection, safe under trimming and native AOT.
/// The scalars and <see cref="Value"/> have contracts without registration.
/// </remarks>
public static class ValueContracts
{
    private static readonly Lock s_lock = new();
    private static ValueContract[] s_byId = new ValueContract[64];
    private static int s_count;

    /// <summary>Makes <paramref name="contract"/> the one used for <typeparamref name="T"/>, replacing any earlier one.</summary>
    /// <typeparam name="T">The message type.</typeparam>
    /// <param name="contract">Its contract.</param>
    public static void Register<T>(ValueContract<T> contract)
    {
        ArgumentNullException.ThrowIfNull(contract);
        Slot<T>.Contract = contract;
    }

    /// <summary>The contract of <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The message type.</typeparam>
    /// <exception cref="InvalidOperationException">No contract is registered: the type is not marked
    /// <see cref="NoexMessageAttribute"/> (or its assembly does not run the generator) and none was registered by hand.</exception>
    public static ValueContract<T> Get<T>() => Slot<T>.Contract ?? ThrowMissing<T>();

    /// <summary>The contract of <typeparamref name="T"/>, if one is registered.</summary>
    /// <typeparam name="T">The message type.</typeparam>
    /// <param name="contract">The contract, or null.</param>
    /// <returns>Whether there is one.</returns>
    public static bool TryGet<T>([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ValueContract<T>? contract)
    {
        contract = Slot<T>.Contract;
        return contract is not null;
    }

    /// <summary>The contract with registry index <paramref name="id"/>.</summary>
    internal static ValueContract ById(int id) => Volatile.Read(ref s_byId)[id];

    /// <summary>Gives a new contract its index: what a typed value carries, so that it costs no allocation to make.</summary>
    internal static int Assign(ValueContract contract)
    {
        lock (s_lock)
        {
            if (s_count == s_byId.Length)
            {
                var grown = new ValueContract[s_count * 2];
                s_byId.CopyTo(grown, 0);
                Volatile.Write(ref s_byId, grown);
            }
            s_byId[s_count] = contract;
            return s_count++;
        }
    }

    private static ValueContract<T> ThrowMissing<T>() =>
        throw new InvalidOperationException(
            $"No value contract for {typeof(T).FullName}: declare it partial with [NoexMessage] and reference the "
            + "Noex.Lite.Generators analyzer, or register a hand-written ValueContract<T> with ValueContracts.Register.");

    private static class Slot<T>
    {
        public static ValueContract<T>? Contract = Initial();

        private static ValueContract<T>? Initial()
        {
            if (ScalarContracts.For<T>() is { } scalar)
            {
                return scalar;
            }
            // The generated registration is the module initializer of T's assembly, which the runtime runs only once code
            // of that assembly has run: a first Get<T> may come before. Run it now (it does nothing if it has run, or is
            // running: then it is what asks) and take what it registered.
            System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(T).Module.ModuleHandle);
            return Contract;
        }
    }
}
