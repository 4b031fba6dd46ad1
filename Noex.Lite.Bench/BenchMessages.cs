using System.Text.Json.Serialization;

namespace Noex.Lite.Bench;

/// <summary>The remote benchmark's store messages, typed: the same wire shapes as the value-level ones
/// (<c>{"type":"get","key":"k1"}</c>).</summary>
[NoexMessage]
[NoexDerivedType(typeof(KvGet), "get")]
[NoexDerivedType(typeof(KvCount), "count")]
[NoexDerivedType(typeof(KvInc), "inc")]
public abstract partial record KvRequest;

/// <summary>Reads a key.</summary>
/// <param name="Key">The key.</param>
[NoexMessage]
public sealed partial record KvGet(string Key) : KvRequest;

/// <summary>Reads the cast count.</summary>
[NoexMessage]
public sealed partial record KvCount : KvRequest;

/// <summary>Counts one cast.</summary>
/// <param name="Key">The key.</param>
[NoexMessage]
public sealed partial record KvInc(string Key) : KvRequest;

/// <summary>A typical business message for the codec benchmarks: scalars, an enum, a nested record and a list.</summary>
[NoexMessage]
public sealed partial record Order(string Id, string Customer, Address ShipTo, OrderLine[] Lines, double Total, bool Express,
    OrderStatus Status, string? Note);

/// <summary>Where an order goes.</summary>
[NoexMessage]
public sealed partial record Address(string Street, string City, string Zip);

/// <summary>One line of an order.</summary>
[NoexMessage]
public sealed partial record OrderLine(string Sku, int Quantity, double Price);

/// <summary>An order's state.</summary>
public enum OrderStatus
{
    /// <summary>Not shipped yet.</summary>
    Pending,
    /// <summary>On its way.</summary>
    Shipped,
}

/// <summary>System.Text.Json's source-generated contract for the same type and the same JSON shape (camelCase keys, enum
/// names): the baseline the typed codec is measured against.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(Order))]
public sealed partial class BenchJsonContext : JsonSerializerContext;
