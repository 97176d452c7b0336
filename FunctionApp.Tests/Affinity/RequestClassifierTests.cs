using AoaiProxy.Affinity;

namespace AoaiProxy.Tests.Affinity;

public sealed class RequestClassifierTests
{
    [Theory]
    [InlineData("POST", "chat/completions", "Inference")]
    [InlineData("POST", "embeddings", "Inference")]
    [InlineData("POST", "responses", "Inference")]
    [InlineData("POST", "audio/transcriptions", "Inference")]
    [InlineData("GET", "files/file-1", "Read")]
    [InlineData("POST", "files", "Stateful")]
    [InlineData("POST", "batches", "Stateful")]
    [InlineData("POST", "threads/thread_1/runs", "Stateful")]
    [InlineData("DELETE", "responses/resp_1", "Stateful")]
    [InlineData("POST", "responses/resp_1/cancel", "Stateful")]
    public void Classify_Operations_Kind(string method, string operation, string expected)
    {
        Assert.Equal(Enum.Parse<RequestKind>(expected), RequestClassifier.Classify(method, operation));
    }

    [Theory]
    [InlineData("POST", "files", true)]
    [InlineData("POST", "responses", true)]
    [InlineData("POST", "threads/thread_1/messages", true)]
    [InlineData("POST", "chat/completions", false)]
    [InlineData("GET", "files", false)]
    public void Creates_PostsThatMakeObjects_True(string method, string operation, bool expected)
    {
        Assert.Equal(expected, RequestClassifier.Creates(method, operation));
    }

    [Theory]
    [InlineData("DELETE", "files/file-1", "file-1")]
    [InlineData("DELETE", "vector_stores/vs_1/files/file-1", null)]
    [InlineData("GET", "files/file-1", null)]
    [InlineData("DELETE", "files", null)]
    public void DeletedId_TopLevelDeleteOnly(string method, string operation, string? expected)
    {
        Assert.Equal(expected, RequestClassifier.DeletedId(method, operation));
    }
}
