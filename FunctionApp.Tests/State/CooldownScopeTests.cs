using AoaiProxy.State;
using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.State;

public class CooldownScopeTests
{
    [Theory]
    [InlineData("gpt-4o", "gpt-4o")]
    [InlineData(null, null)]
    [InlineData("*", null)]
    [InlineData("(none)", null)]
    public void Usable_Deployment_NullWhenItWouldAliasAnotherScope(string? deployment, string? expected) =>
        Assert.Equal(expected, CooldownScope.Usable(deployment));

    [Fact]
    public void KeyFor_NoDeployment_NotTheBackendWideKey()
    {
        Assert.NotEqual(CooldownKeys.ForBackend("a"), CooldownScope.KeyFor("a", null));
        Assert.Equal(CooldownKeys.For("a", "gpt-4o"), CooldownScope.KeyFor("a", "gpt-4o"));
    }
}
