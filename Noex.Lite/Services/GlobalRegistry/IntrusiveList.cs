namespace Noex.Lite;

/// <summary>An item of an <see cref="IntrusiveList{T}"/>: its links live in the item, so that it belongs to one list at
/// a time and leaves it in O(1) without a search or an allocation.</summary>
/// <typeparam name="T">The item type itself.</typeparam>
internal abstract class IntrusiveNode<T>
    where T : IntrusiveNode<T>
{
    /// <summary>The list that holds the item, or null.</summary>
    public IntrusiveList<T>? List { get; internal set; }

    /// <summary>The item before this one in its list.</summary>
    public T? Previous { get; internal set; }

    /// <summary>The item after this one in its list.</summary>
    public T? Next { get; internal set; }
}

/// <summary>
/// A doubly linked list of items that carry their own links (<see cref="IntrusiveNode{T}"/>): adding and removing take
/// O(1) and allocate nothing, and the list drains from its head in insertion order.
/// </summary>
/// <remarks>
/// The global registry keeps a claim in the list of the pair of runs it belongs to (its registrar's and its host's), so
/// that a departed run's claims are found by walking its own lists rather than the whole table (GlobalRegistry.Departures.cs).
/// Not thread-safe: the registry uses it under its lock.
/// </remarks>
internal sealed class IntrusiveList<T>
    where T : IntrusiveNode<T>
{
    /// <summary>The oldest item, or null when empty.</summary>
    public T? First { get; private set; }

    /// <summary>The newest item, or null when empty.</summary>
    public T? Last { get; private set; }

    /// <summary>How many items the list holds.</summary>
    public int Count { get; private set; }

    /// <summary>Appends <paramref name="item"/>, which must be in no list.</summary>
    /// <exception cref="InvalidOperationException">The item is in a list already.</exception>
    public void AddLast(T item)
    {
        if (item.List is not null)
        {
            ThrowInList();
        }
        item.List = this;
        item.Previous = Last;
        item.Next = null;
        if (Last is null)
        {
            First = item;
        }
        else
        {
            Last.Next = item;
        }
        Last = item;
        Count++;
    }

    /// <summary>Takes <paramref name="item"/> out of this list; false (and nothing changes) when it is not in it.</summary>
    public bool Remove(T item)
    {
        if (!ReferenceEquals(item.List, this))
        {
            return false;
        }
        if (item.Previous is null)
        {
            First = item.Next;
        }
        else
        {
            item.Previous.Next = item.Next;
        }
        if (item.Next is null)
        {
            Last = item.Previous;
        }
        else
        {
            item.Next.Previous = item.Previous;
        }
        item.List = null;
        item.Previous = null;
        item.Next = null;
        Count--;
        return true;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void ThrowInList() => throw new InvalidOperationException("The item is in a list already.");
}
