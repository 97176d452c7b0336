namespace AoaiProxy.Pipeline;

/// <summary>
/// The one cancellation of a request: the caller went away, the request's deadline passed while attempts ran
/// (Proxy:RequestTimeoutSeconds), or a relay sat idle too long (Proxy:RelayIdleTimeoutSeconds). Which of the proxy's
/// own timers fired is kept as a value (<see cref="DeadlinePassed"/>, <see cref="IdleTimedOut"/>); the caller's going is
/// its own token's.
/// </summary>
/// <remarks>
/// One token source, one timer and one registration on the caller's token per request. Before, each attempt linked a
/// source to the caller's token and the deadline, and the relay made two more (an idle timer and a link) and re-armed
/// the idle timer twice per chunk: about a kilobyte and a timer-queue update per chunk for every request. Now a chunk
/// only stores a timestamp (<see cref="Touch"/>); the timer, when it fires, re-arms itself for the quiet time left.
/// </remarks>
internal sealed class RequestCancellation : IDisposable
{
    private const int Running = 0;
    private const int Deadline = 1;
    private const int Idle = 2;

    private readonly TimeProvider _time;
    private readonly CancellationToken _callerGone;
    private readonly ITimer _timer;
    private readonly Lock _gate = new();
    private CancellationTokenSource _source = new();
    private CancellationTokenRegistration _callerRegistration;
    private long _lastActivity;
    private TimeSpan _idleTimeout;
    private bool _relaying;
    private bool _disposed;
    private int _fired;

    /// <param name="deadline">Time left until the request's deadline (at least a tick).</param>
    /// <param name="time">The clock of the timers.</param>
    /// <param name="callerGone">The caller's RequestAborted.</param>
    public RequestCancellation(TimeSpan deadline, TimeProvider time, CancellationToken callerGone)
    {
        _time = time;
        _callerGone = callerGone;
        _callerRegistration = Register(_source, callerGone);
        _timer = time.CreateTimer(static state => ((RequestCancellation)state!).OnTimer(), this,
            deadline > TimeSpan.Zero ? deadline : TimeSpan.FromTicks(1), Timeout.InfiniteTimeSpan);
    }

    /// <summary>Cancelled when the caller goes, the deadline passes (attempts) or the relay idles (relay).</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>The request's deadline passed while attempts ran.</summary>
    public bool DeadlinePassed => Volatile.Read(ref _fired) == Deadline;

    /// <summary>The relay saw no byte move for the idle timeout.</summary>
    public bool IdleTimedOut => Volatile.Read(ref _fired) == Idle;

    /// <summary>
    /// The relay begins: the deadline no longer applies (a stream may outlive it) and from now on only
    /// <paramref name="idleTimeout"/> without a <see cref="Touch"/> ends it. A deadline that fired just before (after the
    /// answer's headers came) does not cut the relay: the token is renewed.
    /// </summary>
    public void StartRelay(TimeSpan idleTimeout)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _relaying = true;
            _idleTimeout = idleTimeout;
            Touch();
            if (_fired == Deadline)
            {
                _callerRegistration.Dispose();
                _source.Dispose();
                _source = new CancellationTokenSource();
                _callerRegistration = Register(_source, _callerGone);
                _fired = Running;
            }

            _timer.Change(idleTimeout, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Bytes moved: the idle timeout counts from now. A timestamp, nothing more.</summary>
    public void Touch() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _timer.Dispose();
            _callerRegistration.Dispose();
            _source.Dispose();
        }
    }

    private static CancellationTokenRegistration Register(CancellationTokenSource source, CancellationToken callerGone) =>
        callerGone.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), source);

    private void OnTimer()
    {
        CancellationTokenSource cancel;
        lock (_gate)
        {
            if (_fired != Running || _disposed)
            {
                return;
            }

            if (_relaying)
            {
                var quiet = _time.GetElapsedTime(Volatile.Read(ref _lastActivity));
                if (quiet < _idleTimeout)
                {
                    _timer.Change(_idleTimeout - quiet, Timeout.InfiniteTimeSpan);
                    return;
                }
            }

            _fired = _relaying ? Idle : Deadline;
            cancel = _source;
        }

        // Outside the lock: cancellation runs the token's callbacks (HttpClient aborting its connection, say).
        try
        {
            cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The request ended as the timer fired.
        }
    }
}
