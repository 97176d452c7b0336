using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

public class FailureSlotTests
{
    [Fact]
    public void Record_Twice_TheFirstStays()
    {
        var slot = default(FailureSlot);
        var first = BodyFailure.Truncated(1, 2);

        Assert.Null(slot.Value);
        Assert.Equal(first, slot.Record(first));
        Assert.Equal(first, slot.Record(BodyFailure.OverLimit(5)));
        Assert.Equal(first, slot.Value);
    }

    [Fact]
    public async Task Record_ManyThreadsAtOnce_EveryoneSeesTheSameOne()
    {
        var slot = new FailureSlot[1];
        using var start = new ManualResetEventSlim();
        var recorders = Enumerable.Range(1, 8).Select(i => Task.Run(() =>
        {
            start.Wait();
            return slot[0].Record(BodyFailure.OverLimit(i));
        })).ToArray();

        start.Set();
        var seen = await Task.WhenAll(recorders);

        Assert.Single(seen.Distinct());
        Assert.Equal(seen[0], slot[0].Value);
    }
}
