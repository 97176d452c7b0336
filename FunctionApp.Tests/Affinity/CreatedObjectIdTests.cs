using System.Text;
using AoaiProxy.Affinity;

namespace AoaiProxy.Tests.Affinity;

public sealed class CreatedObjectIdTests
{
    [Theory]
    [InlineData("""{"id":"file-1","object":"file"}""", false, "file-1")]
    [InlineData("""{"object":"batch","nested":{"id":"x"},"id":"batch_1"}""", false, "batch_1")]
    [InlineData("""{"id":"file-1","object":"file","bytes":12""", false, "file-1")]
    [InlineData("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\"}}\n\n", true, "resp_1")]
    [InlineData("""{"object":"list"}""", false, null)]
    [InlineData("not json", false, null)]
    public void Of_AnswerPrefix_TheNewObjectsId(string answer, bool eventStream, string? expected)
    {
        Assert.Equal(expected, CreatedObjectId.Of(Encoding.UTF8.GetBytes(answer), eventStream));
    }
}
