namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class NodeIdTests
{
    [Theory]
    [InlineData("app1@127.0.0.1:4369", "app1", "127.0.0.1", 4369)]
    [InlineData("a@localhost:1", "a", "localhost", 1)]
    [InlineData("node_b-2@my-host.example.com:65535", "node_b-2", "my-host.example.com", 65535)]
    [InlineData("n@::1:4370", "n", "::1", 4370)]
    [InlineData("n@[fe80::1]:4370", "n", "[fe80::1]", 4370)]
    public void Parse_ValidText_GivesItsParts(string text, string name, string host, int port)
    {
        var id = NodeId.Parse(text);

        Assert.Equal(name, id.Name);
        Assert.Equal(host, id.Host);
        Assert.Equal(port, id.Port);
        Assert.Equal(text, id.ToString());
        Assert.Equal(id, NodeId.Create(name, host, port));
    }

    [Theory]
    [InlineData("app1127.0.0.1:4369", "missing '@'")]
    [InlineData("app1@127.0.0.1", "missing ':'")]
    [InlineData("a:1@host", "missing ':'")]
    [InlineData("@127.0.0.1:4369", "name must not be empty")]
    [InlineData("1app@127.0.0.1:4369", "start with a letter")]
    [InlineData("ap.p@127.0.0.1:4369", "not '.'")]
    [InlineData("app@:4369", "host must not be empty")]
    [InlineData("app@256.0.0.1:4369", "looks like IPv4")]
    [InlineData("app@1.2.3:4369", "looks like IPv4")]
    [InlineData("app@-host:4369", "RFC 1123")]
    [InlineData("app@ho_st:4369", "not '_'")]
    [InlineData("app@fe80::zz:4369", "IPv6")]
    [InlineData("app@host:0", "outside 1–65535")]
    [InlineData("app@host:65536", "outside 1–65535")]
    [InlineData("app@host:4369abc", "not a valid number")]
    [InlineData("app@host:+4369", "not a valid number")]
    [InlineData("app@host:", "not a valid number")]
    public void Parse_InvalidText_ThrowsNamingTheRule(string text, string reason)
    {
        var e = Assert.Throws<InvalidNodeIdException>(() => NodeId.Parse(text));

        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Equal(text, e.Value);
        Assert.False(NodeId.IsValid(text));
    }

    [Fact]
    public void Parse_NameOf64Characters_IsValidAnd65IsNot()
    {
        Assert.True(NodeId.IsValid(new string('a', 64) + "@h:1"));
        Assert.False(NodeId.IsValid(new string('a', 65) + "@h:1"));
    }

    [Fact]
    public void Id_Of255CharactersIsValid_And256IsNot_ForItTravelsAsAStr8()
    {
        var host = string.Join('.', Enumerable.Repeat(new string('h', 61), 3)) + ".hhh"; // 190 characters, valid labels
        var name = new string('a', 59);
        var fits = $"{name}@{host}:12345";
        Assert.Equal(255, fits.Length);
        Assert.True(NodeId.IsValid(fits));
        Assert.Contains("longer than 255", Assert.Throws<InvalidNodeIdException>(() => NodeId.Parse($"{name}a@{host}:12345")).Reason, StringComparison.Ordinal);
        Assert.Throws<InvalidNodeIdException>(() => NodeId.Create(name + "a", host, 12345));
    }

    [Fact]
    public void CompareTo_OrdersByTextOrdinal_SoEveryNodeSettlesRacesAlike()
    {
        var a = NodeId.Parse("a@h:2");
        var b = NodeId.Parse("b@h:1");

        Assert.True(a < b);
        Assert.True(b > a);
        Assert.Equal(0, a.CompareTo(NodeId.Parse("a@h:2")));
        Assert.Equal(a.GetHashCode(), NodeId.Parse("a@h:2").GetHashCode());
    }
}
