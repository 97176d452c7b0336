
namespace AoaiProxy.Configuration;

/// <summary>One Azure OpenAI resource behind the proxy (Proxy:Backends:{i}).</summary>
/// <param name="Name">Unique, header-safe name used in logs, response headers and cooldown keys.</param>
/// <param name="Endpoint">Resource root, e.g. https://my-resource.openai.azure.com/ (always ends with '/').</param>
/// <param name="Priority">Lower is preferred; higher tiers only serve when every backend of the better tiers cools.</param>
/// <param name="Weight">How often the backend appears in its tier's rotation.</param>
/// <param name="ApiKey">Proxy:Backends:{i}:ApiKey: replaces the caller's credentials for this backend; null otherwise.</param>
/// <param name="Deployments">Proxy:Backends:{i}:Deployments: the deployments it serves (aliases mapped); null: every deployment.</param>
internal sealed record BackendOptions(string Name, Uri Endpoint, int Priority, int Weight, BackendApiKey? ApiKey = null, Routing.DeploymentMap? Deployments = null)
{
    /// <summary>The backend's own name for the caller's deployment (the same name when unmapped); null when it does not serve it.</summary>
    public string? DeploymentNameFor(string deployment) => Deployments is null ? deployment : Deployments.NameFor(deployment);
}

/// <summary>
/// Everything the engine is configured with, read once at start-up by <see cref="ProxyOptionsReader"/> and validated by
/// <see cref="ProxyOptionsValidator"/>.
/// </summary>
internal sealed class ProxyOptions
{
    public const string SectionName = "Proxy";
    public const int DefaultPriority = 1;
    public const int DefaultWeight = 1;
    public const int MaxWeight = 100;
    public const long DefaultMaxRequestBodyBytes = 100L * 1024 * 1024;

    /// <summary>
    /// The largest body the proxy decodes whole is a first list page: at most 10,000 file objects (the files API's largest
    /// page), each 250-550 bytes as Azure writes them (indented; a file name up to 255 characters), about 5.5 MB; a page of
    /// 100 assistants with 256,000-character instructions is about 26 MB. The largest compressed answer scanned for token
    /// usage is an embeddings answer of 2,048 inputs of 3,072 dimensions in base64 (the SDKs' default), about 34 MB
    /// (float-encoded, about 130 MB, it is past the limit: its tokens go uncounted when it comes compressed). 64 MiB holds
    /// each with room, and one such page per backend (with its parsed form) stays far below the 2 GB of a Flex
    /// Consumption instance, where half a megabyte of gzip that inflates to 512 MiB would otherwise go straight to memory.
    /// </summary>
    public const long DefaultMaxDecodedBodyBytes = 64L * 1024 * 1024;

    /// <summary>Smallest accepted decoded-body limit: a list page of a few thousand files.</summary>
    public const long MinMaxDecodedBodyBytes = 1024 * 1024;

    /// <summary>Largest accepted decoded-body limit: half of a Flex Consumption instance's memory.</summary>
    public const long MaxMaxDecodedBodyBytes = 1024L * 1024 * 1024;

    /// <summary>How far past the proxy's limit the server still accepts (and drains) a body it refuses, see AddAzureOpenAIProxy.</summary>
    public const long BodyDrainAllowanceBytes = 1024 * 1024;

    /// <summary>
    /// Under the Functions HTTP limit (230 s for a response to start, set by Azure's front end), with room left for the
    /// body upload before the deadline starts and for the proxy's own answer after it.
    /// </summary>
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(210);

    /// <summary>As YARP's activity timeout: a stream that neither reads nor writes for this long is cut.</summary>
    public static readonly TimeSpan DefaultRelayIdleTimeout = TimeSpan.FromSeconds(100);
    public const double DefaultFailureRatio = 0.5;
    public const int DefaultFailureMinimumRequests = 10;
    public static readonly TimeSpan DefaultFailureSamplingDuration = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultCooldown = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultMaxCooldown = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan DefaultFailureCooldown = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultStateTimeout = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// Under a second with room for two store round trips: a cooldown recorded by one instance is honoured by every busy
    /// instance within one second. See docs/shared-state.md for the trade-off with store operations.
    /// </summary>
    public static readonly TimeSpan DefaultStateSyncInterval = TimeSpan.FromMilliseconds(800);

    /// <summary>
    /// Azure OpenAI keeps a stored response for 30 days; files, batches, assistants and threads stay until deleted. An id
    /// older than this is found again by trying the backends in turn, so the default follows the shortest retention.
    /// </summary>
    public static readonly TimeSpan DefaultAffinityExpiry = TimeSpan.FromDays(30);

    /// <summary>
    /// How long a request may wait inside the proxy for a throttled backend's next window (Proxy:Throttling:MaxWaitSeconds).
    /// Azure OpenAI enforces its limits over windows of 1 or 10 seconds: 20 s is the next 10-second window even behind a
    /// whole window's worth of requests already waiting, a delay a chat user sits through where an error would end the
    /// conversation, while a quota spent for a minute (a retry-after of tens of seconds) is still answered 429 at once,
    /// so that the SDK's own wait (up to 60 s) takes over.
    /// </summary>
    public static readonly TimeSpan DefaultMaxWait = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How many requests may wait at once on one instance (Proxy:Throttling:MaxWaitingRequests): each holds only its
    /// buffered body and its connection, a few KB for a chat request, so a thousand is a few MB.
    /// </summary>
    public const int DefaultMaxWaitingRequests = 1000;

    /// <summary>The most MaxWaitingRequests may be set to.</summary>
    public const int MaxMaxWaitingRequests = 100_000;

    public IReadOnlyList<BackendOptions> Backends { get; set; } = [];

    /// <summary>How long a throttled request may wait for a backend's next window; zero: never (429 at once, as before).</summary>
    public TimeSpan MaxWait { get; set; } = DefaultMaxWait;

    /// <summary>How many requests may wait at once on this instance; beyond, 429 at once.</summary>
    public int MaxWaitingRequests { get; set; } = DefaultMaxWaitingRequests;

    /// <summary>How long the proxy remembers which backend holds an object it saw created (Proxy:Affinity:ExpiryDays).</summary>
    public TimeSpan AffinityExpiry { get; set; } = DefaultAffinityExpiry;

    /// <summary>
    /// Whether a request that creates or changes a stateful object is replayed on another backend after the first may
    /// have run it (Proxy:Replay:StatefulRequests); off by default: a duplicate batch or fine-tuning job costs more
    /// than a 502.
    /// </summary>
    public bool ReplayStatefulRequests { get; set; }

    /// <summary>Largest request body buffered for replay; larger bodies get 413 before any backend sees them.</summary>
    public long MaxRequestBodyBytes { get; set; } = DefaultMaxRequestBodyBytes;

    /// <summary>
    /// Most bytes the proxy decodes of one compressed backend body (Proxy:MaxDecodedBodyBytes): a list page it merges (past
    /// it the page counts as failed), an answer it scans for token usage or for a created object's id (past it they are
    /// not read; the caller's relay is unaffected).
    /// </summary>
    public long MaxDecodedBodyBytes { get; set; } = DefaultMaxDecodedBodyBytes;

    /// <summary>
    /// One deadline per request, shared by its attempts: the time from the start of handling to a backend's response
    /// headers. A backend that accepted the request is waited for until then, not cancelled to try another.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = DefaultRequestTimeout;

    /// <summary>While relaying, the longest wait for the next read from the backend or write to the caller.</summary>
    public TimeSpan RelayIdleTimeout { get; set; } = DefaultRelayIdleTimeout;

    /// <summary>Share of failed attempts (per backend and deployment, over <see cref="FailureSamplingDuration"/>) that cools it.</summary>
    public double FailureRatio { get; set; } = DefaultFailureRatio;

    /// <summary>Attempts needed in the sampling window before the failure ratio counts as evidence.</summary>
    public int FailureMinimumRequests { get; set; } = DefaultFailureMinimumRequests;

    /// <summary>The window over which the failure ratio is measured.</summary>
    public TimeSpan FailureSamplingDuration { get; set; } = DefaultFailureSamplingDuration;

    /// <summary>Cooldown after a 429 that names no wait of its own.</summary>
    public TimeSpan DefaultThrottleCooldown { get; set; } = DefaultCooldown;

    /// <summary>Upper bound for any cooldown a backend asks for.</summary>
    public TimeSpan MaxCooldown { get; set; } = DefaultMaxCooldown;

    /// <summary>Cooldown once the failure ratio of a backend (and deployment) is reached.</summary>
    public TimeSpan FailureCooldown { get; set; } = DefaultFailureCooldown;

    /// <summary>
    /// Time budget of one store operation, and the longest a request waits for the shared state (only when the instance
    /// has no current view: at start-up, after idling, or after a burst beyond its claimed turns).
    /// </summary>
    public TimeSpan StateTimeout { get; set; } = DefaultStateTimeout;

    /// <summary>How often a busy instance reads the shared cooldowns (and claims turns when it runs low).</summary>
    public TimeSpan StateSyncInterval { get; set; } = DefaultStateSyncInterval;

    /// <summary>The Functions app's own storage (AzureWebJobsStorage), or null for in-memory state on one instance.</summary>
    public StorageConnection? Storage { get; set; }

    /// <summary>Origins whose pages may call the proxy from a browser (Proxy:Cors:AllowedOrigins); empty: no CORS.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; set; } = [];

    /// <summary>Who may call the proxy and with which credentials it calls the backends (Proxy:Auth).</summary>
    public AuthOptions Auth { get; set; } = new();
}
