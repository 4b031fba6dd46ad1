using System.IO.Compression;
using System.Xml.Linq;

namespace Noex.Lite.Tests;

/// <summary>
/// <c>dotnet pack</c> of the library gives a package a user can trust from its page: real metadata, the readme, the
/// library with its XML docs, and exactly the two dependencies the csproj pins.
/// </summary>
[Trait("Category", Category.Process)]
public class PackageTests
{
    [Fact]
    public async Task Pack_Library_HasItsMetadataReadmeDocsAndOnlyItsTwoDependencies()
    {
        var output = Path.Combine(Path.GetTempPath(), "noex-pack-" + Guid.NewGuid().ToString("N"));
        try
        {
            var project = Path.Combine(ProtocolVectors.RepoRoot, "Noex.Lite", "Noex.Lite.csproj");
            // --no-build packs what this test run built; the nuspec goes to the temp folder, not into the library's obj.
            var (exit, log) = await DotnetCommand.RunAsync(
                $"pack \"{project}\" -c Release --no-build --no-restore -o \"{output}\" -p:NuspecOutputPath=\"{output}/spec/\"",
                ProtocolVectors.RepoRoot);
            Assert.True(exit == 0, $"dotnet pack failed with {exit}:\n{log}");

            var package = Assert.Single(Directory.GetFiles(output, "Noex.Lite.*.nupkg"));
            using var zip = ZipFile.OpenRead(package);
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            Assert.Contains("lib/net10.0/Noex.Lite.dll", entries);
            Assert.Contains("lib/net10.0/Noex.Lite.xml", entries);
            Assert.Contains("README.md", entries);

            using var nuspecStream = zip.Entries.Single(e => e.FullName == "Noex.Lite.nuspec").Open();
            var nuspec = XDocument.Load(nuspecStream);
            var ns = nuspec.Root!.Name.Namespace;
            var metadata = nuspec.Root.Element(ns + "metadata")!;
            string Field(string name) => metadata.Element(ns + name)?.Value ?? "";

            Assert.Equal("Noex.Lite", Field("id"));
            Assert.Matches(@"^\d+\.\d+\.\d+", Field("version"));
            Assert.NotEqual("1.0.0", Field("version"));                  // the SDK's placeholder
            Assert.NotEqual("Package Description", Field("description")); // likewise
            Assert.Contains("GenServer", Field("description"));
            Assert.NotEqual("Noex.Lite", Field("authors"));               // the SDK's default is the assembly name
            var license = metadata.Element(ns + "license")!;
            Assert.Equal("expression", license.Attribute("type")?.Value);
            Assert.Equal("MIT", license.Value);
            Assert.Equal("README.md", Field("readme"));
            Assert.Contains("genserver", Field("tags").Split(' '));
            Assert.Contains("cluster", Field("tags").Split(' '));

            // The readme in the package is the library's own, which travels with a vendored copy too.
            using (var readme = new StreamReader(zip.Entries.Single(e => e.FullName == "README.md").Open()))
            {
                Assert.Equal(await File.ReadAllTextAsync(Path.Combine(ProtocolVectors.RepoRoot, "Noex.Lite", "README.md")), await readme.ReadToEndAsync());
            }

            var dependencies = metadata.Descendants(ns + "dependency")
                .Select(d => (Id: d.Attribute("id")!.Value, Version: d.Attribute("version")!.Value))
                .OrderBy(d => d.Id, StringComparer.Ordinal)
                .ToArray();
            Assert.Equal(PinnedPackages(project), dependencies);

            AssertRepository(metadata.Element(ns + "repository"));
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    /// <summary>The package references the library's csproj pins, by id.</summary>
    private static (string Id, string Version)[] PinnedPackages(string project) =>
        [.. XDocument.Load(project).Descendants("PackageReference")
            .Select(r => (Id: r.Attribute("Include")!.Value, Version: r.Attribute("Version")!.Value))
            .OrderBy(r => r.Id, StringComparer.Ordinal)];

    /// <summary>
    /// Where the package came from is read from git at pack time: the commit always (this is a clone), the address when
    /// the clone's remote "origin" is a web address (the SDK's source link records no address for a clone of a local path,
    /// as CI's is, nor for a repository made by <c>git init</c>).
    /// </summary>
    private static void AssertRepository(XElement? repository)
    {
        if (!Directory.Exists(Path.Combine(ProtocolVectors.RepoRoot, ".git")) && !File.Exists(Path.Combine(ProtocolVectors.RepoRoot, ".git")))
        {
            return; // a source copy without git: nothing to record, and nothing recorded is the honest answer
        }
        Assert.NotNull(repository);
        Assert.Equal("git", repository.Attribute("type")?.Value);
        Assert.Equal(Git("rev-parse HEAD"), repository.Attribute("commit")?.Value);
        if (Uri.TryCreate(Git("remote get-url origin"), UriKind.Absolute, out var origin) && origin.Scheme == Uri.UriSchemeHttps)
        {
            Assert.StartsWith($"https://{origin.Host}/", repository.Attribute("url")?.Value);
        }
    }

    private static string Git(string arguments)
    {
        var result = SystemCommand.Run("git", ["-C", ProtocolVectors.RepoRoot, .. arguments.Split(' ')]);
        return result.Succeeded ? result.Output.Trim() : "";
    }
}
