using AoaiProxy.Auth;
using AoaiProxy.Observability;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.Observability;

public sealed class RequestTelemetryTests
{
    [Theory]
    [InlineData("oid-1", "app-1", null, "oid-1")]
    [InlineData(null, "app-1", null, "app-1")]
    [InlineData(null, null, 2, "key:2")]
    [InlineData(null, null, null, "anonymous")]
    public void CallerLabel_EachKindOfCaller_IsAnIdNeverASecret(string? oid, string? app, int? keyIndex, string expected)
    {
        var check = CallerCheck.Allowed(oid is null && app is null ? null : new CallerIdentity(oid, app)) with { ClientKeyIndex = keyIndex };

        Assert.Equal(expected, RequestTelemetry.CallerLabel(check));
    }

    [Fact]
    public void RequestStarted_ThenEachStep_RecordedOnTheRequestsFeature()
    {
        var context = new DefaultHttpContext();
        context.Response.Headers.ContentEncoding = "gzip";

        RequestTelemetry.RequestStarted(context);
        RequestTelemetry.CallerIdentified(context, CallerCheck.Allowed(new CallerIdentity("oid-1", null)));
        RequestTelemetry.DeploymentResolved(context, "gpt-4o");
        RequestTelemetry.PreflightAnswered(context);
        var usage = RequestTelemetry.RelayStarted(context, "a", 1024 * 1024);

        var telemetry = context.Features.Get<RequestTelemetry>()!;
        Assert.Equal(("oid-1", "gpt-4o", "a", true), (telemetry.Caller, telemetry.Deployment, telemetry.Backend, telemetry.Preflight));
        Assert.Same(telemetry.Usage, usage);
    }

    [Fact]
    public void RelayStarted_NoTelemetryStarted_AReaderAllTheSame()
    {
        var context = new DefaultHttpContext();

        RequestTelemetry.CallerIdentified(context, CallerCheck.Allowed(null));
        var usage = RequestTelemetry.RelayStarted(context, "a", 1024 * 1024);

        Assert.NotNull(usage);
        Assert.Null(context.Features.Get<RequestTelemetry>());
    }
}
