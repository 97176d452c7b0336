using System.Buffers;
using System.Text;
using AoaiProxy.Affinity;
using AoaiProxy.Routing;

namespace AoaiProxy.Tests.Affinity;

public class ObjectReferencesTests
{
    [Theory]
    [InlineData("/openai/v1/files/file-abc/content", true, null, "files/file-abc/content")]
    [InlineData("/openai/files/file-abc?api-version=2024-10-21", false, null, "files/file-abc")]
    [InlineData("/openai/deployments/gpt/chat/completions?api-version=1", false, "gpt", "chat/completions")]
    [InlineData("/openai/v1/responses/", true, null, "responses")]
    public void OperationOf_BothApiShapes_WhatFollowsThePrefix(string raw, bool v1, string? deployment, string expected)
    {
        Assert.Equal(expected, ObjectReferences.OperationOf(new ProxyPath(raw, deployment, v1)));
    }

    [Theory]
    [InlineData("files/file-abc/content", "file-abc")]
    [InlineData("threads/thread_1/runs/run_2/steps", "thread_1,run_2")]
    [InlineData("threads/runs", "")]
    [InlineData("vector_stores/vs_1/file_batches/vsfb_2/files", "vs_1,vsfb_2")]
    [InlineData("responses/resp_1/input_items", "resp_1")]
    [InlineData("batches/batch_1/cancel", "batch_1")]
    [InlineData("fine_tuning/jobs/ftjob-1/checkpoints", "ftjob-1")]
    [InlineData("chat/completions", "")]
    [InlineData("files", "")]
    public void FromOperation_SegmentsAfterCollections_Ids(string operation, string expected)
    {
        Assert.Equal(expected, string.Join(',', ObjectReferences.FromOperation(operation)));
    }

    [Theory]
    [InlineData("""{"model":"gpt-4o","previous_response_id":"resp_1","input":"hi"}""", "resp_1")]
    [InlineData("""{"conversation":{"id":"conv_1"}}""", "conv_1")]
    [InlineData("""{"conversation":"conv_2"}""", "conv_2")]
    [InlineData("""{"input_file_id":"file-1","endpoint":"/chat/completions"}""", "file-1")]
    [InlineData("""{"training_file":"file-t","validation_file":"file-v"}""", "file-t,file-v")]
    [InlineData("""{"tool_resources":{"file_search":{"vector_store_ids":["vs_1","vs_2"]}}}""", "vs_1,vs_2")]
    [InlineData("""{"assistant_id":"asst_1","thread":{"messages":[{"attachments":[{"file_id":"file-9"}]}]}}""", "asst_1,file-9")]
    [InlineData("""{"file_ids":["file-1","file-1"]}""", "file-1")]
    [InlineData("""{"file_id":"../etc"}""", "")]
    [InlineData("""{"model":"x","messages":[]}""", "")]
    [InlineData("""[1,2]""", "")]
    [InlineData("""{"thread_id":"thread_1", broken""", "thread_1")]
    public void FromJson_NamedFields_Ids(string json, string expected)
    {
        Assert.Equal(expected, string.Join(',', ObjectReferences.FromJson(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)))));
    }

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
        Assert.Equal(Enum.Parse<RequestKind>(expected), ObjectReferences.Classify(method, operation));
    }

    [Theory]
    [InlineData("POST", "files", true)]
    [InlineData("POST", "responses", true)]
    [InlineData("POST", "threads/thread_1/messages", true)]
    [InlineData("POST", "chat/completions", false)]
    [InlineData("GET", "files", false)]
    public void Creates_PostsThatMakeObjects_True(string method, string operation, bool expected)
    {
        Assert.Equal(expected, ObjectReferences.Creates(method, operation));
    }

    [Theory]
    [InlineData("DELETE", "files/file-1", "file-1")]
    [InlineData("DELETE", "vector_stores/vs_1/files/file-1", null)]
    [InlineData("GET", "files/file-1", null)]
    [InlineData("DELETE", "files", null)]
    public void DeletedId_TopLevelDeleteOnly(string method, string operation, string? expected)
    {
        Assert.Equal(expected, ObjectReferences.DeletedId(method, operation));
    }

    [Theory]
    [InlineData("""{"id":"file-1","object":"file"}""", false, "file-1")]
    [InlineData("""{"object":"batch","nested":{"id":"x"},"id":"batch_1"}""", false, "batch_1")]
    [InlineData("""{"id":"file-1","object":"file","bytes":12""", false, "file-1")]
    [InlineData("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\"}}\n\n", true, "resp_1")]
    [InlineData("""{"object":"list"}""", false, null)]
    [InlineData("not json", false, null)]
    public void CreatedId_AnswerPrefix_TheNewObjectsId(string answer, bool eventStream, string? expected)
    {
        Assert.Equal(expected, ObjectReferences.CreatedId(Encoding.UTF8.GetBytes(answer), eventStream));
    }
}
