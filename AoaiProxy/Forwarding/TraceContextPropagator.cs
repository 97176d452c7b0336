using System.Diagnostics;

namespace AoaiProxy.Forwarding;

/// <summary>
/// Injects the trace context of the proxy's own outgoing activity, replacing whatever the caller sent. HttpClient's
/// default propagation leaves a header that is already on the request alone, so the caller's copied traceparent would
/// reach the backend and the proxy's own span would vanish from the trace. YARP does the same (its
/// ReverseProxyPropagator); ours is these few lines rather than a reference to all of YARP.
/// </summary>
internal sealed class TraceContextPropagator(DistributedContextPropagator inner) : DistributedContextPropagator
{
    public override IReadOnlyCollection<string> Fields => inner.Fields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
    {
        if (carrier is HttpRequestMessage request)
        {
            foreach (var field in inner.Fields)
            {
                request.Headers.Remove(field);
            }
        }

        inner.Inject(activity, carrier, setter);
    }

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState) =>
        inner.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) =>
        inner.ExtractBaggage(carrier, getter);
}
