using AoaiProxy.Affinity;

namespace AoaiProxy.Tests.Affinity;

public sealed class PathObjectIdsTests
{
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
        Assert.Equal(expected, string.Join(',', PathObjectIds.FromOperation(operation)));
    }
}
