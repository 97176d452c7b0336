using System.Text;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// Sends a request target exactly as written. HttpClient and Uri normalize dot segments and escapes, which would hide
/// exactly the paths the proxy must refuse.
/// </summary>
internal static class RawHttp
{
    public static async Task<(int Status, string Response)> SendAsync(Uri server, string method, string target, string? extraHeaders = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        var request = $"{method} {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n{extraHeaders}Content-Length: 0\r\n\r\n";
        var text = await RawBytes.SendAsync(server, Encoding.ASCII.GetBytes(request), Encoding.UTF8);
        var status = int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, text);
    }
}
