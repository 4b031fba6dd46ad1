using System.Buffers;
using Noex.Lite.Tests.Typed;

namespace Noex.Lite.Tests;

/// <summary>
/// The contracts Noex.Lite.Generators writes for the [NoexMessage] types of Support/TypedMessages.cs: round trips, the
/// shape a Value-level (JSON, TypeScript) peer sees and sends, version tolerance, every bad input as a typed error naming
/// the type and the field path, and the nesting limit on recursive types.
/// </summary>
[Trait("Category", Category.Unit)]
public class TypedContractTests
{
    private static readonly Guid s_guid = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
    private static readonly DateTimeOffset s_when = new(2024, 2, 29, 13, 45, 30, 123, TimeSpan.FromHours(2));

    // ---- records, classes, structs, nesting ----

    [Fact]
    public void Record_RoundTrip_KeepsEveryField()
    {
        var order = SampleOrder();

        var read = RoundTrip(order);

        Assert.Equal(order.Id, read.Id);
        Assert.Equal(order.Lines, read.Lines);
        Assert.Equal(order.Status, read.Status);
        Assert.Equal(order.ShipTo, read.ShipTo);
    }

    [Fact]
    public void Record_Write_IsTheJsonShapeAValuePeerSees()
    {
        var value = ToValue(SampleOrder());

        // Keys in camelCase, enums as member names (one renamed), the computed Total written too, null written as null.
        Assert.Equal(Value.Parse("""
            {"id":"o-1","lines":[{"sku":"apple","quantity":3,"price":0.5},{"sku":"pear","quantity":1,"price":2.0}],
             "status":"cancelled","shipTo":{"street":"Main 1","city":"Brno","zip":null},"total":3.5}
            """), value);
        Assert.Equal("""{"sku":"apple","quantity":3,"price":0.5}""", ToValue(new Line("apple", 3, 0.5)).ToString());
    }

    [Fact]
    public void Record_ReadFromAValuePeer_TakesIntegersForDoublesAndKeysInAnyOrder()
    {
        var order = FromJson<Order>("""
            {"status":"Shipped","lines":[{"price":2,"quantity":1,"sku":"pear"}],"id":"o-2","shipTo":null}
            """);

        Assert.Equal("o-2", order.Id);
        Assert.Equal([new Line("pear", 1, 2.0)], order.Lines);
        Assert.Equal(OrderStatus.Shipped, order.Status);
        Assert.Null(order.ShipTo);
    }

    [Fact]
    public void Class_RequiredInitSettableRenamedIgnored_RoundTrip()
    {
        var customer = new Customer { Name = "Ada", Age = 36, Email = null, Id = s_guid, Secret = "hidden", Priority = Priority.High };

        var value = ToValue(customer);
        var read = RoundTrip(customer);

        Assert.Equal(Value.Parse($$"""{"name":"Ada","age":36,"email":null,"customer_id":"{{s_guid}}","priority":"High"}"""), value);
        Assert.Equal(("Ada", 36, null, s_guid, Priority.High), (read.Name, read.Age, read.Email, read.Id, read.Priority));
        Assert.Equal("not on the wire", read.Secret);
    }

    [Fact]
    public void Class_SettableNonNullablePropertyAbsent_IsMissing()
    {
        var error = Refused<Customer>($$"""{"name":"Ada","customer_id":"{{s_guid}}","priority":"Low"}""");

        AssertError(error, MessageContractError.MissingField, "Customer", "age");
    }

    [Fact]
    public void Struct_AndRecordStruct_AndTypeNestedInPartialClasses_RoundTrip()
    {
        var inner = new Outer.Middle.Inner("here", new Point { X = -3, Y = 400 }, new Size(16, 9));

        Assert.Equal(inner, RoundTrip(inner));
        Assert.Equal(inner with { Extent = null }, RoundTrip(inner with { Extent = null }));
        Assert.Equal(Value.Parse("""{"name":"here","where":{"x":-3,"y":400},"extent":{"width":16,"height":9}}"""), ToValue(inner));
        Assert.Equal(new Point { X = 1, Y = 2 }, FromJson<Point>("""{"y":2,"x":1}"""));
    }

    [Fact]
    public void EmptyRecord_IsAnEmptyObject()
    {
        Assert.Equal("{}", ToValue(new Ping()).ToString());
        Assert.Equal(new Ping(), FromJson<Ping>("""{"later":"fields are skipped"}"""));
    }

    [Fact]
    public void Scalars_RoundTrip_AtTheirLimits()
    {
        var low = new Scalars(false, byte.MinValue, sbyte.MinValue, short.MinValue, ushort.MinValue, int.MinValue, uint.MinValue,
            long.MinValue, float.MinValue, double.MinValue, "", Guid.Empty, DateTimeOffset.MinValue, [], Value.Null);
        var high = new Scalars(true, byte.MaxValue, sbyte.MaxValue, short.MaxValue, ushort.MaxValue, int.MaxValue, uint.MaxValue,
            long.MaxValue, float.MaxValue, double.MaxValue, "žluťoučký 😀", s_guid, s_when, [1, 2, 255],
            Value.Parse("""{"any":[1,"two",{"three":3.5}]}"""));

        foreach (var scalars in new[] { low, high })
        {
            var read = RoundTrip(scalars);
            Assert.Equal(scalars with { Blob = read.Blob }, read);
            Assert.Equal(scalars.Blob, read.Blob);
        }
    }

    [Fact]
    public void Scalars_ReadFromAValuePeer_GuidAndDateAsTextBlobAsBinary()
    {
        var scalars = FromJson<Scalars>($$"""
            {"flag":true,"u8":200,"i8":-100,"i16":-30000,"u16":60000,"i32":-5,"u32":4000000000,"i64":9007199254740993,
             "f32":1,"f64":2,"text":"t","id":"{{s_guid}}","when":"2024-02-29T13:45:30.123+02:00",
             "blob":{"__noex_type__":"Binary","value":"AQL/"},"any":null}
            """);

        Assert.Equal(new Scalars(true, 200, -100, -30000, 60000, -5, 4000000000, 9007199254740993, 1f, 2.0, "t", s_guid, s_when,
            scalars.Blob, Value.Null), scalars);
        Assert.Equal(new byte[] { 1, 2, 255 }, scalars.Blob);
        Assert.Equal(s_guid.ToString(), ToValue(scalars)["id"].AsString());
    }

    // ---- collections ----

    [Fact]
    public void Collections_RoundTrip_EveryKindNested()
    {
        var collections = SampleCollections();

        var read = RoundTrip(collections);

        Assert.Equal(collections.Numbers, read.Numbers);
        Assert.Equal(collections.Names, read.Names);
        Assert.Equal(collections.Lines, read.Lines);
        Assert.Equal(collections.Longs, read.Longs);
        Assert.Equal(collections.ByName, read.ByName);
        Assert.Equal(collections.Prices, read.Prices);
        Assert.Equal(collections.Notes, read.Notes);
        Assert.Equal(collections.Grid, read.Grid);
        Assert.Equal(collections.Jagged, read.Jagged);
        Assert.Equal(collections.Holes, read.Holes);
        Assert.Equal(collections.Groups, read.Groups);
        Assert.Equal(collections.Rows, read.Rows);
        Assert.Equal(collections.Blobs, read.Blobs);
        Assert.Equal(collections.Statuses, read.Statuses);
    }

    [Fact]
    public void Collections_Write_ListsAsArraysAndDictionariesAsObjects()
    {
        var value = ToValue(SampleCollections());

        Assert.Equal(Value.Parse("""[[1,2],[],[3]]"""), value["grid"]);
        Assert.Equal(Value.Parse("""{"apple":{"sku":"apple","quantity":3,"price":0.5}}"""), value["byName"]);
        Assert.Equal(Value.Parse("""{"a":"x","b":null}"""), value["notes"]);
        Assert.Equal(Value.Parse("""[1,null,3]"""), value["holes"]);
        Assert.Equal(Value.Parse("""{"fruit":["apple","pear"],"none":[]}"""), value["groups"]);
        Assert.Equal(Value.Parse("""["Pending","cancelled"]"""), value["statuses"]);
    }

    [Fact]
    public void Collections_Empty_ReadAsEmpty()
    {
        var read = FromJson<Collections>("""
            {"numbers":[],"names":[],"lines":[],"longs":[],"byName":{},"prices":{},"notes":{},"grid":[],"jagged":[],
             "holes":[],"groups":{},"rows":[],"blobs":[],"statuses":[]}
            """);

        Assert.Same(Array.Empty<int>(), read.Numbers);
        Assert.Empty(read.Names);
        Assert.Empty(read.Lines);
        Assert.Empty(read.ByName);
        Assert.Empty(read.Grid);
    }

    [Fact]
    public void Collections_NonNullableElementNull_IsMissingAtItsIndex()
    {
        var error = Refused<Order>("""{"id":"o","lines":[{"sku":"a","quantity":1,"price":1},null],"status":"Pending","shipTo":null}""");

        AssertError(error, MessageContractError.MissingField, "Order", "lines[1]");
    }

    // ---- nullable fields ----

    [Fact]
    public void Optionals_Absent_ReadAsNull()
    {
        Assert.Equal(new Optionals(null, null, null, null, null, null, null, null, null), FromJson<Optionals>("{}"));
    }

    [Fact]
    public void Optionals_Null_ReadAsNullAndWriteAsNull()
    {
        var read = FromJson<Optionals>("""
            {"note":null,"count":null,"line":null,"status":null,"items":null,"ref":null,"blob":null,"extra":null,"where":null}
            """);

        Assert.Equal(new Optionals(null, null, null, null, null, null, null, null, null), read);
        Assert.Equal(Value.Parse("""
            {"note":null,"count":null,"line":null,"status":null,"items":null,"ref":null,"blob":null,"extra":null,"where":null}
            """), ToValue(read));
    }

    [Fact]
    public void Optionals_Present_RoundTrip()
    {
        var optionals = new Optionals("n", 0, new Line("a", 1, 1), OrderStatus.Pending, [1, 2], s_guid, [7], Value.Parse("[1]"),
            new Point { X = 1, Y = 1 });

        var read = RoundTrip(optionals);

        Assert.Equal(optionals with { Items = read.Items, Blob = read.Blob }, read);
        Assert.Equal(optionals.Items, read.Items);
        Assert.Equal(optionals.Blob, read.Blob);
    }

    // ---- enums ----

    [Fact]
    public void Enum_UnknownName_IsInvalidNamingTheValue()
    {
        var error = Refused<Order>("""{"id":"o","lines":[],"status":"Lost","shipTo":null}""");

        AssertError(error, MessageContractError.InvalidValue, "Order", "status");
        Assert.Contains("'Lost' is not a member of OrderStatus", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Enum_NamesAreCaseSensitiveAndRenamedOnesTakeOnlyTheirNewName()
    {
        AssertError(Refused<Order>("""{"id":"o","lines":[],"status":"pending","shipTo":null}"""),
            MessageContractError.InvalidValue, "Order", "status");
        AssertError(Refused<Order>("""{"id":"o","lines":[],"status":"Cancelled","shipTo":null}"""),
            MessageContractError.InvalidValue, "Order", "status");
        AssertError(Refused<Order>("""{"id":"o","lines":[],"status":1,"shipTo":null}"""),
            MessageContractError.WrongKind, "Order", "status");
    }

    [Fact]
    public void Enum_TwoNamesForOneValue_BothReadTheFirstWritten()
    {
        var json = $$"""{"name":"A","age":1,"email":null,"customer_id":"{{s_guid}}","priority":"Default"}""";

        var customer = FromJson<Customer>(json);

        Assert.Equal(Priority.Normal, customer.Priority);
        Assert.Equal("Normal", ToValue(customer)["priority"].AsString());
    }

    [Fact]
    public void Enum_UndefinedValue_WriteThrowsNamingTheProperty()
    {
        var order = SampleOrder() with { Status = (OrderStatus)42 };

        var error = Assert.Throws<MessageContractException>(() => Encode(order));

        Assert.Contains("Order.status: 42 is not a named member of OrderStatus", error.Message, StringComparison.Ordinal);
        Assert.Equal((MessageContractError.InvalidValue, "Order", "status"), (error.Error, error.TypeName, error.Field));
    }

    // ---- families ----

    [Fact]
    public void Family_RoundTripThroughTheBase_KeepsTheMemberType()
    {
        StoreMsg[] messages = [new Inc("k", 5), new Get("k"), new Put("k", Value.Parse("""{"nested":[1,2]}"""))];

        foreach (var message in messages)
        {
            Assert.Equal(message, Decode<StoreMsg>(Encode(message)));
        }
        // The base's contract writes exactly what the member's does.
        Assert.Equal(Encode(new Inc("k", 5)), Encode<StoreMsg>(new Inc("k", 5)));
        Assert.Equal(new Inc("k", 5), Decode<Inc>(Encode<StoreMsg>(new Inc("k", 5))));
    }

    [Fact]
    public void Family_Member_WritesTheDiscriminatorFirst()
    {
        Assert.Equal("""{"type":"inc","key":"k","by":1}""", ToValue<StoreMsg>(new Inc("k")).ToString());
        Assert.Equal("""{"type":"inc","key":"k","by":1}""", ToValue(new Inc("k")).ToString());
        Assert.Equal("""{"kind":"rounded","label":"r","side":2.0,"corner":0.5}""",
            ToValue<Shape>(new RoundedSquare { Label = "r", Side = 2, Corner = 0.5 }).ToString());
    }

    [Fact]
    public void Family_ValuePeerMessage_ReadsAsItsMember()
    {
        // A TypeScript peer's { type: 'inc', key: 'k' }: By takes its constructor default.
        Assert.Equal(new Inc("k", 1), FromJson<StoreMsg>("""{ "type": "inc", "key": "k" }"""));
        Assert.Equal(new Get("k"), FromJson<StoreMsg>("""{"key":"k","later":[1,{"x":2}],"type":"get"}"""));
        Assert.Equal(new Inc("k", 2), FromJson<Inc>("""{"by":2,"key":"k","type":"inc"}"""));
    }

    [Fact]
    public void Family_SubclassedMember_IsTestedBeforeItsBase()
    {
        Shape[] shapes = [new Circle { Radius = 1 }, new Square { Side = 2, Label = "s" }, new RoundedSquare { Side = 3, Corner = 1 }];

        var read = shapes.Select(shape => Decode<Shape>(Encode(shape))).ToArray();

        Assert.IsType<Circle>(read[0]);
        Assert.Equal(("s", 2.0), (read[1].Label, Assert.IsType<Square>(read[1]).Side));
        Assert.Equal((3.0, 1.0), (Assert.IsType<RoundedSquare>(read[2]).Side, ((RoundedSquare)read[2]).Corner));
    }

    [Fact]
    public void Family_InsideAMessage_RoundTrips()
    {
        var drawing = new Drawing("d", [new Circle { Radius = 1, Label = "c" }, new Square { Side = 2 }], new Get("x"));

        var read = RoundTrip(drawing);

        Assert.Equal(("d", new Get("x")), (read.Title, read.Last));
        Assert.Equal((1.0, "c"), (Assert.IsType<Circle>(read.Shapes[0]).Radius, read.Shapes[0].Label));
        Assert.Equal(2.0, Assert.IsType<Square>(read.Shapes[1]).Side);
    }

    [Fact]
    public void Family_UnknownDiscriminator_IsUnknownDiscriminator()
    {
        var error = Refused<StoreMsg>("""{"type":"dec","key":"k"}""");

        AssertError(error, MessageContractError.UnknownDiscriminator, "StoreMsg", "type");
        Assert.Contains("'dec'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Family_MissingDiscriminator_IsMissingThroughTheBaseAndTheMember()
    {
        AssertError(Refused<StoreMsg>("""{"key":"k"}"""), MessageContractError.MissingField, "StoreMsg", "type");
        AssertError(Refused<Inc>("""{"key":"k"}"""), MessageContractError.MissingField, "Inc", "type");
        AssertError(Refused<Shape>("""{"type":"circle","radius":1}"""), MessageContractError.MissingField, "Shape", "kind");
    }

    [Fact]
    public void Family_DiscriminatorOfTheWrongKindOrMember_IsRefused()
    {
        AssertError(Refused<StoreMsg>("""{"type":1,"key":"k"}"""), MessageContractError.WrongKind, "StoreMsg", "type");
        AssertError(Refused<Inc>("""{"type":"get","key":"k"}"""), MessageContractError.InvalidValue, "Inc", "type");
        AssertError(Refused<Inc>("""{"type":null,"key":"k"}"""), MessageContractError.MissingField, "Inc", "type");
        AssertError(Refused<StoreMsg>("""{"type":"inc","key":5}"""), MessageContractError.WrongKind, "Inc", "key");
    }

    [Fact]
    public void Family_DiscriminatorTwice_IsDuplicate()
    {
        var bytes = RawObject(
            ("type", (ref ValueWriter w) => w.WriteString("inc")),
            ("key", (ref ValueWriter w) => w.WriteString("k")),
            ("type", (ref ValueWriter w) => w.WriteString("inc")));

        AssertError(Assert.Throws<MessageContractException>(() => Decode<StoreMsg>(bytes)), MessageContractError.DuplicateField, "Inc", "type");
    }

    [Fact]
    public void Family_UnlistedRuntimeType_WriteThrows()
    {
        var error = Assert.Throws<MessageContractException>(() => Encode<StoreMsg>(new Unlisted("x")));

        Assert.Equal((MessageContractError.InvalidValue, "StoreMsg"), (error.Error, error.TypeName));
    }

    // ---- version tolerance ----

    [Fact]
    public void Version_NewerSendersExtraFields_AreSkipped()
    {
        var v2 = new PersonV2("Ada", 36, "UK");

        Assert.Equal(new PersonV1("Ada"), Decode<PersonV1>(Encode(v2)));
    }

    [Fact]
    public void Version_OlderSendersMissingFields_TakeTheConstructorDefaults()
    {
        Assert.Equal(new PersonV2("Ada", 30, "CZ"), Decode<PersonV2>(Encode(new PersonV1("Ada"))));
    }

    [Fact]
    public void Version_UnknownFieldsOfEveryKind_AreSkippedWhole()
    {
        var read = FromJson<Line>("""
            {"new1":{"deep":[1,[2,{"x":null}]]},"sku":"a","new2":"text","quantity":2,"new3":1.5,"price":1,"new4":[]}
            """);

        Assert.Equal(new Line("a", 2, 1.0), read);
    }

    // ---- bad input: each error kind, with the type and the field path ----

    public static TheoryData<string, MessageContractError, string?> BadLines => new()
    {
        { """{"sku":1,"quantity":1,"price":1}""", MessageContractError.WrongKind, "sku" },
        { """{"sku":"a","quantity":"1","price":1}""", MessageContractError.WrongKind, "quantity" },
        { """{"sku":"a","quantity":1.5,"price":1}""", MessageContractError.WrongKind, "quantity" },
        { """{"sku":"a","quantity":1,"price":"1"}""", MessageContractError.WrongKind, "price" },
        { """{"quantity":1,"price":1}""", MessageContractError.MissingField, "sku" },
        { """{"sku":null,"quantity":1,"price":1}""", MessageContractError.MissingField, "sku" },
        { """{"sku":"a","price":1}""", MessageContractError.MissingField, "quantity" },
        { """{"sku":"a","quantity":null,"price":1}""", MessageContractError.MissingField, "quantity" },
        { """{"sku":"a","quantity":2147483648,"price":1}""", MessageContractError.InvalidValue, "quantity" },
        { """{"sku":"a","quantity":-2147483649,"price":1}""", MessageContractError.InvalidValue, "quantity" },
        { """["sku","a"]""", MessageContractError.WrongKind, null },
        { "null", MessageContractError.MissingField, null },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void BadInput_Line_NamesTheTypeAndField(string json, MessageContractError expected, string? field)
    {
        AssertError(Refused<Line>(json), expected, "Line", field);
    }

    [Fact]
    public void BadInput_DuplicateField_IsDuplicate()
    {
        var bytes = RawObject(
            ("sku", (ref ValueWriter w) => w.WriteString("a")),
            ("quantity", (ref ValueWriter w) => w.WriteInt64(1)),
            ("price", (ref ValueWriter w) => w.WriteDouble(1)),
            ("sku", (ref ValueWriter w) => w.WriteString("b")));

        AssertError(Assert.Throws<MessageContractException>(() => Decode<Line>(bytes)), MessageContractError.DuplicateField, "Line", "sku");
    }

    [Fact]
    public void BadInput_DuplicateDictionaryKey_IsDuplicateAtThatKey()
    {
        var bytes = RawObject(("prices", (ref ValueWriter w) =>
        {
            w.WriteObjectHeader(2);
            w.WritePropertyName("a");
            w.WriteDouble(1);
            w.WritePropertyName("a");
            w.WriteDouble(2);
        }));

        var error = Assert.Throws<MessageContractException>(() => Decode<Collections>(bytes));

        AssertError(error, MessageContractError.DuplicateField, "Collections", "prices.a");
    }

    public static TheoryData<string, string, MessageContractError, string> BadScalars => new()
    {
        { "u8", "256", MessageContractError.InvalidValue, "outside 0..255" },
        { "u8", "-1", MessageContractError.InvalidValue, "outside 0..255" },
        { "i8", "-129", MessageContractError.InvalidValue, "outside -128..127" },
        { "u16", "65536", MessageContractError.InvalidValue, "outside 0..65535" },
        { "u32", "-1", MessageContractError.InvalidValue, "outside 0..4294967295" },
        { "f32", "1e300", MessageContractError.InvalidValue, "beyond the range of a 32-bit float" },
        { "id", "\"not-a-guid\"", MessageContractError.InvalidValue, "not a Guid" },
        { "id", "\"0f8fad5bd9cb469fa16570867728950e\"", MessageContractError.InvalidValue, "not a Guid" },
        { "when", "\"yesterday\"", MessageContractError.InvalidValue, "not an ISO 8601" },
        { "blob", "\"AQL/\"", MessageContractError.WrongKind, "expected a binary blob, found a string" },
        { "flag", "0", MessageContractError.WrongKind, "expected a boolean, found an integer" },
    };

    [Theory]
    [MemberData(nameof(BadScalars))]
    public void BadInput_Scalar_NamesTheFieldAndTheProblem(string field, string json, MessageContractError expected, string detail)
    {
        var good = ToValue(new Scalars(true, 1, 1, 1, 1, 1, 1, 1, 1, 1, "t", s_guid, s_when, [1], Value.Null));
        var bad = Value.Object(good.AsObject().ToArray().Select(e => (e.Key, e.Key == field ? Value.Parse(json) : e.Value)).ToArray());

        var error = Assert.Throws<MessageContractException>(() => Decode<Scalars>(ValueCodec.Encode(bad)));

        AssertError(error, expected, "Scalars", field);
        Assert.Contains(detail, error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void BadInput_DeepInAList_NamesThePath()
    {
        var error = Refused<Order>("""
            {"id":"o","lines":[{"sku":"a","quantity":1,"price":1},{"sku":"b","quantity":"two","price":1}],"status":"Pending","shipTo":null}
            """);

        AssertError(error, MessageContractError.WrongKind, "Order", "lines[1].quantity");
        Assert.Equal("Order.lines[1].quantity: expected an integer, found a string", error.Message);
    }

    [Fact]
    public void BadInput_InANestedMessage_NamesThePath()
    {
        var error = Refused<Order>("""{"id":"o","lines":[],"status":"Pending","shipTo":{"street":"s"}}""");

        AssertError(error, MessageContractError.MissingField, "Order", "shipTo.city");
    }

    public static TheoryData<string, string> BadNestedCollections => new()
    {
        { "grid", """[[1],[2,3,"x"]]""" },
        { "jagged", """[[1],[2,3,"x"]]""" },
        { "byName", """{"apple":{"sku":"apple","quantity":"x","price":1}}""" },
        { "groups", """{"fruit":["a",1]}""" },
        { "rows", """[{"a":1},{"b":"x"}]""" },
        { "numbers", """[1,2,"x"]""" },
        { "statuses", """["Pending","Pending","Lost"]""" },
        { "holes", """[1,null,"x"]""" },
        { "notes", """{"a":1}""" },
    };

    [Theory]
    [MemberData(nameof(BadNestedCollections))]
    public void BadInput_InNestedCollections_NamesEachLevel(string field, string json)
    {
        var good = ToValue(SampleCollections());
        var bad = Value.Object(good.AsObject().ToArray().Select(e => (e.Key, e.Key == field ? Value.Parse(json) : e.Value)).ToArray());

        var error = Assert.Throws<MessageContractException>(() => Decode<Collections>(ValueCodec.Encode(bad)));

        var expected = field switch
        {
            "grid" or "jagged" => field + "[1][2]",
            "byName" => "byName.apple.quantity",
            "groups" => "groups.fruit[1]",
            "rows" => "rows[1].b",
            "notes" => "notes.a",
            _ => field + "[2]",
        };
        Assert.Equal(("Collections", expected), (error.TypeName, error.Field));
    }

    [Fact]
    public void BadInput_WrongKindForACollection_NamesTheField()
    {
        var good = ToValue(SampleCollections());
        var bad = Value.Object(good.AsObject().ToArray().Select(e => (e.Key, e.Key == "byName" ? Value.Parse("[]") : e.Value)).ToArray());

        var error = Assert.Throws<MessageContractException>(() => Decode<Collections>(ValueCodec.Encode(bad)));

        AssertError(error, MessageContractError.WrongKind, "Collections", "byName");
    }

    // ---- interop with Value ----

    [Fact]
    public void Interop_ValueParseEncoded_ReadsAsTheContractWritesIt()
    {
        var json = """{"title":"d","shapes":[{"kind":"circle","radius":1.0,"label":null}],"last":{"type":"put","key":"k","value":[true]}}""";

        var drawing = FromJson<Drawing>(json);

        Assert.Equal(Value.Parse(json), ToValue(drawing));
        Assert.Equal(new Put("k", Value.Parse("[true]")), drawing.Last);
    }

    // ---- nesting limit ----

    [Fact]
    public void Recursive_At64Levels_RoundTrips()
    {
        var chain = MakeChain(64);

        Assert.Equal(64, Length(RoundTrip(chain)));
    }

    [Fact]
    public void Recursive_BeyondTheLimit_WriteThrowsDepthExceeded()
    {
        var error = Assert.Throws<ValueCodecException>(() => Encode(MakeChain(65)));

        Assert.Equal(ValueCodecError.DepthExceeded, error.Error);
        // A tree nests an object and an array per level.
        var tree = new TreeNode("leaf", []);
        for (var i = 0; i < 40; i++)
        {
            tree = new TreeNode("n" + i, [tree]);
        }
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => Encode(tree)).Error);
    }

    [Fact]
    public void Recursive_BeyondTheLimit_ReadThrowsDepthExceededWithoutRecursingFurther()
    {
        var deep = Encode(MakeChain(65), maxDepth: 1000);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => Decode<Chain>(deep)).Error);

        // 100,000 levels, written flat: the reader stops at level 65, far from the end of the stack.
        var output = new ArrayBufferWriter<byte>();
        var writer = new ValueWriter(output);
        for (var i = 0; i < 100_000; i++)
        {
            writer.WriteObjectHeader(2);
            writer.WritePropertyName("depth");
            writer.WriteInt64(i);
            writer.WritePropertyName("next");
        }
        writer.WriteNull();
        writer.Flush();
        var bytes = output.WrittenSpan.ToArray();

        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => Decode<Chain>(bytes)).Error);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => Decode<Chain>(bytes, maxDepth: 200)).Error);
    }

    // ---- registration and allocation ----

    [Fact]
    public void Registration_EveryMessageOfTheAssembly_HasItsContractWhenItLoads()
    {
        Assert.True(ValueContracts.TryGet<Order>(out var order));
        Assert.IsType<Order.NoexContract>(order);
        Assert.IsType<StoreMsg.NoexContract>(ValueContracts.Get<StoreMsg>());
        Assert.IsType<Inc.NoexContract>(ValueContracts.Get<Inc>());
        Assert.IsType<Outer.Middle.Inner.NoexContract>(ValueContracts.Get<Outer.Middle.Inner>());
        Assert.IsType<Size.NoexContract>(ValueContracts.Get<Size>());
    }

    [Fact]
    public void Write_AllocatesNothing()
    {
        var order = SampleOrder();
        var family = (StoreMsg)new Inc("k", 5);
        var collections = SampleCollections();
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        WriteAll(output, order, family, collections);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            WriteAll(output, order, family, collections);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Read_AllocatesOnlyTheMessage()
    {
        var point = Encode(new Point { X = 1, Y = 2 });
        var chain = Encode(new Chain(1, null));
        var inc = Encode<StoreMsg>(new Inc("k", 5));
        ReadMany<Point>(point, 1);
        ReadMany<Chain>(chain, 1);
        ReadMany<StoreMsg>(inc, 1);

        // A struct of scalars: nothing. A Chain: the 32-byte object (header, method table, Depth, Next) and nothing else.
        Assert.Equal(0, ReadMany<Point>(point, 100));
        Assert.Equal(100 * 32, ReadMany<Chain>(chain, 100));
        // An Inc through its family's base: the 32-byte Inc (header, method table, Key, By), and its key "k" (24 bytes)
        // only when a test running in parallel has just pushed it out of the codec's shared string cache.
        var family = ReadMany<StoreMsg>(inc, 100);
        Assert.InRange(family, 100 * 32, 100 * (32 + 24));
    }

    // ---- helpers ----

    private delegate void EntryWriter(ref ValueWriter writer);

    private static void WriteAll(ArrayBufferWriter<byte> output, Order order, StoreMsg family, Collections collections)
    {
        output.ResetWrittenCount();
        var writer = new ValueWriter(output);
        ValueContracts.Get<Order>().Write(ref writer, order);
        ValueContracts.Get<StoreMsg>().Write(ref writer, family);
        ValueContracts.Get<Collections>().Write(ref writer, collections);
        writer.Flush();
    }

    /// <summary>Reads <paramref name="bytes"/> <paramref name="times"/> times; returns the bytes allocated.</summary>
    private static long ReadMany<T>(byte[] bytes, int times)
    {
        var contract = ValueContracts.Get<T>();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < times; i++)
        {
            var reader = new ValueReader(bytes);
            _ = contract.Read(ref reader);
        }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static Order SampleOrder() =>
        new("o-1", [new Line("apple", 3, 0.5), new Line("pear", 1, 2.0)], OrderStatus.Cancelled, new Address("Main 1", "Brno"));

    private static Collections SampleCollections() => new(
        Numbers: [1, -2, int.MaxValue],
        Names: ["a", "", "ü"],
        Lines: [new Line("x", 1, 1.5)],
        Longs: [long.MinValue, 0],
        ByName: new() { ["apple"] = new Line("apple", 3, 0.5) },
        Prices: new Dictionary<string, double> { ["a"] = 1.25, ["b"] = -3 },
        Notes: new Dictionary<string, string?> { ["a"] = "x", ["b"] = null },
        Grid: [[1, 2], [], [3]],
        Jagged: [[1], [2, 3, 4]],
        Holes: [1, null, 3],
        Groups: new() { ["fruit"] = ["apple", "pear"], ["none"] = [] },
        Rows: [new() { ["a"] = 1 }, new() { ["b"] = 2 }],
        Blobs: [[1, 2], []],
        Statuses: [OrderStatus.Pending, OrderStatus.Cancelled]);

    private static Chain MakeChain(int length)
    {
        Chain? chain = null;
        for (var i = length - 1; i >= 0; i--)
        {
            chain = new Chain(i, chain);
        }
        return chain!;
    }

    private static int Length(Chain chain)
    {
        var length = 0;
        for (Chain? link = chain; link is not null; link = link.Next)
        {
            length++;
        }
        return length;
    }

    private static byte[] Encode<T>(T message, int maxDepth = ValueCodec.DefaultMaxDepth)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new ValueWriter(output, maxDepth);
        ValueContracts.Get<T>().Write(ref writer, message);
        Assert.Equal(0, writer.Depth);
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    private static T Decode<T>(byte[] bytes, int maxDepth = ValueCodec.DefaultMaxDepth)
    {
        var reader = new ValueReader(bytes, maxDepth);
        var message = ValueContracts.Get<T>().Read(ref reader);
        Assert.True(reader.IsAtEnd, "the contract read the whole value");
        Assert.Equal(0, reader.Depth);
        return message;
    }

    private static T RoundTrip<T>(T message) => Decode<T>(Encode(message));

    private static Value ToValue<T>(T message) => ValueCodec.Decode(Encode(message));

    private static T FromJson<T>(string json) => Decode<T>(ValueCodec.Encode(Value.Parse(json)));

    private static MessageContractException Refused<T>(string json) => Assert.Throws<MessageContractException>(() => FromJson<T>(json));

    /// <summary>An object written entry by entry, for inputs Value.Parse refuses (a key twice).</summary>
    private static byte[] RawObject(params (string Key, EntryWriter Write)[] entries)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new ValueWriter(output);
        writer.WriteObjectHeader(entries.Length);
        foreach (var (key, write) in entries)
        {
            writer.WritePropertyName(key);
            write(ref writer);
        }
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    private static void AssertError(MessageContractException error, MessageContractError expected, string typeName, string? field)
    {
        Assert.Equal((expected, typeName, field), (error.Error, error.TypeName, error.Field));
    }
}
