using System.Globalization;

namespace Noex.Lite.Bench;

/// <summary>The whole-number options of the bench verbs (<c>--names 1000000</c>): one reading instead of a loop per verb.</summary>
internal static class BenchArgs
{
    /// <summary>The value after the last <paramref name="name"/> in <paramref name="args"/>, or <paramref name="fallback"/>.</summary>
    public static int Int(string[] args, string name, int fallback)
    {
        var value = fallback;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == name)
            {
                value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
        }
        return value;
    }
}
