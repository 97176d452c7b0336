using System.Collections.Concurrent;
using AoaiProxy.State;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Observability;

/// <summary>
/// Which deployment names become <see cref="MetricNames.Tags.Deployment"/> values. The name comes from the caller's URL
/// or body, so without a bound a client looping over made-up names would make a new series of every deployment-tagged
/// instrument each time (memory in this process, cost in Application Insights, an unreadable /metrics): a name becomes a
/// label once a backend has answered for it other than with a caller's error, up to <see cref="MaxLabels"/> names.
/// </summary>
internal sealed class DeploymentLabels
{
    /// <summary>How many deployment names at most become label values; a proxy serves tens at most.</summary>
    internal const int MaxLabels = 100;

    // Deployments a backend has answered for; the count is kept apart so that checking the bound does not lock every
    // bucket of the dictionary.
    private readonly ConcurrentDictionary<string, byte> _deployments = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>
    /// True when an answer with <paramref name="status"/> shows the backend has the deployment. A caller's mistake (above
    /// all 404 DeploymentNotFound, what Azure answers for a name it does not have) teaches nothing.
    /// </summary>
    public static bool Proves(int status) =>
        status is < StatusCodes.Status400BadRequest or >= StatusCodes.Status500InternalServerError
            or StatusCodes.Status408RequestTimeout or StatusCodes.Status429TooManyRequests;

    /// <summary>
    /// The label value: the name once learned (<see cref="Learn"/>); <see cref="MetricNames.NoDeployment"/> for none (or the
    /// engine's no-deployment and backend-wide markers); otherwise <see cref="MetricNames.OtherDeployment"/>, so that names
    /// that exist nowhere never become series.
    /// </summary>
    public string Of(string? deployment) =>
        deployment is null or CooldownKeys.AnyDeployment or CooldownScope.NoDeployment ? MetricNames.NoDeployment
            : _deployments.ContainsKey(deployment) ? deployment : MetricNames.OtherDeployment;

    /// <summary>A backend answered for <paramref name="deployment"/>: its name is a label from now on, within the bound.</summary>
    public void Learn(string? deployment)
    {
        if (deployment is null || _deployments.ContainsKey(deployment) || Volatile.Read(ref _count) >= MaxLabels)
        {
            return;
        }

        // Two racing first answers may pass the bound by one or two: a bound, not an exact count.
        if (_deployments.TryAdd(deployment, 0))
        {
            Interlocked.Increment(ref _count);
        }
    }
}
