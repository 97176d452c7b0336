using AoaiProxy.Observability;

namespace AoaiProxy.Tests.Observability;

public sealed class DeploymentLabelsTests
{
    [Theory]
    [InlineData(null, "*")]
    [InlineData("*", "*")]
    [InlineData("(none)", "*")]
    [InlineData("gpt-4o", "(other)")]
    public void Of_NothingLearned_NoDeploymentOrOther(string? deployment, string expected)
    {
        Assert.Equal(expected, new DeploymentLabels().Of(deployment));
    }

    [Fact]
    public void Of_Learned_TheName()
    {
        var labels = new DeploymentLabels();

        labels.Learn("gpt-4o");

        Assert.Equal("gpt-4o", labels.Of("gpt-4o"));
        Assert.Equal("(other)", labels.Of("gpt-4o-mini"));
    }

    [Fact]
    public void Learn_PastTheBound_LaterNamesStayOther()
    {
        var labels = new DeploymentLabels();

        for (var i = 0; i < DeploymentLabels.MaxLabels + 10; i++)
        {
            labels.Learn($"d{i}");
        }

        Assert.Equal($"d{DeploymentLabels.MaxLabels - 1}", labels.Of($"d{DeploymentLabels.MaxLabels - 1}"));
        Assert.Equal("(other)", labels.Of($"d{DeploymentLabels.MaxLabels}"));
    }

    [Theory]
    [InlineData(200, true)]
    [InlineData(302, true)]
    [InlineData(400, false)]
    [InlineData(401, false)]
    [InlineData(404, false)]
    [InlineData(408, true)]
    [InlineData(429, true)]
    [InlineData(500, true)]
    [InlineData(503, true)]
    public void Proves_Status_WhetherTheBackendHasTheDeployment(int status, bool expected)
    {
        Assert.Equal(expected, DeploymentLabels.Proves(status));
    }
}
