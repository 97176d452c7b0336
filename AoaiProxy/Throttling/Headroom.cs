namespace AoaiProxy.Throttling;

/// <summary>
/// What this instance knows of one backend deployment's quota window: the tokens and requests it reported left (its
/// <c>x-ratelimit-remaining-*</c> headers), minus what this instance has sent it since, and how many tokens one window
/// holds. Pure: every transition takes and returns a value.
/// <para>
/// Azure OpenAI charges a request its estimate at admission and reports what is left after it. An answer arrives after
/// the requests sent later were admitted, so what it reports is counted from that request's place in this instance's
/// ledger of estimated tokens sent: what is left now is the report minus what was sent after the reporting request.
/// Other instances' traffic is seen only through the next report. Azure's exact accounting behind the headers is not
/// documented, so this is a hint: cooldowns remain the safety net.
/// </para>
/// </summary>
/// <param name="Sent">Estimated tokens this instance has sent to the deployment, ever (the ledger).</param>
/// <param name="SentRequests">Requests this instance has sent to it, ever.</param>
/// <param name="Anchor">The freshest report, if any.</param>
/// <param name="Capacity">The most tokens one window was seen to hold (a report plus its request's estimate); 0 when unknown.</param>
/// <param name="RequestCapacity">The most requests one window was seen to hold, likewise; 0 when unknown.</param>
/// <param name="WindowEnd">The end of a window a 429 named (its retry-after), if one did.</param>
/// <param name="WindowLength">The longest wait a 429 named: a window is at least that long.</param>
/// <param name="Burst">The requests sent into a new window before anything was known of it (see <see cref="NewWindow"/>).</param>
internal readonly record struct Headroom(
    long Sent, long SentRequests, HeadroomReport? Anchor, long Capacity, long RequestCapacity = 0, DateTimeOffset? WindowEnd = null,
    TimeSpan WindowLength = default, BlindBurst? Burst = null)
{
    /// <summary>No window is taken to be longer: the cap of a cooldown a backend may ask for, and Azure's longest quota period.</summary>
    internal static readonly TimeSpan MaxWindowLength = TimeSpan.FromSeconds(60);

    /// <summary>A place in the ledger: what was sent up to and including one request, and that request's estimate.</summary>
    /// <param name="Tokens">The ledger's tokens after the request.</param>
    /// <param name="Requests">The ledger's requests after the request.</param>
    /// <param name="Cost">The request's estimate.</param>
    internal readonly record struct Ticket(long Tokens, long Requests, long Cost);

    /// <summary>A request of estimated <paramref name="cost"/> is sent: its place in the ledger.</summary>
    public (Headroom Next, Ticket Ticket) Send(long cost)
    {
        var tokens = Sent + Math.Max(0, cost);
        var requests = SentRequests + 1;
        return (this with { Sent = tokens, SentRequests = requests }, new Ticket(tokens, requests, Math.Max(0, cost)));
    }

    /// <summary>
    /// An answer to the request at <paramref name="ticket"/> reported what is left. It becomes the anchor unless the
    /// anchor in force comes from a request sent later (or from a window that started after this request was sent);
    /// it holds until <paramref name="until"/> (the window's end when a 429 said so, else a horizon). A refused request
    /// (<paramref name="admitted"/> false, a 429) was not charged: what it reports is left with it refused.
    /// </summary>
    public Headroom Report(Ticket ticket, long? tokens, long? requests, DateTimeOffset until, DateTimeOffset now, bool admitted = true)
    {
        if (tokens is null && requests is null)
        {
            return this;
        }

        var capacity = tokens is { } t ? Math.Max(Capacity, t + (admitted ? ticket.Cost : 0)) : Capacity;
        var requestCapacity = requests is { } r ? Math.Max(RequestCapacity, r + (admitted ? 1 : 0)) : RequestCapacity;
        if (Anchor is { } current && current.Until > now && current.At.Requests >= ticket.Requests)
        {
            return this with { Capacity = capacity, RequestCapacity = requestCapacity };
        }

        // The first answer in a new window closes its blind burst: what was sent until now went without a report. An
        // answer to a request sent after the burst sees every instance's burst, and the window is known again.
        var burst = Burst switch
        {
            { Last: null } open => open with { Last = SentRequests },
            { Last: { } last } closed when ticket.Requests <= last => closed,
            _ => (BlindBurst?)null,
        };
        return this with
        {
            Anchor = new HeadroomReport(ticket, tokens, requests, until), Capacity = capacity, RequestCapacity = requestCapacity, Burst = burst,
        };
    }

    /// <summary>
    /// A window is known to start (a cooldown to its end is over): nothing is known of it yet but its size. Until an
    /// answer reports, what may be sent into it is <paramref name="share"/> of the tokens and requests one window was seen
    /// to hold (at least one request), or, when neither is known, one request (a probe).
    /// <para>
    /// The other instances release their share into the same window at the same moment, and an answer to a request of
    /// this burst may be admitted before theirs: it reports room they have taken since. So until an answer to a request
    /// sent after the burst reports, one request more goes (<see cref="RequestsToTake"/>).
    /// </para>
    /// </summary>
    public Headroom NewWindow(double share, DateTimeOffset until) =>
        this with
        {
            Burst = new BlindBurst(null),
            Anchor = new HeadroomReport(
                new Ticket(Sent, SentRequests, 0),
                Capacity > 0 ? (long)(Capacity * share) : null,
                RequestCapacity > 0 ? Math.Max(1, (long)(RequestCapacity * share)) : Capacity > 0 ? null : 1,
                until),
        };

    /// <summary>
    /// Nothing is known of the window under way (the last report's window is over, but no 429 said when this one began):
    /// one request goes, and its answer says what the window has left.
    /// </summary>
    public Headroom Probe(DateTimeOffset until) =>
        this with { Anchor = new HeadroomReport(new Ticket(Sent, SentRequests, 0), null, 1, until), Burst = null };

    /// <summary>
    /// Whether a window began at a boundary a 429 named, after the last report's window: what is known of it is only its
    /// size (<see cref="NewWindow"/>). A window whose start is only predicted from the length seen is probed instead.
    /// </summary>
    public bool WindowReopened(DateTimeOffset now) =>
        WindowEnd is { } end && end <= now && (Anchor is not { } anchor || anchor.Until <= end);

    /// <summary>A 429 said the window ends at <paramref name="end"/>: a window boundary, and a window at least that long.</summary>
    public Headroom Throttled(DateTimeOffset end, DateTimeOffset now)
    {
        var length = end - now;
        return this with
        {
            WindowEnd = end,
            WindowLength = length > WindowLength ? (length < MaxWindowLength ? length : MaxWindowLength) : WindowLength,
        };
    }

    /// <summary>
    /// When the window under way at <paramref name="now"/> ends, from the last boundary a 429 named and the window length
    /// seen so far; null when no 429 named one. A report describes its window until then.
    /// </summary>
    public DateTimeOffset? WindowEndAfter(DateTimeOffset now)
    {
        if (WindowEnd is not { } end || WindowLength <= TimeSpan.Zero)
        {
            return null;
        }

        if (end > now)
        {
            return end;
        }

        var windows = Math.Floor((now - end).Ticks / (double)WindowLength.Ticks) + 1;
        return end + (WindowLength * windows);
    }

    /// <summary>Tokens left now by the freshest report, less what was sent after it; null when nothing is known (fits anything).</summary>
    public long? TokensLeft(DateTimeOffset now) =>
        Anchor is { Tokens: { } tokens } anchor && anchor.Until > now ? tokens - (Sent - anchor.At.Tokens) : null;

    /// <summary>
    /// Tokens this instance may take now of what the freshest report left: <paramref name="share"/> of it (the other
    /// instances draw on the same window, and their sends are in no report yet), less what this instance sent after it.
    /// Null when nothing is known.
    /// </summary>
    public long? TokensToTake(DateTimeOffset now, double share) =>
        Anchor is { Tokens: { } tokens } anchor && anchor.Until > now ? (long)(tokens * share) - (Sent - anchor.At.Tokens) : null;

    /// <summary>
    /// Requests this instance may take now, as <see cref="TokensToTake"/> (at least the one a report left, alone). While
    /// the freshest report comes from a request of a new window's blind burst, one request beyond the burst at most.
    /// </summary>
    public long? RequestsToTake(DateTimeOffset now, double share)
    {
        var take = Anchor is { Requests: { } requests } anchor && anchor.Until > now
            ? Math.Max(requests > 0 ? 1 : 0, (long)(requests * share)) - (SentRequests - anchor.At.Requests)
            : (long?)null;
        if (Burst is { Last: { } last } && Anchor is { } report && report.Until > now)
        {
            var beyond = last + 1 - SentRequests;
            return take is { } t && t < beyond ? t : beyond;
        }

        return take;
    }

    /// <summary>Requests left now, as <see cref="TokensLeft"/>.</summary>
    public long? RequestsLeft(DateTimeOffset now) =>
        Anchor is { Requests: { } requests } anchor && anchor.Until > now ? requests - (SentRequests - anchor.At.Requests) : null;

    /// <summary>Whether a request of <paramref name="cost"/> fits what is left now (true when nothing is known).</summary>
    public bool Fits(long cost, DateTimeOffset now) =>
        (TokensLeft(now) is not { } tokens || tokens >= cost) && (RequestsLeft(now) is not { } requests || requests >= 1);
}

/// <summary>Requests sent into a new window before anything was known of it.</summary>
/// <param name="Last">The ledger's requests when the first answer in the window reported (null: none has yet).</param>
internal readonly record struct BlindBurst(long? Last);

/// <summary>What an answer reported left, at a place in the ledger, until when it holds.</summary>
/// <param name="At">The ledger's place of the reporting request.</param>
/// <param name="Tokens">Tokens left after it (null: not reported).</param>
/// <param name="Requests">Requests left after it (null: not reported).</param>
/// <param name="Until">When the report stops describing the window.</param>
internal readonly record struct HeadroomReport(Headroom.Ticket At, long? Tokens, long? Requests, DateTimeOffset Until);
