namespace Noex.Lite;

/// <summary>The base of every exception that Noex.Lite throws on purpose.</summary>
/// <remarks>
/// Catch <see cref="NoexException"/> to handle any library failure; catch a subclass to act on one kind.
/// Messages name what failed, where (byte offsets for wire errors) and, where one exists, the option to change.
/// </remarks>
public class NoexException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What failed and why.</param>
    public NoexException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">What failed and why.</param>
    /// <param name="innerException">The underlying failure.</param>
    public NoexException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
