using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

public class BodyLeaseTests
{
    [Fact]
    public void Release_NoWriter_TheReleaserFreesOnce()
    {
        var lease = new BodyLease();

        Assert.True(lease.Release());
        Assert.False(lease.Release());
        Assert.True(lease.IsReleased);
    }

    [Fact]
    public void Release_WhileWritersWrite_TheLastWriterFrees()
    {
        var lease = new BodyLease();
        Assert.True(lease.TryEnter());
        Assert.True(lease.TryEnter());

        Assert.False(lease.Release());
        Assert.False(lease.Exit());
        Assert.True(lease.Exit());
        Assert.False(lease.Release());
    }

    [Fact]
    public void Exit_BeforeRelease_NobodyFreesUntilTheRelease()
    {
        var lease = new BodyLease();
        Assert.True(lease.TryEnter());

        Assert.False(lease.Exit());
        Assert.False(lease.IsReleased);
        Assert.True(lease.TryEnter());
        Assert.False(lease.Exit());
        Assert.True(lease.Release());
    }

    [Fact]
    public void TryEnter_AfterRelease_Refused()
    {
        var lease = new BodyLease();
        Assert.True(lease.TryEnter());
        lease.Release();

        Assert.False(lease.TryEnter());
        Assert.True(lease.Exit());
    }

    [Fact]
    public void Exit_WithoutEnter_Throws()
    {
        Assert.Throws<InvalidOperationException>(() => new BodyLease().Exit());
    }

    [Fact]
    public async Task ReleaseAndExit_RacingOnManyThreads_ExactlyOneFreeEachTime()
    {
        for (var round = 0; round < 200; round++)
        {
            var lease = new BodyLease();
            var frees = 0;
            using var start = new ManualResetEventSlim();
            var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            {
                start.Wait();
                for (var i = 0; i < 50; i++)
                {
                    if (!lease.TryEnter())
                    {
                        return;
                    }

                    if (lease.Exit())
                    {
                        Interlocked.Increment(ref frees);
                    }
                }
            })).ToArray();
            var releaser = Task.Run(() =>
            {
                start.Wait();
                if (lease.Release())
                {
                    Interlocked.Increment(ref frees);
                }
            });

            start.Set();
            await Task.WhenAll([.. writers, releaser]);

            Assert.Equal(1, frees);
        }
    }
}
