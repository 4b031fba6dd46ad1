using System.Text.Json.Serialization;

// The message types of TypedContractTests: each [NoexMessage] type here gets its contract from Noex.Lite.Generators at
// build time. Their own namespace keeps their short names (Inc, Line, Order) out of the other tests' way.
namespace Noex.Lite.Tests.Typed;

public enum OrderStatus
{
    Pending,
    Shipped,
    [JsonStringEnumMemberName("cancelled")]
    Cancelled,
}

/// <summary>Two names for one value: both are read, the first is written.</summary>
public enum Priority
{
    Low = 0,
    Normal = 1,
    Default = 1,
    High = 2,
}

[NoexMessage]
public partial record Line(string Sku, int Quantity, double Price);

[NoexMessage]
public partial record Address(string Street, string City, string? Zip = null);

/// <summary>A record holding other messages, a list of them, an enum and a nullable message.</summary>
[NoexMessage]
public partial record Order(string Id, List<Line> Lines, OrderStatus Status, Address? ShipTo)
{
    /// <summary>Computed: written (a peer sees it), never read (the key is skipped).</summary>
    public double Total
    {
        get
        {
            var total = 0.0;
            foreach (var line in Lines)
            {
                total += line.Quantity * line.Price;
            }
            return total;
        }
    }
}

/// <summary>A class: a required init property, a settable one, an optional one, a renamed one, an ignored one.</summary>
[NoexMessage]
public partial class Customer
{
    public required string Name { get; init; }

    public int Age { get; set; }

    public string? Email { get; set; }

    [JsonPropertyName("customer_id")]
    public Guid Id { get; init; }

    [JsonIgnore]
    public string Secret { get; set; } = "not on the wire";

    public Priority Priority { get; set; }
}

[NoexMessage]
public partial struct Point
{
    public int X { get; set; }

    public int Y { get; set; }
}

[NoexMessage]
public readonly partial record struct Size(int Width, int Height);

public partial class Outer
{
    public partial class Middle
    {
        /// <summary>Nested two deep in partial types.</summary>
        [NoexMessage]
        public partial record Inner(string Name, Point Where, Size? Extent);
    }
}

/// <summary>Every scalar a message carries.</summary>
[NoexMessage]
public partial record Scalars(
    bool Flag,
    byte U8,
    sbyte I8,
    short I16,
    ushort U16,
    int I32,
    uint U32,
    long I64,
    float F32,
    double F64,
    string Text,
    Guid Id,
    DateTimeOffset When,
    byte[] Blob,
    Value Any);

/// <summary>Every collection a message carries, nested ones included.</summary>
[NoexMessage]
public partial record Collections(
    int[] Numbers,
    List<string> Names,
    IReadOnlyList<Line> Lines,
    IList<long> Longs,
    Dictionary<string, Line> ByName,
    IReadOnlyDictionary<string, double> Prices,
    IDictionary<string, string?> Notes,
    List<List<int>> Grid,
    int[][] Jagged,
    List<int?> Holes,
    Dictionary<string, List<string>> Groups,
    List<Dictionary<string, int>> Rows,
    List<byte[]> Blobs,
    OrderStatus[] Statuses);

/// <summary>Optional fields of every kind: absent and null both read as null.</summary>
[NoexMessage]
public partial record Optionals(
    string? Note,
    int? Count,
    Line? Line,
    OrderStatus? Status,
    List<int>? Items,
    Guid? Ref,
    byte[]? Blob,
    Value? Extra,
    Point? Where);

/// <summary>A store's messages as the seeds send them: <c>{ "type": "inc", "key": "k" }</c>.</summary>
[NoexMessage(Discriminator = "type")]
[NoexDerivedType(typeof(Inc), "inc")]
[NoexDerivedType(typeof(Get), "get")]
[NoexDerivedType(typeof(Put), "put")]
public abstract partial record StoreMsg;

[NoexMessage]
public partial record Inc(string Key, long By = 1) : StoreMsg;

[NoexMessage]
public partial record Get(string Key) : StoreMsg;

[NoexMessage]
public partial record Put(string Key, Value Value) : StoreMsg;

/// <summary>Derives from a family without being listed in it (the generator warns NOEX009, suppressed here): the base's
/// contract refuses to write it.</summary>
#pragma warning disable NOEX009
[NoexMessage]
public partial record Unlisted(string Key) : StoreMsg;
#pragma warning restore NOEX009

/// <summary>A family of classes with its own discriminator key and a property on the base.</summary>
[NoexMessage(Discriminator = "kind")]
[NoexDerivedType(typeof(Circle), "circle")]
[NoexDerivedType(typeof(Square), "square")]
[NoexDerivedType(typeof(RoundedSquare), "rounded")]
public abstract partial class Shape
{
    public string? Label { get; init; }
}

[NoexMessage]
public partial class Circle : Shape
{
    public double Radius { get; init; }
}

[NoexMessage]
public partial class Square : Shape
{
    public double Side { get; init; }
}

/// <summary>A member deriving from another member: the base's type switch must test it first.</summary>
[NoexMessage]
public partial class RoundedSquare : Square
{
    public double Corner { get; init; }
}

/// <summary>A message holding a family.</summary>
[NoexMessage]
public partial record Drawing(string Title, List<Shape> Shapes, StoreMsg? Last);

/// <summary>Version 1 of a message...</summary>
[NoexMessage]
public partial record PersonV1(string Name);

/// <summary>...and version 2, with a field that version 1 does not know: its default covers a version 1 sender.</summary>
[NoexMessage]
public partial record PersonV2(string Name, int Age = 30, string Country = "CZ");

/// <summary>A recursive message: a linked chain, nested as deep as it is long.</summary>
[NoexMessage]
public partial record Chain(int Depth, Chain? Next);

/// <summary>A recursive message through a list: a tree.</summary>
[NoexMessage]
public partial record TreeNode(string Name, List<TreeNode> Children);

/// <summary>An empty message.</summary>
[NoexMessage]
public partial record Ping;
