using AoaiProxy.Answers;
using AoaiProxy.State;

namespace AoaiProxy.Observability;

/// <summary>
/// Every name of the engine's telemetry in one place: the meter, its instruments, their tags and the tag values. The
/// README's metrics reference documents each; a dashboard or alert depends on them, so they change only with it.
/// </summary>
internal static class MetricNames
{
    /// <summary>The meter's name; hosts add it to their OpenTelemetry metrics pipeline.</summary>
    public const string MeterName = "AoaiProxy";

    /// <summary>
    /// The <see cref="Tags.Deployment"/> value when the request named none (e.g. GET /openai/models), and of a cooldown of
    /// the whole backend. Documented as <c>*</c>; the engine's own markers for the two (<see cref="CooldownKeys.AnyDeployment"/>,
    /// <see cref="CooldownScope.NoDeployment"/>) both become it.
    /// </summary>
    public const string NoDeployment = "*";

    /// <summary>
    /// The <see cref="Tags.Deployment"/> value of a deployment no backend has answered for (yet), and of any deployment
    /// beyond <see cref="DeploymentLabels.MaxLabels"/>. Parenthesized: no Azure deployment name can take it.
    /// </summary>
    public const string OtherDeployment = "(other)";

    /// <summary>The <see cref="Tags.Caller"/> value when no caller authentication is configured.</summary>
    public const string AnonymousCaller = "anonymous";

    /// <summary>Instrument names (OpenTelemetry style: dotted, lower case; Prometheus turns them into aoaiproxy_*).</summary>
    public static class Instruments
    {
        public const string Requests = "aoaiproxy.requests";
        public const string Attempts = "aoaiproxy.attempts";
        public const string Failovers = "aoaiproxy.failovers";
        public const string CooldownsStarted = "aoaiproxy.cooldowns.started";
        public const string CooldownsActive = "aoaiproxy.cooldowns.active";
        public const string HeadersDuration = "aoaiproxy.backend.headers.duration";
        public const string FirstByteDuration = "aoaiproxy.backend.first_byte.duration";
        public const string StoreOperations = "aoaiproxy.store.operations";
        public const string StoreLostRaces = "aoaiproxy.store.lost_races";
        public const string LocalStateRequests = "aoaiproxy.requests.local_state";
        public const string Tokens = "aoaiproxy.tokens";

        /// <summary>Relays that the backend ended badly after the caller had the headers: broken off, or stalled past the idle timeout.</summary>
        public const string RelayFailures = "aoaiproxy.relay.failures";

        /// <summary>Requests that waited for a throttled deployment's next window, by how the wait ended.</summary>
        public const string Waits = "aoaiproxy.waits";

        /// <summary>How long those requests waited.</summary>
        public const string WaitDuration = "aoaiproxy.wait.duration";

        /// <summary>Requests waiting now, by deployment.</summary>
        public const string Waiting = "aoaiproxy.waiting";
    }

    /// <summary>Values of <see cref="Tags.Result"/> on <see cref="Instruments.Waits"/> and <see cref="Instruments.WaitDuration"/>.</summary>
    public static class WaitResults
    {
        /// <summary>A backend could take it: it was sent there.</summary>
        public const string Released = "released";

        /// <summary>No backend could take it within its wait budget: 429.</summary>
        public const string TimedOut = "timed_out";

        /// <summary>Refused at once, Proxy:Throttling:MaxWaitingRequests waiting already: 429.</summary>
        public const string Full = "full";

        /// <summary>The instance stopped while it waited: 429.</summary>
        public const string ShuttingDown = "shutting_down";

        /// <summary>The caller went away while it waited.</summary>
        public const string Cancelled = "cancelled";
    }

    /// <summary>Tag names. <c>backend</c>, <c>deployment</c> and <c>status</c> become the Prometheus labels of the same name.</summary>
    public static class Tags
    {
        public const string Backend = "backend";
        public const string Deployment = "deployment";
        public const string Status = "status";
        public const string Outcome = "outcome";
        public const string Reason = "reason";
        public const string Caller = "caller";
        public const string TokenType = "type";
        public const string Kind = "kind";
        public const string Result = "result";
    }

    /// <summary>Values of <see cref="Tags.Outcome"/> on <see cref="Instruments.Requests"/>.</summary>
    public static class Outcomes
    {
        public const string Served = "served";
        public const string Throttled = "throttled";
        public const string Failed = "failed";
        public const string TimedOut = "timed_out";
        public const string Refused = "refused";
        public const string Unavailable = "unavailable";
        public const string Cancelled = "cancelled";

        /// <summary>The value for a request's outcome: one mapping, as <see cref="ProxyOutcomes.StatusCode"/> is for statuses.</summary>
        public static string Of(ProxyOutcome outcome) => outcome switch
        {
            ProxyOutcome.Relayed => Served,
            ProxyOutcome.CallerGone => Cancelled,
            ProxyOutcome.Throttled => Throttled,
            ProxyOutcome.BackendsTimedOut => TimedOut,
            ProxyOutcome.BackendsFailed or ProxyOutcome.ProxyFailure => Failed,
            ProxyOutcome.AuthenticationUnavailable or ProxyOutcome.ProxyIdentityUnavailable => Unavailable,
            _ => Refused,
        };
    }

    /// <summary>Values of <see cref="Tags.Status"/> on <see cref="Instruments.Attempts"/> when no HTTP status came back.</summary>
    public static class AttemptStatuses
    {
        public const string Timeout = "timeout";
        public const string TransportError = "transport_error";
    }

    /// <summary>Values of <see cref="Tags.TokenType"/> on <see cref="Instruments.Tokens"/>.</summary>
    public static class TokenTypes
    {
        public const string Prompt = "prompt";
        public const string Completion = "completion";
        public const string Total = "total";
    }

    /// <summary>Values of <see cref="Tags.Reason"/> on <see cref="Instruments.RelayFailures"/>.</summary>
    public static class RelayFailureReasons
    {
        /// <summary>The body broke off.</summary>
        public const string Broken = "broken";

        /// <summary>Nothing came for the idle timeout.</summary>
        public const string Stalled = "stalled";
    }

    /// <summary>Values of <see cref="Tags.Reason"/> on the cooldown instruments (and of a cooldown's reason on /proxy/status).</summary>
    public static class CooldownReasons
    {
        public const string Throttled = "throttled";
        public const string TimedOut = "timedOut";
        public const string Failed = "failed";

        /// <summary>The value for <paramref name="reason"/>.</summary>
        public static string Of(CooldownReason reason) => reason switch
        {
            CooldownReason.Throttled => Throttled,
            CooldownReason.TimedOut => TimedOut,
            _ => Failed,
        };
    }

    /// <summary>Values of <see cref="Tags.Kind"/> on <see cref="Instruments.StoreOperations"/> (and a failed operation's name on /proxy/status).</summary>
    public static class StoreKinds
    {
        public const string Initialize = "initialize";
        public const string Read = "read";
        public const string WriteCursor = "write_cursor";
        public const string WriteCooldowns = "write_cooldowns";
    }

    /// <summary>Values of <see cref="Tags.Result"/> on <see cref="Instruments.StoreOperations"/>.</summary>
    public static class StoreResults
    {
        public const string Ok = "ok";
        public const string Conflict = "conflict";
        public const string Error = "error";
        public const string Timeout = "timeout";
    }
}
