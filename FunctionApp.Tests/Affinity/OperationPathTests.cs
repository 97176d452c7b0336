using AoaiProxy.Affinity;
using AoaiProxy.Routing;

namespace AoaiProxy.Tests.Affinity;

public sealed class OperationPathTests
{
    [Theory]
    [InlineData("/openai/v1/files/file-abc/content", true, null, "files/file-abc/content")]
    [InlineData("/openai/files/file-abc?api-version=2024-10-21", false, null, "files/file-abc")]
    [InlineData("/openai/deployments/gpt/chat/completions?api-version=1", false, "gpt", "chat/completions")]
    [InlineData("/openai/v1/responses/", true, null, "responses")]
    public void Of_BothApiShapes_WhatFollowsThePrefix(string raw, bool v1, string? deployment, string expected)
    {
        Assert.Equal(expected, OperationPath.Of(new ProxyPath(raw, deployment, v1)));
    }
}
