using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

public sealed class TargetUrisTests
{
    private static readonly BackendOptions[] Backends =
    [
        new("a", new Uri("https://a.openai.azure.com/"), 1, 1),
        new("b", new Uri("https://b.example.com/gateway/"), 1, 1),
    ];

    [Fact]
    public void For_SameTargetTwice_OneUriPerBackend()
    {
        var uris = new TargetUris(Backends);
        const string target = "/openai/deployments/gpt/chat/completions?api-version=2024-10-21";

        var first = uris.For(0, target);

        Assert.Same(first, uris.For(0, target));
        Assert.Equal("https://a.openai.azure.com/openai/deployments/gpt/chat/completions?api-version=2024-10-21", first.AbsoluteUri);
        Assert.Equal("https://b.example.com/gateway/openai/deployments/gpt/chat/completions?api-version=2024-10-21", uris.For(1, target).AbsoluteUri);
    }

    [Fact]
    public void For_EscapedReservedCharacters_KeptEscaped()
    {
        var uris = new TargetUris(Backends);

        var uri = uris.For(0, "/openai/files/file%3Ax?after=a%20b");

        Assert.Equal("/openai/files/file%3Ax?after=a%20b", uri.PathAndQuery);
    }

    [Fact]
    public void For_MoreTargetsThanTheBound_StillRightButNotKept()
    {
        var uris = new TargetUris(Backends);
        for (var i = 0; i < TargetUris.MaxPerBackend; i++)
        {
            uris.For(0, $"/openai/files?after=file-{i}");
        }

        const string late = "/openai/files?after=file-late";
        var uri = uris.For(0, late);

        Assert.Equal("https://a.openai.azure.com/openai/files?after=file-late", uri.AbsoluteUri);
        Assert.NotSame(uri, uris.For(0, late));
    }
}
