namespace AoaiProxy.Tests.TestSupport;

/// <summary>A set of running fake backends, disposed together.</summary>
internal sealed class FakeBackends : IAsyncDisposable
{
    private FakeBackends(IReadOnlyList<FakeOpenAIBackend> all) => All = all;

    public IReadOnlyList<FakeOpenAIBackend> All { get; }

    public FakeOpenAIBackend this[int index] => All[index];

    public static async Task<FakeBackends> StartAsync(params string[] names) =>
        new(await Task.WhenAll(names.Select(FakeOpenAIBackend.StartAsync)));

    public async ValueTask DisposeAsync()
    {
        foreach (var backend in All)
        {
            await backend.DisposeAsync();
        }
    }
}
