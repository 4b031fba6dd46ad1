using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Noex.Lite.Tests;

/// <summary>
/// What is published under the names of <see cref="NoexDiagnostics"/>, against what README.md's "Observability" section
/// promises: every event of the event source with its id, level and fields (ids 1–5 as they always were), and every
/// instrument of the meter with its type and unit, so that the documentation and the code cannot drift apart.
/// </summary>
[Trait("Category", Category.Unit)]
public partial class NoexDiagnosticsTests
{
    /// <summary>The first events, which listeners may already filter on: their ids, names and fields never change.</summary>
    private static readonly (int Id, string Name, string[] Fields)[] s_original =
    [
        (1, "MemberUp", ["node", "peer"]),
        (2, "MemberDown", ["node", "peer", "reason", "detail"]),
        (3, "MemberRemoved", ["node", "peer", "reason"]),
        (4, "MembersRefused", ["node", "source", "count", "cause"]),
        (5, "DiscoveryFailed", ["node", "provider", "error"]),
    ];

    [Fact]
    public void EventSource_KeepsItsFirstEvents_AndEveryEventNamesItsNodeFirst()
    {
        var events = Manifest();

        Assert.Equal(NoexDiagnostics.EventSourceName, EventSource.GetName(typeof(NoexLog)));
        foreach (var (id, name, fields) in s_original)
        {
            Assert.Equal((name, string.Join(", ", fields)), (events[id].Name, string.Join(", ", events[id].Fields)));
        }
        Assert.All(events.Values, e => Assert.Equal("node", e.Fields[0]));
    }

    [Fact]
    public void Readme_ListsEveryEvent_WithItsIdLevelAndFields()
    {
        var events = Manifest();
        var documented = Section().Select(line => EventRow().Match(line)).Where(m => m.Success).ToDictionary(
            m => int.Parse(m.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture),
            m => (m.Groups["name"].Value, m.Groups["level"].Value, m.Groups["fields"].Value.Split(", ")));

        Assert.Equal(events.Keys.Order(), documented.Keys.Order());
        foreach (var (id, e) in events)
        {
            Assert.Equal((id, e.Name, e.Level, string.Join(", ", e.Fields)), (id, documented[id].Item1, documented[id].Item2, string.Join(", ", documented[id].Item3)));
        }
    }

    [Fact]
    public void Readme_ListsEveryInstrument_WithItsTypeAndUnit()
    {
        // The instruments exist once their classes have run; a listener started afterwards is told of each.
        RuntimeHelpers.RunClassConstructor(typeof(Telemetry).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(NodeMetrics).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(Tracing).TypeHandle);
        var published = new Dictionary<string, (string Type, string? Unit)>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == NoexDiagnostics.MeterName)
                {
                    lock (published)
                    {
                        published[instrument.Name] = (TypeOf(instrument), instrument.Unit);
                    }
                }
            };
            listener.Start();
        }
        var documented = Section().Select(line => InstrumentRow().Match(line)).Where(m => m.Success).ToDictionary(
            m => m.Groups["name"].Value, m => (m.Groups["type"].Value, (string?)m.Groups["unit"].Value));

        Assert.Equal(published.Keys.Order(), documented.Keys.Order());
        Assert.All(published, p => Assert.Equal((p.Key, p.Value), (p.Key, documented[p.Key])));
    }

    private static string TypeOf(Instrument instrument) => instrument.GetType().GetGenericTypeDefinition().Name switch
    {
        "Counter`1" => "counter",
        "ObservableCounter`1" => "observable counter",
        "ObservableGauge`1" => "observable gauge",
        "Histogram`1" => "histogram",
        "UpDownCounter`1" => "up-down counter",
        "ObservableUpDownCounter`1" => "observable up-down counter",
        "Gauge`1" => "gauge",
        var other => other,
    };

    /// <summary>Each event of the source's manifest (but event 0, the messages EventSource writes about itself): its name,
    /// its level as README spells it, and its field names.</summary>
    private static Dictionary<int, (string Name, string Level, string[] Fields)> Manifest()
    {
        var manifest = XDocument.Parse(EventSource.GenerateManifest(typeof(NoexLog), "")!);
        var ns = manifest.Root!.GetDefaultNamespace();
        var templates = manifest.Descendants(ns + "template").ToDictionary(
            t => (string)t.Attribute("tid")!, t => t.Elements(ns + "data").Select(d => (string)d.Attribute("name")!).ToArray());
        return manifest.Descendants(ns + "event").Where(e => (int)e.Attribute("value")! != 0).ToDictionary(
            e => (int)e.Attribute("value")!,
            e => ((string)e.Attribute("symbol")!, ((string)e.Attribute("level")!).Replace("win:", "", StringComparison.Ordinal),
                e.Attribute("template") is { } template ? templates[(string)template] : []));
    }

    /// <summary>The lines of README.md's "Observability" section.</summary>
    private static IEnumerable<string> Section() =>
        File.ReadAllLines(Path.Combine(ProtocolVectors.RepoRoot, "README.md"))
            .SkipWhile(line => line != "## Observability").Skip(1).TakeWhile(line => !line.StartsWith("## ", StringComparison.Ordinal));

    [GeneratedRegex(@"^\| (?<id>\d+) \| `(?<name>\w+)` \| (?<level>\w+) \| (?<fields>[\w, ]+) \|")]
    private static partial Regex EventRow();

    [GeneratedRegex(@"^\| `(?<name>(noex|rpc)\.[\w.]+)` \| (?<type>[\w -]+) \| `(?<unit>[^`]+)` \|")]
    private static partial Regex InstrumentRow();
}
