using AoaiProxy.Forwarding;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.Forwarding;

public class BodyFailureTests
{
    public static TheoryData<Exception, bool, string> CallerReads => new()
    {
        // What Kestrel throws from a request body read, as observed over real sockets (CallerBodyEndToEndTests).
        { new BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge), false, nameof(BodyFailureKind.TooLarge) },
        { new BadHttpRequestException("Bad chunk size data."), false, nameof(BodyFailureKind.Malformed) },
        { new BadHttpRequestException("Unexpected end of request content."), true, nameof(BodyFailureKind.Malformed) },
        { new IOException("Bad chunk size data.", new OverflowException()), false, nameof(BodyFailureKind.Malformed) },
        { new ConnectionResetException("Connection reset by peer"), false, nameof(BodyFailureKind.CallerGone) },
        { new ConnectionResetException("Connection reset by peer"), true, nameof(BodyFailureKind.CallerGone) },
        { new ConnectionAbortedException("The connection was aborted"), false, nameof(BodyFailureKind.CallerGone) },
        { new TaskCanceledException("The request was aborted"), true, nameof(BodyFailureKind.CallerGone) },
        { new OperationCanceledException(), false, nameof(BodyFailureKind.CallerGone) },
        { new IOException("The HTTP/2 stream was reset by the client."), true, nameof(BodyFailureKind.CallerGone) },
        { new IOException("The client went away."), false, nameof(BodyFailureKind.CallerGone) },
    };

    [Theory]
    [MemberData(nameof(CallerReads))]
    public void OfCallerRead_ServerOrCallerError_Classified(Exception exception, bool callerAborted, string kind)
    {
        var failure = BodyFailure.OfCallerRead(exception, callerAborted);

        Assert.Equal(Enum.Parse<BodyFailureKind>(kind), failure?.Kind);
        Assert.Contains(exception.GetType().Name, failure!.Value.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Bad chunk size data.")]
    [InlineData("Bad chunk suffix.")]
    public void OfCallerRead_Malformed_MessageSaysWhatTheServerFound(string reason)
    {
        var failure = BodyFailure.OfCallerRead(new BadHttpRequestException(reason), callerAborted: false);

        Assert.Equal("The request could not be read: " + reason, failure?.Message);
    }

    [Fact]
    public void OfCallerRead_DefectOfTheProxy_NotABodyFailure()
    {
        Assert.Null(BodyFailure.OfCallerRead(new InvalidOperationException("Reading is already in progress."), callerAborted: false));
        Assert.Null(BodyFailure.OfCallerRead(new ObjectDisposedException("stream"), callerAborted: true));
        Assert.Null(BodyFailure.OfCallerRead(new ArgumentException("a defect"), callerAborted: false));
    }

    [Fact]
    public void Truncated_BodyShorterThanAnnounced_MalformedNamingBothLengths()
    {
        var failure = BodyFailure.Truncated(10, 100);

        Assert.Equal(BodyFailureKind.Malformed, failure.Kind);
        Assert.Equal("The request could not be read: The request body ended after 10 of the 100 bytes its Content-Length announced.", failure.Message);
    }

    [Fact]
    public void OverLimit_Body_TooLargeNamingTheLimit()
    {
        var failure = BodyFailure.OverLimit(1_000);

        Assert.Equal(BodyFailureKind.TooLarge, failure.Kind);
        Assert.Contains("1000 bytes", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Storage_FileError_MessageForTheCallerHidesThePathDetailForTheLogKeepsIt()
    {
        var path = Path.Combine(Path.GetTempPath(), "aoaiproxy-body-0123");

        var failure = BodyFailure.Storage(new IOException($"No space left on device : '{path}'"));

        Assert.Equal(BodyFailureKind.Storage, failure.Kind);
        Assert.DoesNotContain(path, failure.Message, StringComparison.Ordinal);
        Assert.Contains(path, failure.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(typeof(IOException), true)]
    [InlineData(typeof(FileNotFoundException), true)]
    [InlineData(typeof(UnauthorizedAccessException), true)]
    [InlineData(typeof(InvalidOperationException), false)]
    [InlineData(typeof(OperationCanceledException), false)]
    public void IsStorageError_FileSystemErrorsOnly(Type type, bool expected)
    {
        Assert.Equal(expected, BodyFailure.IsStorageError((Exception)Activator.CreateInstance(type)!));
    }
}
