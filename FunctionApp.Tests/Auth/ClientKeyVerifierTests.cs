using AoaiProxy.Auth;

namespace AoaiProxy.Tests.Auth;

public sealed class ClientKeyVerifierTests
{
    private const string First = "first-key-0123456789abcdef0123456789";
    private const string Second = "second-key-0123456789abcdef012345678";

    [Theory]
    [InlineData(First, true)]
    [InlineData(Second, true)]
    [InlineData("first-key-0123456789abcdef012345678", false)]
    [InlineData("first-key-0123456789abcdef01234567890", false)]
    [InlineData("FIRST-KEY-0123456789ABCDEF0123456789", false)]
    [InlineData("", false)]
    [InlineData("x", false)]
    public void IsValid_PresentedValue_TrueOnlyForAnExactConfiguredKey(string presented, bool expected)
    {
        var verifier = new ClientKeyVerifier([First, Second]);

        Assert.Equal(expected, verifier.IsValid(presented));
    }

    [Fact]
    public void IsValid_NoKeysConfigured_AcceptsNothing()
    {
        Assert.False(new ClientKeyVerifier([]).IsValid(""));
    }
}
