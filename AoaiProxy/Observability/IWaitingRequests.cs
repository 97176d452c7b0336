namespace AoaiProxy.Observability;

/// <summary>The requests waiting inside this instance for a throttled deployment's next window, for status and metrics.</summary>
internal interface IWaitingRequests
{
    /// <summary>How many wait, by deployment (<see cref="State.CooldownScope.NoDeployment"/> for requests without one).</summary>
    IReadOnlyList<KeyValuePair<string, int>> Waiting();
}
