namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class ValueTests
{
    [Fact]
    public void ImplicitConversions_MakeTheMatchingKind()
    {
        Value fromInt = 5;
        Value fromLong = 5L;
        Value fromDouble = 5.0;
        Value fromString = "s";
        Value fromNullString = (string?)null;
        Value fromBool = true;
        Assert.Equal(ValueKind.Integer, fromInt.Kind);
        Assert.Equal(fromInt, fromLong);
        Assert.Equal(ValueKind.Float, fromDouble.Kind);
        Assert.Equal(ValueKind.String, fromString.Kind);
        Assert.True(fromNullString.IsNull);
        Assert.Equal(Value.True, fromBool);
        Assert.Equal(Value.Null, default);
        Assert.Equal(ValueKind.Null, default(Value).Kind);
    }

    [Fact]
    public void ExplicitConversions_ReturnOrThrow()
    {
        Assert.Equal(5L, (long)(Value)5);
        Assert.Equal(5, (int)(Value)5L);
        Assert.Equal(5.0, (double)(Value)5);
        Assert.Equal(2.5, (double)(Value)2.5);
        Assert.True((bool)Value.True);
        Assert.Equal("s", (string?)(Value)"s");
        Assert.Null((string?)Value.Null);
        Assert.Throws<OverflowException>(() => (int)(Value)(1L << 40));
        Assert.Throws<InvalidOperationException>(() => (long)(Value)2.5);
        Assert.Throws<InvalidOperationException>(() => (string?)(Value)1);
        Assert.Throws<InvalidOperationException>(() => (bool)(Value)1);
        Assert.Throws<InvalidOperationException>(() => (double)(Value)"1");
    }

    [Fact]
    public void Indexers_ReturnElementsOrThrowTheDocumentedExceptions()
    {
        var array = Value.Array(1, "two");
        var obj = Value.Object(("a", 1), ("b", array));
        Assert.Equal("two", array[1].AsString());
        Assert.Equal(array, obj["b"]);
        Assert.Throws<IndexOutOfRangeException>(() => array[2]);
        Assert.Throws<IndexOutOfRangeException>(() => array[-1]);
        Assert.Throws<KeyNotFoundException>(() => obj["c"]);
        Assert.Throws<InvalidOperationException>(() => obj[0]);
        Assert.Throws<InvalidOperationException>(() => array["a"]);
        Assert.Throws<InvalidOperationException>(() => ((Value)1)["a"]);
        Assert.Equal(2, array.Count);
        Assert.Equal(2, obj.Count);
        Assert.Throws<InvalidOperationException>(() => ((Value)"s").Count);
    }

    [Fact]
    public void LargeObject_LookupUsesIndexAndFindsEveryKey()
    {
        var builder = new Value.ObjectBuilder();
        for (var i = 0; i < 50; i++)
        {
            builder.Add("k" + i, i);
        }
        var value = builder.Build();
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(i, value["k" + i].AsInt64());
        }
        Assert.False(value.TryGetProperty("k50", out _));
    }

    [Fact]
    public void TryGet_MatchingAndOtherKinds()
    {
        Assert.True(((Value)3).TryGetInt64(out var integer) && integer == 3);
        Assert.False(((Value)3.0).TryGetInt64(out _));
        Assert.True(((Value)3).TryGetDouble(out var number) && number == 3.0);
        Assert.True(((Value)2.5).TryGetDouble(out number) && number == 2.5);
        Assert.False(((Value)"x").TryGetDouble(out _));
        Assert.True(((Value)"x").TryGetString(out var text) && text == "x");
        Assert.False(((Value)1).TryGetString(out _));
        Assert.True(Value.False.TryGetBoolean(out var flag) && !flag);
        Assert.False(((Value)1).TryGetBoolean(out _));
        Assert.True(Value.Object(("a", 1)).TryGetProperty("a", out var property) && property == 1);
        Assert.False(Value.Array(1).TryGetProperty("a", out property));
        Assert.True(property.IsNull);
    }

    [Fact]
    public void TypedAccessors_WrongKind_ThrowInvalidOperationNamingTheKinds()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ((Value)1).AsString());
        Assert.Equal("The value is an integer, not a string.", e.Message);
        Assert.Throws<InvalidOperationException>(() => Value.Null.AsArray());
        Assert.Throws<InvalidOperationException>(() => Value.Null.AsObject());
        Assert.Throws<InvalidOperationException>(() => Value.Null.AsBinary());
        Assert.Throws<InvalidOperationException>(() => Value.Null.AsBoolean());
        Assert.Throws<OverflowException>(() => ((Value)long.MaxValue).AsInt32());
    }

    [Fact]
    public void Factories_CopyTheirInput()
    {
        var bytes = new byte[] { 1, 2, 3 };
        var blob = Value.Binary(bytes);
        bytes[0] = 9;
        Assert.Equal(1, blob.AsBinary().Span[0]);
        var items = new Value[] { 1, 2 };
        var array = Value.Array(items);
        items[0] = 7;
        Assert.Equal(1, array[0].AsInt64());
        Assert.Equal(Value.EmptyArray, Value.Array());
        Assert.Equal(Value.EmptyArray, Value.Array(new List<Value>()));
        Assert.Equal(Value.EmptyObject, Value.Object());
    }

    [Fact]
    public void ObjectBuilder_DuplicateOrNullKey_Throws()
    {
        var builder = new Value.ObjectBuilder { { "a", 1 }, { "b", 2 } };
        Assert.Throws<ArgumentException>(() => builder.Add("a", 3));
        Assert.Throws<ArgumentNullException>(() => builder.Add(null!, 3));
        Assert.Equal(2, builder.Count);
        var first = builder.Build();
        builder.Add("c", 3);
        Assert.Equal(2, first.Count);
        Assert.Equal("{\"a\":1,\"b\":2,\"c\":3}", builder.Build().ToString());
        Assert.Equal(Value.EmptyObject, new Value.ObjectBuilder().Build());
    }

    [Fact]
    public void Object_DuplicateOrNullKey_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => Value.Object(("a", 1), ("a", 2)));
        Assert.Throws<ArgumentException>(() => Value.Object((null!, 1)));
        Assert.Throws<ArgumentException>(() => Value.Object(Enumerable.Range(0, 20).Select(i => new KeyValuePair<string, Value>("k" + (i % 19), i))));
        Assert.Throws<ArgumentException>(() => Value.Object(new[] { new KeyValuePair<string, Value>(null!, 1) }));
    }

    [Fact]
    public void Equality_IsStructural()
    {
        Assert.Equal(Value.Object(("a", 1), ("b", "x")), Value.Object(("b", "x"), ("a", 1)));
        Assert.Equal(Value.Object(("a", 1), ("b", "x")).GetHashCode(), Value.Object(("b", "x"), ("a", 1)).GetHashCode());
        Assert.NotEqual(Value.Object(("a", 1)), Value.Object(("a", 1.0)));
        Assert.NotEqual(Value.Object(("a", 1)), Value.Object(("a", 1), ("b", 1)));
        Assert.NotEqual((Value)1, (Value)1.0);
        Assert.NotEqual((Value)0.0, (Value)(-0.0));
        Assert.NotEqual(((Value)0.0).GetHashCode(), ((Value)(-0.0)).GetHashCode());
        Assert.Equal(Value.Array(1, 2), Value.Array(1, 2));
        Assert.Equal(Value.Array(1, 2).GetHashCode(), Value.Array(1, 2).GetHashCode());
        Assert.NotEqual(Value.Array(1, 2), Value.Array(2, 1));
        Assert.Equal(Value.Binary([1, 2]), Value.Binary([1, 2]));
        Assert.Equal(Value.Binary([1, 2]).GetHashCode(), Value.Binary([1, 2]).GetHashCode());
        Assert.NotEqual(Value.Binary([1, 2]), Value.Binary([1, 3]));
        Assert.NotEqual((Value)"a", Value.Binary("a"u8));
        Assert.NotEqual((Value)"A", (Value)"a");
        Assert.True((Value)"a" == new string('a', 1));
        Assert.True((Value)1 != (Value)2);
        Assert.False(((Value)1).Equals((object)1));
        Assert.True(((Value)1).Equals((object)(Value)1));
        Assert.NotEqual(Value.Null, Value.False);
        Assert.NotEqual(Value.EmptyArray, Value.EmptyObject);
    }

    [Fact]
    public void ToString_GivesCompactJson()
    {
        Assert.Equal("null", Value.Null.ToString());
        Assert.Equal("true", Value.True.ToString());
        Assert.Equal("-12", ((Value)(-12)).ToString());
        Assert.Equal("{\"a\":[1,2.0,\"é\",null,false],\"b\":{}}", Value.Object(("a", Value.Array(1, 2.0, "é", Value.Null, false)), ("b", Value.EmptyObject)).ToString());
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void FromDouble_NonFinite_ThrowsNonFiniteNumber(double number)
    {
        Assert.Equal(ValueCodecError.NonFiniteNumber, Assert.Throws<ValueCodecException>(() => Value.FromDouble(number)).Error);
        Assert.Equal(ValueCodecError.NonFiniteNumber, Assert.Throws<ValueCodecException>(() => { Value v = number; return v; }).Error);
    }
}
