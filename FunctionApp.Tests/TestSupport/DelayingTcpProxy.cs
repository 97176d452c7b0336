using System.Net;
using System.Net.Sockets;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// A TCP forwarder on a loopback port that delays every chunk by <see cref="Delay"/> in each direction: a store that is
/// as far away as Azure Table Storage is from a Functions instance, in front of a local Azurite.
/// </summary>
internal sealed class DelayingTcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _accepting;

    public DelayingTcpProxy(int targetPort, TimeSpan delay)
    {
        _targetPort = targetPort;
        Delay = delay;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public TimeSpan Delay { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            _ = Task.Run(() => ForwardAsync(client));
        }
    }

    private async Task ForwardAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stopping.Token);
                var up = PumpAsync(client.GetStream(), server.GetStream());
                var down = PumpAsync(server.GetStream(), client.GetStream());
                await Task.WhenAny(up, down);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A side closed or the proxy stops: the other side sees the connection end.
            }
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, _stopping.Token);
            if (read == 0)
            {
                return;
            }

            await Task.Delay(Delay, _stopping.Token);
            await to.WriteAsync(buffer.AsMemory(0, read), _stopping.Token);
        }
    }
}
