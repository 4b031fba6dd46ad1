using System.Runtime.CompilerServices;

namespace Noex.Lite.Tests;

/// <summary>A message type with a hand-written contract (no generator): what a user writes for a type they cannot mark.</summary>
public sealed record Coord(int X, int Y);

/// <summary><see cref="Coord"/> as <c>{"x": int, "y": int}</c>, both required, unknown keys skipped.</summary>
internal sealed class CoordContract : ValueContract<Coord>
{
    public override void Write(ref ValueWriter writer, Coord value)
    {
        writer.EnterContainer();
        writer.WriteObjectHeader(2);
        writer.WritePropertyName("x"u8);
        writer.WriteInt64(value.X);
        writer.WritePropertyName("y"u8);
        writer.WriteInt64(value.Y);
        writer.ExitContainer();
    }

    public override Coord Read(ref ValueReader reader)
    {
        var count = MessageFields.ReadObjectHeader(ref reader, nameof(Coord), null);
        int? x = null, y = null;
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadPropertyName();
            if (key.SequenceEqual("x"u8))
            {
                x = MessageFields.ReadInt32(ref reader, nameof(Coord), "x");
            }
            else if (key.SequenceEqual("y"u8))
            {
                y = MessageFields.ReadInt32(ref reader, nameof(Coord), "y");
            }
            else
            {
                reader.Skip();
            }
        }
        reader.ExitContainer();
        if (x is null)
        {
            MessageFields.ThrowMissing(nameof(Coord), "x");
        }
        if (y is null)
        {
            MessageFields.ThrowMissing(nameof(Coord), "y");
        }
        return new Coord(x.Value, y.Value);
    }

    [ModuleInitializer]
    internal static void Register() => ValueContracts.Register(new CoordContract());
}
