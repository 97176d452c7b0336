using System.Buffers;
using System.Text;
using AoaiProxy.Affinity;

namespace AoaiProxy.Tests.Affinity;

public sealed class BodyObjectIdsTests
{
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
        Assert.Equal(expected, string.Join(',', BodyObjectIds.FromJson(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)))));
    }
}
