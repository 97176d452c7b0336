using System.Diagnostics;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// Waiting for what happens over real sockets, processes and background work: one bound for every such wait, and one
/// way to wait for a condition, which names what it waits for so that a wait that runs out says what did not happen.
/// </summary>
internal static class Wait
{
    /// <summary>
    /// How long a test waits for something that should happen soon. Generous for a loaded machine (two cores shared with
    /// other test runs): it only costs time when the test fails anyway.
    /// </summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan DefaultPoll = TimeSpan.FromMilliseconds(20);

    /// <summary>Returns once <paramref name="condition"/> holds; fails naming <paramref name="what"/> if it does not within <paramref name="within"/> (default <see cref="Patience"/>).</summary>
    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? within = null, TimeSpan? poll = null, Func<string>? detail = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, within, poll, detail);

    /// <summary>As above, for a condition that has to ask (a store, a server); <paramref name="poll"/> spaces the questions.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? within = null, TimeSpan? poll = null, Func<string>? detail = null)
    {
        var limit = within ?? Patience;
        var started = Stopwatch.GetTimestamp();
        while (!await condition())
        {
            var waited = Stopwatch.GetElapsedTime(started);
            Assert.True(waited < limit, $"Waited {limit.TotalSeconds:0.###} s for {what}; it did not happen.{detail?.Invoke()}");
            await Task.Delay(poll ?? DefaultPoll);
        }
    }
}
