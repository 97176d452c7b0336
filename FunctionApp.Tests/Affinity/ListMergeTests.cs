using System.Text;
using System.Text.Json;
using AoaiProxy.Affinity;

namespace AoaiProxy.Tests.Affinity;

public class ListMergeTests
{
    [Theory]
    [InlineData("GET", "files", "/openai/files?api-version=1", true)]
    [InlineData("GET", "fine_tuning/jobs", "/openai/v1/fine_tuning/jobs?limit=5", true)]
    [InlineData("GET", "files", "/openai/v1/files?after=file-1", false)]
    [InlineData("GET", "files/file-1", "/openai/v1/files/file-1", false)]
    [InlineData("POST", "files", "/openai/v1/files", false)]
    [InlineData("GET", "threads", "/openai/threads", false)]
    public void Applies_FirstPagesOfTopLevelLists(string method, string operation, string raw, bool expected)
    {
        Assert.Equal(expected, ListMerge.Applies(method, operation, raw));
    }

    [Fact]
    public void Merge_Pages_NewestFirstLimitedWithHasMore()
    {
        byte[][] pages =
        [
            Page(("file-a1", 10), ("file-a2", 30)),
            Page(("file-b1", 20)),
        ];

        var merged = JsonDocument.Parse(ListMerge.Merge(pages, "/openai/v1/files?limit=2")!).RootElement;

        Assert.Equal(["file-a2", "file-b1"], merged.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.Equal("file-a2", merged.GetProperty("first_id").GetString());
        Assert.Equal("file-b1", merged.GetProperty("last_id").GetString());
        Assert.True(merged.GetProperty("has_more").GetBoolean());
    }

    [Fact]
    public void Merge_PagesWithoutFirstAndLastId_NoFieldNoPageSent()
    {
        var merged = JsonDocument.Parse(ListMerge.Merge([PlainPage(("a", 1)), PlainPage(("b", 2))], "/openai/files")!).RootElement;

        Assert.Equal(["object", "data", "has_more"], merged.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["b", "a"], merged.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
    }

    [Fact]
    public void Merge_OrderAsc_OldestFirstAndAllKept()
    {
        var merged = JsonDocument.Parse(ListMerge.Merge([Page(("x", 3)), Page(("y", 1), ("z", 2))], "/openai/files?order=asc")!).RootElement;

        Assert.Equal(["y", "z", "x"], merged.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.False(merged.GetProperty("has_more").GetBoolean());
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"object":"file","id":"x"}""")]
    public void Merge_PageThatIsNoList_Null(string page)
    {
        Assert.Null(ListMerge.Merge([Page(("x", 1)), Encoding.UTF8.GetBytes(page)], "/openai/files"));
    }

    [Theory]
    [InlineData("/openai/v1/files?after=file-9&limit=2", "file-9")]
    [InlineData("/openai/v1/files?before=file%2D8", "file-8")]
    [InlineData("/openai/v1/files?limit=2", null)]
    public void Cursor_LaterPage_TheId(string raw, string? expected)
    {
        Assert.Equal(expected, ListMerge.Cursor(raw));
    }

    /// <summary>A v1 list page: with first_id and last_id, as the v1 lists and Assistants send them.</summary>
    private static byte[] Page(params (string Id, long CreatedAt)[] items) =>
        JsonSerializer.SerializeToUtf8Bytes(new
        {
            @object = "list",
            data = items.Select(i => new { id = i.Id, created_at = i.CreatedAt }).ToArray(),
            first_id = items.Length > 0 ? items[0].Id : null,
            last_id = items.Length > 0 ? items[^1].Id : null,
            has_more = false,
        });

    /// <summary>A page of the 2024-10-21 files list: object, data and has_more only.</summary>
    private static byte[] PlainPage(params (string Id, long CreatedAt)[] items) =>
        JsonSerializer.SerializeToUtf8Bytes(new { @object = "list", data = items.Select(i => new { id = i.Id, created_at = i.CreatedAt }).ToArray(), has_more = false });
}
