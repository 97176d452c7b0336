using AoaiProxy.Routing;

namespace AoaiProxy.Tests.Routing;

public class DeploymentMapTests
{
    [Fact]
    public void Parse_NamesAndAliases_MapsCallerNamesCaseInsensitively()
    {
        var errors = new List<string>();

        var map = DeploymentMap.Parse([" gpt-4o , chat=gpt-4o-mini-eu,", "embed = text-embedding-3-large"], "S", errors)!;

        Assert.Empty(errors);
        Assert.Equal("gpt-4o", map.NameFor("GPT-4O"));
        Assert.Equal("gpt-4o-mini-eu", map.NameFor("chat"));
        Assert.Equal("text-embedding-3-large", map.NameFor("embed"));
        Assert.Null(map.NameFor("gpt-4o-mini-eu"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" , ")]
    public void Parse_Empty_NullMeaningEveryDeployment(string value)
    {
        Assert.Null(DeploymentMap.Parse([value], "S", []));
    }

    [Theory]
    [InlineData("a=", "entry 'a='")]
    [InlineData("=b", "entry '=b'")]
    [InlineData("a/b", "entry 'a/b'")]
    [InlineData("a=b=c", "entry 'a=b=c'")]
    [InlineData("a=b,a=c", "maps 'a' twice")]
    public void Parse_Invalid_ErrorNamingTheSetting(string value, string expected)
    {
        var errors = new List<string>();

        DeploymentMap.Parse([value], "Proxy:Backends:1:Deployments", errors);

        var error = Assert.Single(errors);
        Assert.StartsWith("Proxy:Backends:1:Deployments", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/openai/deployments/chat/chat/completions?api-version=1", "own", "/openai/deployments/own/chat/completions?api-version=1")]
    [InlineData("/openai/deployments/chat?x=1", "own", "/openai/deployments/own?x=1")]
    [InlineData("/openai/deployments/chat", "own", "/openai/deployments/own")]
    [InlineData("/openai/deployments/ch%61t/embeddings", "own", "/openai/deployments/own/embeddings")]
    public void RewritePath_DeploymentSegment_ReplacedRestKept(string raw, string name, string expected)
    {
        var path = new ProxyPath(raw, "chat", false);

        var rewritten = DeploymentMap.RewritePath(path, name);

        Assert.Equal(expected, rewritten.PathAndQuery);
        Assert.Equal(name, rewritten.Deployment);
    }
}
