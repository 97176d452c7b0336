using AoaiProxy.Affinity;

namespace AoaiProxy.Tests.Affinity;

public sealed class ObjectIdTests
{
    [Theory]
    [InlineData("file-abc", true)]
    [InlineData("resp_123", true)]
    [InlineData("ftjob-1.2", true)]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData(".hidden", false)]
    [InlineData("../etc", false)]
    [InlineData("has space", false)]
    [InlineData("slash/id", false)]
    [InlineData("ünicode", false)]
    public void IsValid_Value_OnlyShortPlainIds(string? value, bool expected)
    {
        Assert.Equal(expected, ObjectId.IsValid(value));
    }

    [Fact]
    public void IsValid_Length_UpToTheRowKeyBound()
    {
        Assert.True(ObjectId.IsValid(new string('a', ObjectId.MaxLength)));
        Assert.False(ObjectId.IsValid(new string('a', ObjectId.MaxLength + 1)));
    }
}
