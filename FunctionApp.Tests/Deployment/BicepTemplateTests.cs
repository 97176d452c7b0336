#if BICEP_CLI
using System.Diagnostics;
using System.Reflection;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Deployment;

/// <summary>infra/ compiles and lints clean with the real Bicep CLI (restored from NuGet by the test project).</summary>
public sealed class BicepTemplateTests
{
    [Theory]
    [InlineData("build")]
    [InlineData("lint")]
    public async Task MainBicep_Command_SucceedsWithoutDiagnostics(string command)
    {
        var output = Path.Combine(Path.GetTempPath(), "aoaiproxy-bicep-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(output);
        try
        {
            var info = new ProcessStartInfo(BicepCli()) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            info.ArgumentList.Add(command);
            info.ArgumentList.Add(RepoPaths.Of("infra", "main.bicep"));
            if (command == "build")
            {
                info.ArgumentList.Add("--outdir");
                info.ArgumentList.Add(output);
            }

            info.Environment["BICEP_TRACING_ENABLED"] = "false";
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));

            Assert.True(process.ExitCode == 0, $"bicep {command} failed:\n{stderr}\n{await stdout}");
            Assert.True(string.IsNullOrWhiteSpace(stderr), $"bicep {command} reported diagnostics:\n{stderr}");
            if (command == "build")
            {
                Assert.True(File.Exists(Path.Combine(output, "main.json")));
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    private static string BicepCli()
    {
        var path = typeof(BicepTemplateTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepCli").Value!;
        var executable = OperatingSystem.IsWindows() ? path + ".exe" : path;
        Assert.True(File.Exists(executable), "Bicep CLI not restored at " + executable);
        if (!OperatingSystem.IsWindows())
        {
            // NuGet does not keep the executable bit.
            File.SetUnixFileMode(executable, File.GetUnixFileMode(executable) | UnixFileMode.UserExecute);
        }

        return executable;
    }
}
#endif
