using System.Runtime.CompilerServices;

namespace AoaiProxy.Forwarding;

/// <summary>A body's first failure, kept for every later attempt: the first one recorded wins, readable from any thread.</summary>
internal struct FailureSlot
{
    private StrongBox<BodyFailure>? _recorded;

    /// <summary>The recorded failure; null while none is.</summary>
    public BodyFailure? Value => Volatile.Read(ref _recorded)?.Value;

    /// <summary>Records <paramref name="failure"/> unless one already is; returns the one that stays.</summary>
    public BodyFailure Record(BodyFailure failure)
    {
        var box = new StrongBox<BodyFailure>(failure);
        return (Interlocked.CompareExchange(ref _recorded, box, null) ?? box).Value;
    }
}
