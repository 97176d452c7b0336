#!/usr/bin/env bash
# Runs the benchmarks in Release (BenchmarkDotNet refuses Debug builds). Not part of CI.
#
#   benchmarks/run.sh                                   # everything (about 4-5 minutes on 2 cores)
#   benchmarks/run.sh --filter '*EndToEnd*'             # end to end only: direct vs proxied, failover
#   benchmarks/run.sh --filter '*HotPath*' '*SharedState*'   # micro-benchmarks only
#   benchmarks/run.sh --list flat                       # list the benchmarks without running them
#   benchmarks/run.sh relay-memory [streams]            # heap held by 200 idle streams with 4 MiB bodies (not BenchmarkDotNet)
#
# Any arguments are BenchmarkDotNet's own (--filter takes globs over Namespace.Class.Method). Results are printed at the
# end and written to benchmarks/BenchmarkDotNet.Artifacts/results/ (markdown, csv, html; git-ignored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# BenchmarkDotNet finds the project to generate its runner from by searching the working directory.
cd "$here"
exec dotnet run -c Release --project "$here/AoaiProxy.Benchmarks/AoaiProxy.Benchmarks.csproj" -- "$@"
