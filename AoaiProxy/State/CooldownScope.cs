using AoaiProxy.State;

namespace AoaiProxy.State;

/// <summary>
/// Which cooldown keys a request is subject to. A request names a deployment (path, or a v1 body's "model") or none
/// (/openai/threads, /files, /batches, a multipart v1 body). Backend-wide cooldowns apply to both; a deployment's own to
/// its requests; and throttling of a request without a deployment is kept under its own scope, so a 429 on /threads
/// does not make every chat deployment of that backend look throttled.
/// </summary>
internal static class CooldownScope
{
    /// <summary>The scope of requests that name no deployment. Not a valid deployment name (parentheses).</summary>
    public const string NoDeployment = "(none)";

    /// <summary>
    /// The deployment as a cooldown scope, or null when the name cannot be one: the backend-wide marker or the
    /// no-deployment scope itself would otherwise let a caller's v1 "model" cool what other requests depend on.
    /// </summary>
    public static string? Usable(string? deployment) =>
        deployment is CooldownKeys.AnyDeployment or NoDeployment ? null : deployment;

    /// <summary>The request's own scope: its deployment, or the no-deployment scope.</summary>
    public static string Of(string? deployment) => deployment ?? NoDeployment;

    /// <summary>The key of the request's own scope (its deployment, or the no-deployment scope).</summary>
    public static string KeyFor(string backend, string? deployment) => CooldownKeys.For(backend, Of(deployment));
}
