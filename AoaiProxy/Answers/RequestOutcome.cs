using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Answers;

/// <summary>
/// A request's outcome, noted where it is decided (the proxy's own answer as it is written, a relay as it starts, a
/// caller gone) for whoever reports on the request: the engine's metrics record this value, they do not re-derive it
/// from the status code.
/// </summary>
internal interface IRequestOutcomeFeature
{
    /// <summary>How the request ended; null until then.</summary>
    ProxyOutcome? Outcome { get; set; }
}

/// <summary>Notes a request's outcome on its <see cref="IRequestOutcomeFeature"/>, when the request has one.</summary>
internal static class RequestOutcome
{
    public static void Note(HttpContext context, ProxyOutcome outcome)
    {
        if (context.Features.Get<IRequestOutcomeFeature>() is { } feature)
        {
            feature.Outcome = outcome;
        }
    }
}
