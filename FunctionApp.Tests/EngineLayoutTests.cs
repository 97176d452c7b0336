using System.Text.RegularExpressions;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests;

/// <summary>
/// The engine's folders form layers (docs/architecture.md): a folder uses only folders of a lower layer, so that a step
/// never reaches back into the request flow that uses it and the caller-facing answer types stay a leaf.
/// </summary>
public class EngineLayoutTests
{
    /// <summary>Each engine folder's layer; Pipeline, the request flow, is the only one that may use all the others.</summary>
    private static readonly Dictionary<string, int> Layers = new(StringComparer.Ordinal)
    {
        ["Answers"] = 0,
        ["Content"] = 0,
        ["Logging"] = 0,
        ["Routing"] = 0,
        ["Configuration"] = 1,
        ["Auth"] = 2,
        ["State"] = 2,
        ["Affinity"] = 3,
        ["Forwarding"] = 3,
        ["Observability"] = 3,
        ["Planning"] = 3,
        ["Throttling"] = 3,
        ["Pipeline"] = 4,
    };

    public static TheoryData<string> Folders()
    {
        var data = new TheoryData<string>();
        foreach (var folder in EngineFolders())
        {
            data.Add(folder);
        }

        return data;
    }

    [Fact]
    public void Layers_EveryEngineFolder_HasALayer()
    {
        Assert.All(EngineFolders(), folder => Assert.True(Layers.ContainsKey(folder), folder + " has no layer"));
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void Folder_UsesOnlyLowerLayers(string folder)
    {
        var offending = new List<string>();
        foreach (var file in Directory.EnumerateFiles(RepoPaths.Of("AoaiProxy", folder), "*.cs", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            foreach (var used in Layers.Keys.Where(other => other != folder && Uses(text, other)))
            {
                if (!Layers.TryGetValue(folder, out var layer) || Layers[used] >= layer)
                {
                    offending.Add($"{Path.GetFileName(file)} uses {used}");
                }
            }
        }

        Assert.Empty(offending);
    }

    [Theory]
    [InlineData("using AoaiProxy.State;", "State", true)]
    [InlineData("var x = State.CooldownKeys.For(a, b);", "State", true)]
    [InlineData("global::AoaiProxy.Routing.ProxyPath p;", "Routing", true)]
    [InlineData("// the State of things", "State", false)]
    [InlineData("var s = SharedState.Create();", "State", false)]
    [InlineData("context.Request.State", "State", false)]
    public void Uses_SourceText_RecognisesNamespaceUses(string text, string folder, bool expected)
    {
        Assert.Equal(expected, Uses(text, folder));
    }

    private static IEnumerable<string> EngineFolders() =>
        Directory.EnumerateDirectories(RepoPaths.Of("AoaiProxy"))
            .Select(Path.GetFileName)
            .Where(name => name is not ("bin" or "obj"))
            .Select(name => name!);

    /// <summary>A using directive, a qualified name (State.Cooldown) or a fully qualified one (AoaiProxy.State.X).</summary>
    private static bool Uses(string text, string folder) =>
        Regex.IsMatch(text, $@"(^using AoaiProxy\.{folder};)|((?<![\w.])AoaiProxy\.{folder}\.)|((?<![\w.]){folder}\.[A-Z]\w*)", RegexOptions.Multiline);
}
