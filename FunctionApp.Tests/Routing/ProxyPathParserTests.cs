using AoaiProxy.Routing;

namespace AoaiProxy.Tests.Routing;

public class ProxyPathParserTests
{
    [Theory]
    [InlineData("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", "gpt-4o", false)]
    [InlineData("/openai/deployments/gpt-4o/chat/completions/?api-version=2024-10-21", "gpt-4o", false)]
    [InlineData("/openai/deployments/gpt-4o", "gpt-4o", false)]
    [InlineData("/openai/deployments/gpt-4o/", "gpt-4o", false)]
    [InlineData("/openai/deployments/text-embedding-3-large/embeddings?api-version=2024-10-21", "text-embedding-3-large", false)]
    [InlineData("/OpenAI/Deployments/Gpt-4o/chat/completions", "Gpt-4o", false)]
    [InlineData("/OPENAI/deployments/my.model_v2/completions", "my.model_v2", false)]
    [InlineData("/openai/deployments/my%20model/chat/completions", "my model", false)]
    [InlineData("/openai/deployments/gpt%2D4o/chat/completions", "gpt-4o", false)]
    [InlineData("/openai/v1/chat/completions", null, true)]
    [InlineData("/openai/v1/chat/completions/", null, true)]
    [InlineData("/openai/V1/models", null, true)]
    [InlineData("/openai/v1/models", null, true)]
    [InlineData("/Openai/v1/models?api-version=preview", null, true)]
    [InlineData("/openai/v1", null, true)]
    [InlineData("/openai/models?api-version=2024-10-21", null, false)]
    [InlineData("/openai/files/file-123/content", null, false)]
    [InlineData("/openai/x..y/a.b", null, false)]
    public void Parse_ValidTarget_ExtractsDeploymentAndApi(string target, string? deployment, bool isV1)
    {
        var result = ProxyPathParser.Parse(target);

        Assert.True(result.IsValid, result.Error);
        Assert.Null(result.Error);
        Assert.False(result.NotUnderPrefix);
        Assert.Equal(new ProxyPath(target, deployment, isV1), result.Path);
    }

    [Theory]
    [InlineData("/openai/v1/chat/completions?api-version=preview&x=%2e%2e%2F..&y=a\\b")]
    [InlineData("/openai/deployments/d/chat/completions?api-version=2024-10-21&q=..//..")]
    [InlineData("/openai/deployments/d/chat/completions?")]
    [InlineData("/openai/v1/models?a=1?b=2")]
    public void Parse_Query_KeptVerbatimAndNotValidated(string target)
    {
        var result = ProxyPathParser.Parse(target);

        Assert.True(result.IsValid, result.Error);
        Assert.Equal(target, result.Path.PathAndQuery);
    }

    [Theory]
    [InlineData("/openai/../x")]
    [InlineData("/openai/./x")]
    [InlineData("/openai/v1/..")]
    [InlineData("/openai/v1/.")]
    [InlineData("/openai/deployments/../../x")]
    [InlineData("/openai/deployments/../x?api-version=1")]
    [InlineData("/openai/%2e%2e/x")]
    [InlineData("/openai/%2E%2E/x")]
    [InlineData("/openai/.%2e/x")]
    [InlineData("/openai/%2e./x")]
    [InlineData("/openai/%2e/x")]
    [InlineData("/openai/%252e%252e/x")]
    [InlineData("/openai/%252E%252E/x")]
    [InlineData("/openai/a%2f..%2fb")]
    [InlineData("/openai/a%2F..%2Fb")]
    [InlineData("/openai/deployments/a%2fb/chat/completions")]
    [InlineData("/openai/deployments/a%2Fb/chat/completions?api-version=1")]
    [InlineData("/openai/a%252f..%252fb")]
    [InlineData("/openai/a%5c..%5cb")]
    [InlineData("/openai/a%5C..%5Cb")]
    [InlineData("/openai/a%255c..%255cb")]
    [InlineData("/openai/a\\..\\b")]
    [InlineData("/openai/a\\b")]
    [InlineData("/openai/a%00b")]
    [InlineData("/openai/a%0db")]
    [InlineData("/openai/a%0Ab")]
    [InlineData("/openai/a%09b")]
    [InlineData("/openai/a%7fb")]
    [InlineData("/openai/a\u0000b")]
    [InlineData("/openai/a\rb")]
    [InlineData("/openai/%zz")]
    [InlineData("/openai/a%zzb")]
    [InlineData("/openai/a%2")]
    [InlineData("/openai/a%2?api-version=1")]
    [InlineData("/openai/a%")]
    [InlineData("/openai/a%g0")]
    [InlineData("/openai//x")]
    [InlineData("/openai/deployments//chat/completions")]
    [InlineData("/openai/v1//models")]
    [InlineData("/openai/deployments/")]
    [InlineData("/openai/deployments")]
    [InlineData("/openai/deployments?api-version=1")]
    [InlineData("/openai/deployments/?api-version=1")]
    [InlineData("/openai/")]
    [InlineData("/openai/?api-version=1")]
    [InlineData("/openai//")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("openai/v1/models")]
    [InlineData("http://example.com/openai/v1/models")]
    // Outside /openai/ too: a target a server would normalize into another (one of the proxy's own endpoints) is refused as written.
    [InlineData("/openaix/..")]
    [InlineData("//openai/v1/models")]
    [InlineData("/proxy/status/..")]
    [InlineData("/x/../proxy/status")]
    [InlineData("/%2e%2e/metrics")]
    [InlineData("/proxy/%2E./metrics")]
    [InlineData("/metrics/.")]
    public void Parse_UnsafeOrMalformedTarget_RefusedAsBadRequest(string? target)
    {
        var result = ProxyPathParser.Parse(target);

        Assert.False(result.IsValid);
        Assert.False(string.IsNullOrEmpty(result.Error));
        Assert.False(result.NotUnderPrefix);
        Assert.Equal(default, result.Path);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/other")]
    [InlineData("/openai")]
    [InlineData("/openai?x=/openai/")]
    [InlineData("/api/openai/v1/models")]
    [InlineData("/%6fpenai/v1/models")]
    public void Parse_NotUnderPrefix_RefusedAsNotFound(string target)
    {
        var result = ProxyPathParser.Parse(target);

        Assert.False(result.IsValid);
        Assert.False(string.IsNullOrEmpty(result.Error));
        Assert.True(result.NotUnderPrefix);
    }
}
