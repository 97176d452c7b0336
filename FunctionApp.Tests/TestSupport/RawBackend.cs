using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// A loopback "backend" that answers every request with exactly the bytes a test gives it, for answers Kestrel would
/// refuse to produce (non-ASCII header values, odd framing). Counts the requests it read.
/// </summary>
internal sealed class RawBackend : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _requests;

    public RawBackend(byte[] response)
    {
        Response = response;
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _accepting = AcceptAsync();
    }

    public Uri Endpoint { get; }

    public byte[] Response { get; set; }

    public int RequestCount => Volatile.Read(ref _requests);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception)
        {
            // Stopping.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            var head = new List<byte>();
            var one = new byte[1];
            while (!EndsWithBlankLine(head))
            {
                if (await stream.ReadAsync(one) == 0)
                {
                    return;
                }

                head.Add(one[0]);
            }

            var text = Encoding.ASCII.GetString(head.ToArray());
            var length = text.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            var body = new byte[length];
            var read = 0;
            while (read < length)
            {
                var n = await stream.ReadAsync(body.AsMemory(read));
                if (n == 0)
                {
                    return;
                }

                read += n;
            }

            Interlocked.Increment(ref _requests);
            await stream.WriteAsync(Response);
            await stream.FlushAsync();
        }
    }

    private static bool EndsWithBlankLine(List<byte> b) =>
        b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';
}

/// <summary>Sends exactly the given request bytes and reads the whole answer (the server is asked to close).</summary>
internal static class RawBytes
{
    /// <summary>The answer decoded as <paramref name="decoding"/> (Latin-1 by default: every byte one character).</summary>
    public static async Task<string> SendAsync(Uri server, byte[] request, Encoding? decoding = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        await using var stream = tcp.GetStream();
        await stream.WriteAsync(request);
        using var reader = new StreamReader(stream, decoding ?? Encoding.Latin1);
        return await reader.ReadToEndAsync().WaitAsync(Wait.Patience);
    }
}
