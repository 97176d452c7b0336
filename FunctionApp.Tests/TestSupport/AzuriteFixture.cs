using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>Tests that talk to the one Azurite of the run. Not parallel, so test timeouts are honoured.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AzuriteCollectionDefinition : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}

/// <summary>
/// A real Azurite Table service (from the repo's npm dev dependency) on a free loopback port, in memory, started once
/// for the <see cref="AzuriteCollectionDefinition"/>. It can be stopped and restarted on the same port to simulate an outage;
/// disposing always kills it and deletes its working folder.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    /// <summary>Azurite's well-known development key (public by design).</summary>
    /// <summary>Azurite's well-known development account.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    public const string AccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private const string Executable = "node_modules/.bin/azurite-table";
    private const int OutputTailLines = 40;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly string _executable;
    private readonly string _workDirectory;
    private readonly Queue<string> _output = new();
    private Process? _process;
    private int _tableCount;

    public AzuriteFixture()
    {
        _executable = FindExecutable();
        _workDirectory = Directory.CreateTempSubdirectory("aoaiproxy-azurite-").FullName;
        Port = FreeLoopbackPort();
    }

    public int Port { get; }

    /// <summary>Path-style endpoint, as Azurite serves it.</summary>
    public Uri TableEndpoint => new($"http://127.0.0.1:{Port}/{DevelopmentAccountName}");

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={DevelopmentAccountName};AccountKey={AccountKey};TableEndpoint={TableEndpoint}";

    /// <summary>A table name no other test of this run uses.</summary>
    public string NewTableName() => $"t{Environment.ProcessId}x{Interlocked.Increment(ref _tableCount)}";

    /// <summary>A connection to this Azurite, through the same settings parsing the app uses.</summary>
    internal StorageConnection Connection(string tableName, string? connectionString = null)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                [StorageConnection.ConnectionSetting] = connectionString ?? ConnectionString,
                [StorageConnection.TableNameSetting] = tableName,
            })
            .Build();
        var result = StorageConnection.FromConfiguration(configuration);
        return result.Connection ?? throw new InvalidOperationException(result.Error);
    }

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        await StopAsync();
        if (Directory.Exists(_workDirectory))
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
    }

    /// <summary>Kills Azurite (an abrupt outage) and waits until it is gone.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        using var process = _process;
        _process = null;
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        using var timeout = new CancellationTokenSource(StopTimeout);
        await process.WaitForExitAsync(timeout.Token);
    }

    /// <summary>Starts Azurite again on the same port. In-memory: what was stored before is gone.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    private async Task StartAsync()
    {
        var startInfo = new ProcessStartInfo(_executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _workDirectory,
        };
        foreach (var argument in new[]
        {
            "--tableHost", "127.0.0.1", "--tablePort", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent",
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => Remember(e.Data);
        process.ErrorDataReceived += (_, e) => Remember(e.Data);
        process.Start();
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (!await AcceptsConnectionsAsync())
        {
            if (process.HasExited || deadline.Elapsed > StartTimeout)
            {
                await StopAsync();
                throw new InvalidOperationException(
                    $"Azurite did not start listening on port {Port} within {StartTimeout}. Its output:\n{OutputTail()}");
            }

            await Task.Delay(PollInterval);
        }
    }

    private async Task<bool> AcceptsConnectionsAsync()
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > OutputTailLines)
            {
                _output.Dequeue();
            }
        }
    }

    private string OutputTail()
    {
        lock (_output)
        {
            return string.Join('\n', _output);
        }
    }

    private static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    private static string FindExecutable()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "package.json")))
            {
                var executable = Path.Combine(directory.FullName, Executable);
                return File.Exists(executable)
                    ? executable
                    : throw new InvalidOperationException(
                        $"Azurite is not installed: {executable} is missing. Run `npm ci` at the repo root ({directory.FullName}).");
            }
        }

        throw new InvalidOperationException(
            $"No package.json found above {AppContext.BaseDirectory}: cannot find the repo root to run Azurite from.");
    }
}
