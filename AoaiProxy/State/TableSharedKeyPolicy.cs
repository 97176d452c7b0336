using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure.Core;
using Azure.Core.Pipeline;

namespace AoaiProxy.State;

/// <summary>
/// Signs Table service requests with Shared Key Lite, the scheme Azure.Data.Tables uses: the string to sign is the
/// <c>x-ms-date</c> value and the canonicalized resource (<c>/account/path</c>, plus <c>?comp=</c> when present). The
/// path is taken as sent, so Azurite's path-style URLs sign as <c>/devstoreaccount1/devstoreaccount1/table</c>, which
/// is what Azurite checks.
/// </summary>
internal sealed class TableSharedKeyPolicy : HttpPipelineSynchronousPolicy
{
    private const string Scheme = "SharedKeyLite";
    private const string DateHeader = "x-ms-date";
    private const string CompParameter = "comp=";
    private const int StackSignLimit = 1024;

    private readonly string _accountName;
    private readonly byte[] _key;
    private readonly TimeProvider _timeProvider;

    public TableSharedKeyPolicy(string accountName, ReadOnlyMemory<byte> key, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountName);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _accountName = accountName;
        _key = key.ToArray();
        _timeProvider = timeProvider;
    }

    public override void OnSendingRequest(HttpMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var date = _timeProvider.GetUtcNow().ToString("r", CultureInfo.InvariantCulture);
        message.Request.Headers.SetValue(DateHeader, date);
        message.Request.Headers.SetValue(HttpHeader.Names.Authorization, Authorization(date, message.Request.Uri));
    }

    /// <summary>The Authorization header value for a request to <paramref name="uri"/> dated <paramref name="date"/>.</summary>
    internal string Authorization(string date, RequestUriBuilder uri)
    {
        var comp = CompValue(uri.Query);
        var stringToSign = comp.IsEmpty
            ? $"{date}\n/{_accountName}{uri.Path}"
            : $"{date}\n/{_accountName}{uri.Path}?{CompParameter}{comp}";

        var byteCount = Encoding.UTF8.GetByteCount(stringToSign);
        Span<byte> bytes = byteCount <= StackSignLimit ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(stringToSign, bytes);
        Span<byte> hash = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_key, bytes, hash);
        return string.Concat(Scheme, " ", _accountName, ":", Convert.ToBase64String(hash));
    }

    /// <summary>The value of the <c>comp</c> query parameter, the only one that is signed; empty when absent.</summary>
    private static ReadOnlySpan<char> CompValue(ReadOnlySpan<char> query)
    {
        query = query.TrimStart('?');
        foreach (var range in query.Split('&'))
        {
            var parameter = query[range];
            if (parameter.StartsWith(CompParameter, StringComparison.OrdinalIgnoreCase))
            {
                return parameter[CompParameter.Length..];
            }
        }

        return [];
    }
}
