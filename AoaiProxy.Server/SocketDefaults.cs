namespace AoaiProxy.Server;

/// <summary>How the standalone host's sockets complete unless the operator chose otherwise.</summary>
/// <remarks>
/// <para>
/// On Linux the runtime hands every socket completion from its epoll thread to the thread pool, and the continuation runs
/// there: for a proxy that is two hops per request (the caller's bytes arriving, the backend's answer arriving), each a
/// context switch. With <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> the continuation runs on the epoll thread
/// itself (one such thread per CPU). Measured on the 2-core benchmark machine (docs/benchmarks.md): context switches per
/// proxied request 1.6 -> 0.8, CPU per request -11%, requests per second +14% (nginx backends over HTTP/1.1); 1,000
/// concurrent streams no cheaper by this alone (the thread pool's idle spinning was their cost: AoaiProxy.Server.csproj).
/// </para>
/// <para>
/// The runtime reads only this environment variable (there is no runtimeconfig or AppContext switch), once, when the
/// first socket is registered: the host sets it for itself before anything opens a socket (a startup hook that opens one
/// earlier leaves the runtime's default in force). The price of inline completions is that code which blocks a
/// continuation stalls the other sockets of that epoll thread. Kestrel still resumes request handling on the thread pool;
/// the engine's code runs on an epoll thread only after awaiting an HTTP/1.1 answer (plain-http backends like the
/// benchmark's, the Table store, the OpenID configuration). There it does not block: a streamed upload's file writes and
/// reads are asynchronous (thread-pool work items), a merged list is decoded on the pool (ListFanOut), breakers and cursors
/// take only short locks, and the console logger drops lines rather than wait when stdout is not drained
/// (appsettings.json). Over HTTP/2, which the engine asks Azure OpenAI for (TLS), HttpClient hands answers to the pool
/// itself: there only TLS and HTTP/2 framing run inline, so the gain measured over HTTP/1.1 is smaller. An operator who
/// adds code that may block sets the variable to 0, which this host leaves alone, like any value set before start.
/// </para>
/// <para>
/// Kestrel's own <c>UnsafePreferInlineScheduling</c> is not set: measured on the same machine it added nothing on top of
/// the runtime's inline completions and, without them, halved throughput. Nor is <c>WaitForDataBeforeAllocatingBuffer</c>
/// turned off: it halves the socket reads of a 50 MiB upload (15% less CPU) but holds a 4 KiB buffer per idle connection,
/// +4 MiB over 1,000 open streams, and streaming chat is this proxy's main load.
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
