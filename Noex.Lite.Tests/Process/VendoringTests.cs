namespace Noex.Lite.Tests;

/// <summary>
/// The design card: Noex.Lite/ must build when copied alone into another repository and referenced by one
/// ProjectReference. This test does exactly that, outside this repository, so nothing above Noex.Lite/ can leak in.
/// </summary>
[Trait("Category", Category.Process)]
public class VendoringTests
{
    [Fact]
    public async Task Library_CopiedAloneIntoAnotherRepository_BuildsAndRuns()
    {
        var root = Path.Combine(Path.GetTempPath(), "noex-vendoring-" + Guid.NewGuid().ToString("N"));
        try
        {
            CopyLibrary(Path.Combine(ProtocolVectors.RepoRoot, "Noex.Lite"), Path.Combine(root, "vendor", "Noex.Lite"));
            var app = Path.Combine(root, "app");
            Directory.CreateDirectory(app);
            // A consumer that itself uses central package management, to prove the library does not depend on it.
            await File.WriteAllTextAsync(Path.Combine(root, "Directory.Packages.props"), """
                <Project>
                  <PropertyGroup><ManagePackageVersionsCentrally>true</ManagePackageVersionsCentrally></PropertyGroup>
                </Project>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "app.csproj"), """
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                  </PropertyGroup>
                  <ItemGroup>
                    <ProjectReference Include="../vendor/Noex.Lite/Noex.Lite.csproj" />
                  </ItemGroup>
                </Project>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
                using Noex.Lite;
                var message = Value.Object(("type", "get"), ("key", "k1"));
                Console.WriteLine(Value.Parse(message.ToString()) == message ? "vendored ok" : "mismatch");
                """);

            var (exit, output) = await DotnetCommand.RunAsync($"run --project \"{app}\" -c Release", root);

            Assert.True(exit == 0, $"dotnet run failed with {exit}:\n{output}");
            Assert.Contains("vendored ok", output);
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A build server may still hold a file for a moment; the temp folder is not ours to keep clean forever.
            }
        }
    }

    private static void CopyLibrary(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            var first = relative.Split(Path.DirectorySeparatorChar)[0];
            if (first is "bin" or "obj")
            {
                continue;
            }
            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
