namespace AoaiProxy.Server;

/// <summary>How the standalone host's sockets complete unless the operator chose otherwise.</summary>
/// <remarks>
/// <para>
/// On Linux the runtime hands every socket completion from its epoll thread to the thread pool, and the continuation runs
/// there: for a proxy that is two hops per request (the caller's bytes arriving, the backend's answer arriving), each a
/// context switch. With <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> the continuation runs on the epoll thread
/// itself (one such thread per CPU). Measured on the 2-core benchmark machine (docs/benchmarks.md): context switches per
/// proxied request 1.6 -> 0.8, CPU per request -11%, requests per second +14%; 1,000 concurrent streams unchanged.
/// </para>
/// <para>
/// The runtime reads only this environment variable (there is no runtimeconfig or AppContext switch), once, when the
/// first socket is registered: the host sets it for itself before anything opens a socket. The price of inline
/// completions is that code which blocks a continuation stalls the other sockets of that epoll thread; the engine never
/// blocks one (every wait in the request path is awaited, file writes of the replay copy go through the thread pool,
/// breakers and cursors take only short locks). An operator who runs extensions that may block sets the variable to 0,
/// which this host leaves alone, like any value set before start.
/// </para>
/// <para>
/// Kestrel's own <c>UnsafePreferInlineScheduling</c> is not set: measured on the same machine it added nothing on top of
/// the runtime's inline completions and, without them, halved throughput.
/// </para>
/// </remarks>
internal static class SocketDefaults
{
    internal const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets <see cref="InlineCompletionsVariable"/> to 1 for this process unless it is already set.</summary>
    /// <returns>Whether the host set it (false: the operator's value stands).</returns>
    internal static bool PreferInlineCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is not null)
        {
            return false;
        }

        Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        return true;
    }
}
