namespace Noex.Lite.Tests;

/// <summary>
/// The list the global registry keeps a pair of runs' claims in (GlobalRegistry.Departures.cs): O(1) add and remove with
/// the links in the items, insertion order from the head, one list per item at a time.
/// </summary>
[Trait("Category", Category.Unit)]
public class IntrusiveListTests
{
    private static int[] Walk(IntrusiveList<Item> list)
    {
        var forward = new List<int>();
        for (var item = list.First; item is not null; item = item.Next)
        {
            forward.Add(item.Value);
        }
        var backward = new List<int>();
        for (var item = list.Last; item is not null; item = item.Previous)
        {
            backward.Add(item.Value);
        }
        backward.Reverse();
        // Both directions agree, and the count is what the links hold.
        Assert.Equal(forward, backward);
        Assert.Equal(forward.Count, list.Count);
        return [.. forward];
    }

    [Fact]
    public void AddLast_KeepsInsertionOrder_FromTheHead()
    {
        var list = new IntrusiveList<Item>();
        Assert.Null(list.First);
        Assert.Null(list.Last);
        Assert.Empty(Walk(list));

        var items = Enumerable.Range(1, 4).Select(i => new Item(i)).ToArray();
        foreach (var item in items)
        {
            list.AddLast(item);
        }

        Assert.Equal([1, 2, 3, 4], Walk(list));
        Assert.Same(items[0], list.First);
        Assert.Same(items[3], list.Last);
        Assert.All(items, i => Assert.Same(list, i.List));
    }

    [Theory]
    [InlineData(0, new[] { 2, 3 })]
    [InlineData(1, new[] { 1, 3 })]
    [InlineData(2, new[] { 1, 2 })]
    public void Remove_FirstMiddleOrLast_RelinksItsNeighbours_AndClearsTheItem(int index, int[] left)
    {
        var list = new IntrusiveList<Item>();
        var items = new[] { new Item(1), new Item(2), new Item(3) };
        foreach (var item in items)
        {
            list.AddLast(item);
        }

        Assert.True(list.Remove(items[index]));

        Assert.Equal(left, Walk(list));
        Assert.Null(items[index].List);
        Assert.Null(items[index].Previous);
        Assert.Null(items[index].Next);
        Assert.False(list.Remove(items[index]));
        Assert.Equal(left, Walk(list));
    }

    [Fact]
    public void Remove_TheOnlyItem_EmptiesTheList_AndTheItemCanBeAddedAgain()
    {
        var list = new IntrusiveList<Item>();
        var item = new Item(1);
        list.AddLast(item);

        Assert.True(list.Remove(item));
        Assert.Null(list.First);
        Assert.Null(list.Last);
        Assert.Equal(0, list.Count);

        list.AddLast(item);
        Assert.Equal([1], Walk(list));
    }

    [Fact]
    public void AnItem_IsInOneListAtATime()
    {
        var one = new IntrusiveList<Item>();
        var other = new IntrusiveList<Item>();
        var item = new Item(1);
        one.AddLast(item);

        Assert.Throws<InvalidOperationException>(() => other.AddLast(item));
        Assert.Throws<InvalidOperationException>(() => one.AddLast(item));
        // Removing it from a list that does not hold it changes neither.
        Assert.False(other.Remove(item));
        Assert.Equal([1], Walk(one));
        Assert.Empty(Walk(other));

        Assert.True(one.Remove(item));
        other.AddLast(item);
        Assert.Empty(Walk(one));
        Assert.Equal([1], Walk(other));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomAddsAndRemoves_MatchAListModel_AndDrainFromTheHeadInOrder(int seed)
    {
        var random = new Random(seed);
        var list = new IntrusiveList<Item>();
        var model = new List<Item>();
        for (var step = 0; step < 5000; step++)
        {
            if (model.Count == 0 || random.Next(3) != 0)
            {
                var item = new Item(step);
                list.AddLast(item);
                model.Add(item);
            }
            else
            {
                var item = model[random.Next(model.Count)];
                Assert.True(list.Remove(item));
                model.Remove(item);
            }
        }
        Assert.Equal(model.Select(i => i.Value), Walk(list));

        // As the registry's cleanup takes a departed run's claims: always the head, until none is left.
        var drained = new List<int>();
        while (list.First is { } head)
        {
            Assert.True(list.Remove(head));
            drained.Add(head.Value);
        }
        Assert.Equal(model.Select(i => i.Value), drained);
        Assert.Equal(0, list.Count);
        Assert.Null(list.Last);
    }

    private sealed class Item(int value) : IntrusiveNode<Item>
    {
        public int Value { get; } = value;
    }
}
