using AoaiProxy.Configuration;
using AoaiProxy.Observability;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.Extensions.Hosting;

namespace AoaiProxy.Pipeline;

/// <summary>How a wait for a throttled deployment ended.</summary>
internal enum WaitEnd
{
    /// <summary>A backend can take the request now: it is sent there first.</summary>
    Released,

    /// <summary>No backend could take it within its wait budget (Proxy:Throttling:MaxWaitSeconds, the deadline).</summary>
    TimedOut,

    /// <summary>Refused at once: Proxy:Throttling:MaxWaitingRequests wait already.</summary>
    Full,

    /// <summary>The instance is stopping: the request is answered rather than dropped.</summary>
    ShuttingDown,

    /// <summary>The caller went away while it waited: dropped at once, nobody blamed.</summary>
    CallerGone,
}

/// <summary>How a wait ended, and for a released request the backend and its place in that backend's ledger.</summary>
internal readonly record struct WaitResult(WaitEnd End, int Backend, Headroom.Ticket? Ticket, TimeSpan Waited);

/// <summary>
/// Where throttled requests wait for a backend's next window instead of being answered 429: per deployment, first come
/// first served, bounded (Proxy:Throttling:MaxWaitingRequests per instance), released by what the backends report they
/// have left (<see cref="HeadroomBook"/>) so that a reopened window is paced, not stormed: half of what one window was
/// seen to hold when it reopens, then half of what each answer reports left (the other instances release into the same
/// window); a backend that never reports is released to as soon as its cooldown ends, as before. The decision is <see cref="ReleasePlanner"/>'s (pure); this class keeps the
/// queues, the timer and the waiters' completions.
/// </summary>
internal sealed class WaitRoom : IWaitingRequests, IDisposable
{
    /// <summary>
    /// What one instance releases into a window at a time: of a window nobody has reported on yet, this share of what a
    /// window was seen to hold; of what a report left, this share of it. The other instances release into the same
    /// window, and a report counts only what was admitted before it: taking half at a time fills a window within a few
    /// answers without two instances spending the same tokens twice.
    /// </summary>
    internal const double ShareOfAWindow = 0.5;

    /// <summary>How long a window's blind share stands before the rest is released without a report.</summary>
    internal static readonly TimeSpan PacingHorizon = TimeSpan.FromSeconds(2);

    /// <summary>The longest window Azure OpenAI enforces over: how long a window's worth of queued requests takes to drain.</summary>
    private static readonly TimeSpan WindowLength = TimeSpan.FromSeconds(10);

    /// <summary>A timer is never set closer than this: a wake-up that comes a millisecond late finds the window open.</summary>
    private static readonly TimeSpan MinTimer = TimeSpan.FromMilliseconds(1);

    private readonly ProxyOptions _options;
    private readonly SharedState _state;
    private readonly HeadroomBook _headroom;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<Waiter>> _queues = new(StringComparer.Ordinal);

    // Backend deployments whose window refused the request released to it when it reopened (a per-minute quota spent, a
    // backend that refuses everything): not waited for until one of their answers admits a request again.
    private readonly HashSet<(int Backend, string Scope)> _notReopening = [];
    private readonly ITimer _timer;
    private CancellationTokenRegistration _stopping;
    private int _count;
    private int _notReopenings;
    private bool _stopped;

    public WaitRoom(ProxyOptions options, SharedState state, HeadroomBook headroom, TimeProvider time, IHostApplicationLifetime? lifetime = null)
    {
        _options = options;
        _state = state;
        _headroom = headroom;
        _time = time;
        _timer = time.CreateTimer(static room => ((WaitRoom)room!).Dispatch(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (lifetime is not null)
        {
            // The host's graceful stop waits for requests in flight: the waiting ones are answered at once instead.
            _stopping = lifetime.ApplicationStopping.UnsafeRegister(static room => ((WaitRoom)room!).Stop(), this);
        }
    }

    /// <summary>How many requests wait on this instance now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Whether requests of <paramref name="deployment"/> wait: a new one then queues behind them (first come, first served).</summary>
    public bool HasWaiters(string? deployment)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return false;
        }

        lock (_gate)
        {
            return _queues.TryGetValue(CooldownScope.Of(deployment), out var queue) && queue.Count > 0;
        }
    }

    /// <summary>
    /// Waits until a backend can take the request, at most <paramref name="budget"/>. The result says how it ended; a
    /// released request gets the backend to send to first and its place in that backend's ledger.
    /// </summary>
    /// <param name="deployment">The request's deployment.</param>
    /// <param name="cost">Its estimated tokens; null when it has no estimate (it then fits any open backend).</param>
    /// <param name="eligible">Which backends may serve it; null: all.</param>
    /// <param name="budget">How long it may wait (what is left of Proxy:Throttling:MaxWaitSeconds and of its deadline).</param>
    /// <param name="callerGone">The caller's RequestAborted.</param>
    public Task<WaitResult> WaitAsync(string? deployment, long? cost, bool[]? eligible, TimeSpan budget, CancellationToken callerGone)
    {
        var waiter = new Waiter(deployment, cost, eligible, _time.GetUtcNow() + budget, _time.GetTimestamp());
        lock (_gate)
        {
            if (_stopped)
            {
                return Task.FromResult(new WaitResult(WaitEnd.ShuttingDown, -1, null, TimeSpan.Zero));
            }

            if (_count >= _options.MaxWaitingRequests)
            {
                return Task.FromResult(new WaitResult(WaitEnd.Full, -1, null, TimeSpan.Zero));
            }

            var scope = CooldownScope.Of(deployment);
            if (!_queues.TryGetValue(scope, out var queue))
            {
                _queues[scope] = queue = [];
            }

            queue.Add(waiter);
            _count++;
        }

        waiter.Registration = callerGone.UnsafeRegister(static state =>
        {
            var (room, gone) = ((WaitRoom, Waiter))state!;
            room.Leave(gone, WaitEnd.CallerGone);
        }, (this, waiter));
        Dispatch();
        return waiter.Completion.Task;
    }

    /// <summary>
    /// A backend answered a request of <paramref name="deployment"/>: what it reported may release waiting requests, and an
    /// admitted request shows its window open again.
    /// </summary>
    public void Answered(int backend, string? deployment, bool admitted)
    {
        if (admitted && Volatile.Read(ref _notReopenings) > 0)
        {
            lock (_gate)
            {
                _notReopening.Remove((backend, CooldownScope.Of(deployment)));
                _notReopenings = _notReopening.Count;
            }
        }

        if (Volatile.Read(ref _count) > 0)
        {
            Dispatch();
        }
    }

    /// <summary>
    /// The backend refused the request released to it when its window reopened: that window did not reopen (a per-minute
    /// quota spent, a backend that refuses everything), so it is not waited for until it admits a request again.
    /// </summary>
    public void ReleaseRefused(int backend, string? deployment)
    {
        lock (_gate)
        {
            if (_notReopening.Count < HeadroomBook.MaxTrackedKeys)
            {
                _notReopening.Add((backend, CooldownScope.Of(deployment)));
                _notReopenings = _notReopening.Count;
            }
        }
    }

    /// <summary>For each backend, whether its window for <paramref name="deployment"/> is known not to reopen; null: none is.</summary>
    public bool[]? NotReopening(string? deployment)
    {
        if (Volatile.Read(ref _notReopenings) == 0)
        {
            return null;
        }

        lock (_gate)
        {
            var scope = CooldownScope.Of(deployment);
            bool[]? marks = null;
            for (var i = 0; i < _options.Backends.Count; i++)
            {
                if (_notReopening.Contains((i, scope)))
                {
                    (marks ??= new bool[_options.Backends.Count])[i] = true;
                }
            }

            return marks;
        }
    }

    /// <summary>
    /// An estimate of how long the requests of <paramref name="deployment"/> already waiting take to be served: the
    /// tokens they are estimated to cost over what one window of its backends was seen to hold, a window each. Zero when
    /// none wait; null when the backends' windows are not known.
    /// </summary>
    public TimeSpan? Backlog(string? deployment)
    {
        long tokens;
        lock (_gate)
        {
            if (!_queues.TryGetValue(CooldownScope.Of(deployment), out var queue) || queue.Count == 0)
            {
                return TimeSpan.Zero;
            }

            tokens = queue.Sum(w => w.Cost ?? 0);
        }

        long capacity = 0;
        foreach (var backend in _options.Backends)
        {
            capacity += _headroom.Of(backend.Name, CooldownScope.Of(deployment)).Capacity;
        }

        return capacity <= 0 ? null : WindowLength * Math.Ceiling((double)tokens / capacity);
    }

    public IReadOnlyList<KeyValuePair<string, int>> Waiting()
    {
        lock (_gate)
        {
            return [.. _queues.Where(q => q.Value.Count > 0).Select(q => KeyValuePair.Create(q.Key, q.Value.Count))];
        }
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _timer.Dispose();
        Stop();
    }

    /// <summary>Answers every waiting request (the instance is stopping) and refuses new ones.</summary>
    private void Stop()
    {
        List<Waiter> all;
        lock (_gate)
        {
            _stopped = true;
            all = [.. _queues.Values.SelectMany(q => q)];
            _queues.Clear();
            _count = 0;
        }

        foreach (var waiter in all)
        {
            Complete(waiter, WaitEnd.ShuttingDown, -1, null);
        }
    }

    private void Leave(Waiter waiter, WaitEnd end)
    {
        lock (_gate)
        {
            if (!_queues.TryGetValue(CooldownScope.Of(waiter.Deployment), out var queue) || !queue.Remove(waiter))
            {
                return;
            }

            _count--;
        }

        Complete(waiter, end, -1, null);
    }

    /// <summary>Releases what the backends can take now, ends the waits whose budget is over, and sets the timer for the next change.</summary>
    private void Dispatch()
    {
        List<(Waiter Waiter, WaitEnd End, int Backend, Headroom.Ticket? Ticket)>? done = null;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var next = DateTimeOffset.MaxValue;
            foreach (var (scope, queue) in _queues)
            {
                if (queue.Count == 0)
                {
                    continue;
                }

                var deployment = queue[0].Deployment;
                var rooms = RoomsFor(deployment, scope, now, ref next);
                var released = ReleasePlanner.Plan([.. queue.Select(w => new WaitingRequest(w.Cost ?? 0, w.Eligible))], rooms);
                var kept = 0;
                for (var n = 0; n < queue.Count; n++)
                {
                    // In arrival order: a released request takes its place in the backend's ledger before the next one.
                    var waiter = queue[n];
                    if (released[n] != ReleasePlanner.Stays)
                    {
                        var backend = _options.Backends[released[n]].Name;
                        var ticket = waiter.Cost is { } cost ? _headroom.Send(backend, scope, cost) : (Headroom.Ticket?)null;
                        (done ??= []).Add((waiter, WaitEnd.Released, released[n], ticket));
                    }
                    else if (waiter.Deadline <= now || NoneReopens(waiter, scope))
                    {
                        (done ??= []).Add((waiter, WaitEnd.TimedOut, -1, null));
                    }
                    else
                    {
                        next = Min(next, waiter.Deadline);
                        queue[kept++] = waiter;
                    }
                }

                _count -= queue.Count - kept;
                queue.RemoveRange(kept, queue.Count - kept);
            }

            _timer.Change(next == DateTimeOffset.MaxValue ? Timeout.InfiniteTimeSpan : Max(next - now, MinTimer), Timeout.InfiniteTimeSpan);
        }

        if (done is not null)
        {
            foreach (var (waiter, end, backend, ticket) in done)
            {
                Complete(waiter, end, backend, ticket);
            }
        }
    }

    /// <summary>What each backend can take now for the waiting requests of one deployment; <paramref name="next"/> gets when that changes.</summary>
    private BackendRoom[] RoomsFor(string? deployment, string scope, DateTimeOffset now, ref DateTimeOffset next)
    {
        var rooms = new BackendRoom[_options.Backends.Count];
        var cooldowns = _state.Cooldowns;
        for (var i = 0; i < rooms.Length; i++)
        {
            var name = _options.Backends[i].Name;
            var headroom = _headroom.Of(name, scope);
            if (_notReopening.Contains((i, scope)))
            {
                rooms[i] = new BackendRoom(false, null, null);
                continue;
            }

            if (CooldownLookup.For(cooldowns, name, deployment) is { } cooldown && cooldown.Until > now)
            {
                // Cooling: a throttled window takes what its 429 (and this instance's count since) says is left; a failure nothing.
                next = Min(next, cooldown.Until);
                var left = cooldown.Reason == CooldownReason.Throttled
                    ? Lower(cooldown.Headroom is { } reported ? (long)(reported * ShareOfAWindow) : null, headroom.TokensToTake(now, ShareOfAWindow))
                    : null;
                rooms[i] = new BackendRoom(left is > 0, left, headroom.RequestsToTake(now, ShareOfAWindow));
                continue;
            }

            if ((headroom.Capacity > 0 || headroom.RequestCapacity > 0) && (headroom.Anchor is not { } anchor || anchor.Until <= now))
            {
                // A window nobody has reported on yet. Reopened where a 429 said: its share now, the rest as the answers
                // report. Begun where only the window length seen predicts: one request finds out what it has left.
                if (headroom.WindowReopened(now))
                {
                    _headroom.NewWindow(name, scope, ShareOfAWindow, now + PacingHorizon);
                }
                else
                {
                    _headroom.Probe(name, scope, now + PacingHorizon);
                }

                headroom = _headroom.Of(name, scope);
                rooms[i] = new BackendRoom(true, headroom.TokensLeft(now), headroom.RequestsLeft(now));
            }
            else
            {
                // What a report left is taken a share at a time: the other instances release into the same window.
                rooms[i] = new BackendRoom(true, headroom.TokensToTake(now, ShareOfAWindow), headroom.RequestsToTake(now, ShareOfAWindow));
            }

            if (headroom.Anchor is { } report && report.Until > now)
            {
                next = Min(next, report.Until);
            }
        }

        return rooms;
    }

    /// <summary>Whether every backend the waiter may go to is known not to reopen: waiting longer would not help it.</summary>
    private bool NoneReopens(Waiter waiter, string scope)
    {
        if (_notReopening.Count == 0)
        {
            return false;
        }

        for (var i = 0; i < _options.Backends.Count; i++)
        {
            if ((waiter.Eligible is null || waiter.Eligible[i]) && !_notReopening.Contains((i, scope)))
            {
                return false;
            }
        }

        return true;
    }

    private void Complete(Waiter waiter, WaitEnd end, int backend, Headroom.Ticket? ticket)
    {
        waiter.Registration.Dispose();
        waiter.Completion.TrySetResult(new WaitResult(end, backend, ticket, _time.GetElapsedTime(waiter.Started)));
    }

    private static long? Lower(long? a, long? b) => a is { } x && b is { } y ? Math.Min(x, y) : a ?? b;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private sealed class Waiter(string? deployment, long? cost, bool[]? eligible, DateTimeOffset deadline, long started)
    {
        public string? Deployment { get; } = deployment;

        public long? Cost { get; } = cost;

        public bool[]? Eligible { get; } = eligible;

        public DateTimeOffset Deadline { get; } = deadline;

        public long Started { get; } = started;

        public TaskCompletionSource<WaitResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }
    }
}
