#!/usr/bin/env bash
# The shared-state fleet simulation on the real clock (Release). Not part of CI. Prints the table of docs/shared-state.md.
#
#   benchmarks/fleet.sh                                        # K = 1,2,8,64,100 x R = 50,200,1000,3000 (about 10 minutes)
#   benchmarks/fleet.sh --instances 100 --rates 200,3000       # some cells
#   benchmarks/fleet.sh --latency 2,6                          # a faster store (Azurite on loopback is about that)
#   options: --requests N (measured claims per cell, 3000), --warmup S (seconds at the same rate first, 5)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
exec dotnet run -c Release --project "$here/AoaiProxy.Benchmarks/AoaiProxy.Benchmarks.csproj" -- fleet "$@"
