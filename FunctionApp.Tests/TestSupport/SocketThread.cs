using System.Collections.Concurrent;
using System.Net.Http;
using System.Net.Sockets;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// Stands in for one of the runtime's epoll threads under DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 (the standalone
/// host's default, see AoaiProxy.Server.SocketDefaults): a dedicated thread, not the pool's, on which I/O completes and
/// whose awaiting code then runs inline, as it does on a ".NET Sockets" thread. Whatever the engine does in such a
/// continuation before its next real wait holds up every other socket of that thread, so tests use it to see on which
/// thread work happens. The test process itself keeps the runtime's default (continuations on the pool), which is why the
/// thread is simulated here rather than switched on.
/// </summary>
internal sealed class SocketThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = [];
    private readonly Thread _thread;
    private int _completions;

    public SocketThread()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "test socket thread" };
        _thread.Start();
    }

    /// <summary>True on the socket thread.</summary>
    public bool IsCurrent => Thread.CurrentThread == _thread;

    /// <summary>How many completions ran on the thread (a test that saw none proved nothing).</summary>
    public int Completions => Volatile.Read(ref _completions);

    /// <summary>
    /// For <see cref="SocketsHttpHandler.ConnectCallback"/>: a real loopback connection whose reads complete on this
    /// thread, as the backend's bytes arriving on an epoll thread.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new CompletingStream(new NetworkStream(socket, ownsSocket: true), this);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="operation"/>'s result, delivered on this thread: the awaiting code's continuation runs there,
    /// synchronously, until it next waits for something that is not complete.
    /// </summary>
    public Task<T> CompleteOnThread<T>(Task<T> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);

        // Deliberately without RunContinuationsAsynchronously: SetResult runs the continuation inline, like the runtime's
        // inline completions.
        var completion = new TaskCompletionSource<T>();
        operation.ContinueWith(
            done => _work.Add(() =>
            {
                Interlocked.Increment(ref _completions);
                if (done.IsCanceled)
                {
                    completion.SetCanceled();
                }
                else if (done.IsFaulted)
                {
                    completion.SetException(done.Exception!.InnerExceptions);
                }
                else
                {
                    completion.SetResult(done.Result);
                }
            }),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return completion.Task;
    }

    public void Dispose() => _work.CompleteAdding();

    private void Run()
    {
        foreach (var item in _work.GetConsumingEnumerable())
        {
            item();
        }
    }

    /// <summary>A connection whose reads complete on the socket thread; writes go straight through.</summary>
    private sealed class CompletingStream(NetworkStream inner, SocketThread thread) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            new(thread.CompleteOnThread(inner.ReadAsync(buffer, cancellationToken).AsTask()));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.WriteAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

    }
}
