using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>
/// The property the streamed sync of the global registry rests on (GlobalRegistry.Sync.cs, point 2): an enumeration of
/// a <see cref="ConcurrentDictionary{TKey,TValue}"/> that goes on while the dictionary changes (keys added, removed,
/// values replaced, the table resized) yields every key that is present for the whole enumeration.
/// </summary>
[Trait("Category", Category.Unit)]
public class GlobalRegistryWalkTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Walk_WhileKeysComeGoAndChange_YieldsEveryKeyPresentThroughout(int seed)
    {
        var random = new Random(seed);
        var visible = new ConcurrentDictionary<string, ProcessRef>();
        for (var i = 0; i < 20_000; i++)
        {
            visible[$"k{i}"] = new ProcessRef("a@h:1", i);
        }
        var everRemoved = new HashSet<string>();
        var yielded = new HashSet<string>();
        var next = 20_000;
        using var walk = visible.GetEnumerator();
        while (walk.MoveNext())
        {
            yielded.Add(walk.Current.Key);
            // Between two steps of the walk, as between two parts of a sync: a few changes of every kind. The adds grow
            // the table well past its size, so it is resized under the walk several times.
            for (var n = 0; n < 3; n++)
            {
                visible[$"k{next++}"] = new ProcessRef("a@h:1", next);
                var victim = $"k{random.Next(next)}";
                if (random.Next(4) == 0 && visible.TryRemove(victim, out _))
                {
                    everRemoved.Add(victim);
                }
                var changed = $"k{random.Next(next)}";
                if (visible.ContainsKey(changed))
                {
                    // A new winner: the value is replaced (a ProcessRef is not written atomically, so its node is too).
                    visible[changed] = new ProcessRef("b@h:2", next);
                }
            }
        }
        var throughout = Enumerable.Range(0, 20_000).Select(i => $"k{i}").Where(k => !everRemoved.Contains(k)).ToArray();
        Assert.NotEmpty(everRemoved);
        Assert.All(throughout, k => Assert.Contains(k, yielded));
    }
}
