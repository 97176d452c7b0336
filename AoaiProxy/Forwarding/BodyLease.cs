namespace AoaiProxy.Forwarding;

/// <summary>
/// Who may free a body's buffers, and when: attempts still writing the body hold it (<see cref="TryEnter"/>), the request
/// gives it up once nothing can be replayed (<see cref="Release"/>), and whoever is last frees. Exactly one caller ever
/// gets true from <see cref="Exit"/> or <see cref="Release"/>: a second Return of the same pooled arrays would hand them to
/// two other requests. One word changed by compare-and-swap, so a body costs no lock object.
/// </summary>
internal sealed class BodyLease
{
    private const int Released = 1 << 30;
    private const int Freed = 1 << 29;
    private const int WriterMask = Freed - 1;

    // Writers in the low bits, then the two flags.
    private int _state;

    /// <summary>True once <see cref="Release"/> was called: no attempt may start any more.</summary>
    public bool IsReleased => (Volatile.Read(ref _state) & Released) != 0;

    /// <summary>An attempt starts writing the body; false once the body was released (the attempt must not start).</summary>
    public bool TryEnter()
    {
        var state = Volatile.Read(ref _state);
        while (true)
        {
            if ((state & Released) != 0)
            {
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _state, state + 1, state);
            if (seen == state)
            {
                return true;
            }

            state = seen;
        }
    }

    /// <summary>An attempt stopped writing; true when it was the last one after the release: it frees the buffers.</summary>
    public bool Exit()
    {
        var state = Volatile.Read(ref _state);
        while (true)
        {
            if ((state & WriterMask) == 0)
            {
                throw new InvalidOperationException("A body lease was exited more often than entered.");
            }

            var next = state - 1;
            var frees = (next & WriterMask) == 0 && (next & Released) != 0 && (next & Freed) == 0;
            var seen = Interlocked.CompareExchange(ref _state, frees ? next | Freed : next, state);
            if (seen == state)
            {
                return frees;
            }

            state = seen;
        }
    }

    /// <summary>The request gives the body up; true when no attempt is writing it and nobody freed it yet: the caller frees.</summary>
    public bool Release()
    {
        var state = Volatile.Read(ref _state);
        while (true)
        {
            if ((state & Freed) != 0)
            {
                return false;
            }

            var frees = (state & WriterMask) == 0;
            var next = state | Released | (frees ? Freed : 0);
            var seen = Interlocked.CompareExchange(ref _state, next, state);
            if (seen == state)
            {
                return frees;
            }

            state = seen;
        }
    }
}
