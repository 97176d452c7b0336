#!/usr/bin/env bash
# Side-by-side benchmark: direct, nginx round robin, a minimal YARP 2.3.0 round-robin proxy and our standalone host
# (default settings), measured in one interleaved run. Not part of CI. Linux only (taskset, /proc).
#
#   benchmarks/compare/run.sh              # everything, about 15 minutes on 2 cores
#   benchmarks/compare/run.sh --table      # also our host with the Table store on Azurite (needs `npm ci` first)
#   benchmarks/compare/run.sh --old-logging  # also our host at the log levels before production defaults (3 lines/request)
#   benchmarks/compare/run.sh --yarp-inline  # also YARP with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1, which our host sets
#   benchmarks/compare/run.sh --quick      # 1 round of 5 s, 200 streams, 2 uploads: checks the script, not the numbers
#   benchmarks/compare/run.sh --functions  # also this checkout's FunctionApp under the real Functions host (fhost kit, below)
#   benchmarks/compare/run.sh --functions-build main=main   # ... and the FunctionApp of git ref main, interleaved with it
#
# Options: --rounds N (3)  --duration S (10, per wrk run)  --warmup S (40, once per target)  --connections "16 64"  --streams N (1000)  --chunks N (50)
#          --gap-ms N (200)  --upload-mib N (50)  --uploads N (5)  --no-streaming  --no-upload  --no-wrk
#          --port-base N (18100; uses the 30 ports from there)  --targets "LIST" (only these: direct nginx yarp ours func ...)
#          --functions-build NAME=SOURCE (repeatable; implies --functions): one more FunctionApp, target func-NAME, published
#            from SOURCE, a git ref of this repository or a checkout directory
#          --fhost-kit DIR (../shared/tools/fhost from the repository root)  --fhost-webhost DIR (the host build output,
#            default ${TMPDIR:-/tmp}/fhost-build/host/out/bin/WebJobs.Script.WebHost/release)
#
# The Functions targets run the published FunctionApp under the Azure Functions host built from source by the fhost kit
# (its README.md; "How to get the host" below prints the commands when the host is missing), configured as the kit's
# run-host.sh configures a Core Tools-like local run, with host.json's own log levels and AzureWebJobsStorage (host
# storage and the proxy's Table state) on Azurite. With --functions, --connections defaults to "1 16 64" and --streams
# to "64 256". CPU and RSS are also recorded per process: the host and its worker (the host's child `dotnet FunctionApp.dll`).
#
# What runs where: wrk and our load generators are pinned to the first CPU, every server (backends, proxies, Azurite) to
# the second (taskset), so the proxies compete with their backends, not with the load. Backends for request/response:
# one nginx worker on three ports answering a fixed 339-byte chat completion. Streaming and upload backends: backend.mjs.
# Each wrk run is 2 s of warm-up, then --duration seconds measured; rounds interleave the targets so that drifting load
# on the machine hits all of them alike. Streaming and uploads also run --rounds times, interleaved, each time through
# fresh proxy processes (so that peak RSS is theirs alone). Proxy CPU is utime+stime from /proc/PID/stat over the
# measured run, divided by the requests wrk completed. Results: benchmarks/compare/results/<UTC time>/ (raw TSV and
# summary.md; git-ignored). Every process the script starts is stopped when it ends, also on Ctrl+C or an error.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

rounds=3 duration=10 warmup=40 connections="16 64" streams=1000 chunks=50 gap_ms=200 upload_mib=50 uploads=5
with_table=0 with_old_logging=0 with_yarp_inline=0 do_wrk=1 do_streaming=1 do_upload=1 port_base=18100
with_functions=0 only_targets="" connections_set=0 streams_set=0
fhost_kit="" fhost_webhost="${FHOST_WEBHOST_DIR:-${TMPDIR:-/tmp}/fhost-build/host/out/bin/WebJobs.Script.WebHost/release}"
func_builds=()   # NAME=SOURCE, besides this checkout's FunctionApp (target func)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --connections) connections="$2"; connections_set=1; shift 2 ;;
    --streams) streams="$2"; streams_set=1; shift 2 ;;
    --functions) with_functions=1; shift ;;
    --functions-build) with_functions=1; func_builds+=("$2"); shift 2 ;;
    --fhost-kit) fhost_kit="$2"; shift 2 ;;
    --fhost-webhost) fhost_webhost="$2"; shift 2 ;;
    --targets) only_targets="$2"; shift 2 ;;
    --chunks) chunks="$2"; shift 2 ;;
    --gap-ms) gap_ms="$2"; shift 2 ;;
    --upload-mib) upload_mib="$2"; shift 2 ;;
    --uploads) uploads="$2"; shift 2 ;;
    --port-base) port_base="$2"; shift 2 ;;
    --table) with_table=1; shift ;;
    --old-logging) with_old_logging=1; shift ;;
    --yarp-inline) with_yarp_inline=1; shift ;;
    --no-wrk) do_wrk=0; shift ;;
    --no-streaming) do_streaming=0; shift ;;
    --no-upload) do_upload=0; shift ;;
    --quick) rounds=1 duration=5 warmup=10 streams=200 uploads=2; shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ $with_functions -eq 1 ]]; then
  [[ $connections_set -eq 1 ]] || connections="1 16 64"
  [[ $streams_set -eq 1 ]] || streams="64 256"
fi
# Whether <target> runs: all of them unless --targets lists some.
wanted() { [[ -z "$only_targets" ]] || [[ " $only_targets " == *" $1 "* ]]; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# The shell's own settings must not leak into the proxies: the host reads Proxy__*, AzureWebJobsStorage and Logging__*.
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(Proxy__[^=]*\|AzureWebJobsStorage[^=]*\|Logging__[^=]*\|ASPNETCORE_[^=]*\|DOTNET_ENVIRONMENT\)=.*/\1/p')

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------- prerequisites
[[ "$(uname -s)" == Linux ]] || die "Linux only (taskset and /proc)"
missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v taskset >/dev/null || missing+=(util-linux)
command -v curl >/dev/null || missing+=(curl)
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
  log "installing ${missing[*]} with apt-get"
  nginx_service_was_active=0
  if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then nginx_service_was_active=1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Where systemd runs, the package starts the system's nginx on port 80: not ours to leave running.
  if [[ $nginx_service_was_active -eq 0 ]] && command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl stop nginx || true
  fi
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
command -v dotnet >/dev/null || die "the .NET SDK is required"
command -v node >/dev/null || die "Node.js is required (load generator and streaming backend)"

# How to get the host: the real Azure Functions host (WebJobs.Script.WebHost 4.1037), built from its public source by
# the team's fhost kit, the same host process Core Tools and Azure run.
if [[ $with_functions -eq 1 ]]; then
  [[ -n "$fhost_kit" ]] || fhost_kit="${FHOST_KIT:-$repo/../shared/tools/fhost}"
  [[ -x "$fhost_kit/build-host.sh" && -x "$fhost_kit/publish-app.sh" ]] \
    || die "--functions needs the fhost kit (build-host.sh, publish-app.sh); not found at $fhost_kit: pass --fhost-kit DIR"
  fhost_kit="$(cd "$fhost_kit" && pwd)"
  if [[ ! -f "$fhost_webhost/Microsoft.Azure.WebJobs.Script.WebHost.dll" ]]; then
    cat >&2 <<EOF2
The Functions host is not built: no Microsoft.Azure.WebJobs.Script.WebHost.dll in $fhost_webhost.
Get it as $fhost_kit/README.md says (about a minute with a warm NuGet cache):
  MIRROR=\${TMPDIR:-/tmp}/fhost-mirror     # bare clones holding the pinned commits (see build-host.sh)
  git clone --bare https://github.com/Azure/azure-functions-host "\$MIRROR/Azure+azure-functions-host"
  git clone --bare https://github.com/aspnet/AspNetWebStack "\$MIRROR/aspnet+AspNetWebStack"
  $fhost_kit/build-host.sh "\$MIRROR/Azure+azure-functions-host" "\$MIRROR/aspnet+AspNetWebStack" \${TMPDIR:-/tmp}/fhost-build
It prints the dll's path last; pass its folder with --fhost-webhost DIR (or FHOST_WEBHOST_DIR) if it is not
\${TMPDIR:-/tmp}/fhost-build/host/out/bin/WebJobs.Script.WebHost/release.
EOF2
    die "the Functions host is not built (see above)"
  fi
  fhost_webhost="$(cd "$fhost_webhost" && pwd)"
  [[ -x "$repo/node_modules/.bin/azurite" ]] || die "--functions needs Azurite (host storage, Table state): run 'npm ci' in $repo first"
fi

cpus=$(nproc)
# Prefixes, not functions: a backgrounded function runs in a subshell, and $! would name that subshell rather than the
# server (taskset and env exec their command, so $! is the server itself and can be stopped by its id).
if [[ $cpus -ge 2 ]]; then
  pin_load=(taskset -c 0) pin_server=(taskset -c 1)
else
  log "only $cpus CPU: nothing is pinned, load and servers share it"
  pin_load=(env) pin_server=(env)
fi
clk_tck=$(getconf CLK_TCK)

p=$port_base
port_backend1=$p port_backend2=$((p + 1)) port_backend3=$((p + 2)) port_nginx=$((p + 3)) port_yarp=$((p + 4))
port_ours=$((p + 5)) port_ours_table=$((p + 6)) port_azurite=$((p + 7)) port_node_backend=$((p + 8))
port_yarp2=$((p + 9)) port_ours2=$((p + 10)) port_ours_old=$((p + 11)) port_yarp_inline=$((p + 12))
port_azurite_blob=$((p + 13)) port_azurite_queue=$((p + 14)) port_func_base=$((p + 20))   # Functions hosts: p+20 .. p+29
for port in $(seq "$p" $((p + 29))); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is in use; pick others with --port-base"; fi
done

work="$(mktemp -d /tmp/aoaiproxy-compare.XXXXXX)"
chmod 755 "$work"   # nginx's workers run as another user when started by root
# 1,000 streams need 2,000+ sockets in the proxy and the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
results="$here/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"

# ------------------------------------------------------------------------------------------------ process handling
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # The servers' console output stays with the results (what each proxy logged, e.g. the lines counted in machine.tsv).
  if [[ -n "${results:-}" && -d "$results" ]]; then mkdir -p "$results/logs" && cp "$work"/*.log "$results/logs/" 2>/dev/null || true; fi
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a server pinned to the server CPU, logs to $work/<name>.log; sets $started_pid.
start() {
  local name=$1; shift
  "${pin_server[@]}" "$@" >"$work/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
}

stop() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  local kept=() other
  for other in "${pids[@]}"; do [[ "$other" == "$pid" ]] || kept+=("$other"); done
  pids=("${kept[@]}")
}

# Waits until <url> answers <status> to a small chat request (or any status when <status> is "any").
wait_ready() {
  local name=$1 url=$2 pid=$3 status
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log" >&2; die "$name exited at start-up"; }
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'api-key: bench' \
      --data '{"messages":[]}' "$url" || true)
    [[ "$status" == 200 ]] && return 0
    sleep 0.1
  done
  cat "$work/$name.log" >&2
  die "$name did not answer 200 at $url within 60 s (last status $status)"
}

# Process and its children (nginx: master and worker).
tree_pids() { echo "$1"; pgrep -P "$1" || true; }
cpu_ticks() {
  local sum=0 pid fields
  for pid in $(tree_pids "$1"); do
    [[ -r /proc/$pid/stat ]] || continue
    # Fields after the command (which may contain spaces): utime and stime are fields 14 and 15 of the whole line.
    fields=$(sed 's/^.*) //' "/proc/$pid/stat")
    set -- $fields
    sum=$((sum + ${12} + ${13}))
  done
  echo "$sum"
}
rss_kib() {
  local sum=0 pid v
  for pid in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# One process only (the Functions host without its worker, or the worker).
cpu_ticks_one() {
  local fields
  [[ -r /proc/$1/stat ]] || { echo 0; return; }
  fields=$(sed 's/^.*) //' "/proc/$1/stat")
  set -- $fields
  echo $((${12} + ${13}))
}
rss_kib_one() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
ticks_to_us_per() { awk -v d="$1" -v hz="$clk_tck" -v n="$2" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}'; }
kib_to_mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }

# -------------------------------------------------------------------------------------------------------- builds
log "building our standalone host (Release)"
dotnet publish "$repo/AoaiProxy.Server/AoaiProxy.Server.csproj" -c Release -o "$work/ours" -nologo -v q >"$work/build-ours.log" 2>&1 \
  || { cat "$work/build-ours.log" >&2; die "build of AoaiProxy.Server failed"; }
log "building the minimal YARP proxy (Yarp.ReverseProxy 2.3.0 from NuGet)"
mkdir -p "$work/yarp-src"
cp "$here/yarp/YarpProxy.csproj" "$here/yarp/Program.cs" "$here/yarp/appsettings.json" "$work/yarp-src/"
dotnet publish "$work/yarp-src/YarpProxy.csproj" -c Release -o "$work/yarp" -nologo -v q >"$work/build-yarp.log" 2>&1 \
  || { cat "$work/build-yarp.log" >&2; die "build of the YARP proxy failed"; }

# FunctionApp builds for the Functions targets: func is this checkout; each --functions-build NAME=SOURCE is func-NAME,
# from a git ref of this repository (exported with git archive) or a checkout directory. Published by the kit's
# publish-app.sh, which works on a copy.
declare -A func_site
func_targets=()
publish_func() {
  local target=$1 source=$2 src
  if [[ -d "$source" ]]; then
    src="$(cd "$source" && pwd)"
  else
    git -C "$repo" rev-parse --verify -q "$source^{commit}" >/dev/null || die "--functions-build: '$source' is neither a directory nor a git ref of $repo"
    src="$work/src-$target"
    mkdir -p "$src"
    git -C "$repo" archive "$source" FunctionApp AoaiProxy host.json Directory.Build.props | tar -x -C "$src"
  fi
  log "publishing the FunctionApp of $source as $target"
  "$fhost_kit/publish-app.sh" "$src" "$work/site-$target" "$work/app-$target" >"$work/publish-$target.log" 2>&1 \
    || { cat "$work/publish-$target.log" >&2; die "publish of the FunctionApp for $target failed"; }
  func_site[$target]="$work/site-$target"
  func_targets+=("$target")
  echo "functions_build	$target: $source ($(git -C "$src" rev-parse --short HEAD 2>/dev/null || git -C "$repo" rev-parse --short "$source" 2>/dev/null || echo directory))" >>"$work/func-builds.tsv"
}
if [[ $with_functions -eq 1 ]]; then
  : >"$work/func-builds.tsv"
  publish_func func "$repo"
  for b in "${func_builds[@]}"; do
    [[ "$b" == *=* && -n "${b%%=*}" ]] || die "--functions-build wants NAME=SOURCE, got '$b'"
    name="${b%%=*}"
    [[ "$name" =~ ^[A-Za-z0-9]+$ ]] || die "--functions-build: NAME must be letters and digits, got '$name'"
    publish_func "func-$name" "${b#*=}"
  done
  [[ ${#func_targets[@]} -le 10 ]] || die "at most 9 --functions-build"
fi

# ------------------------------------------------------------------------------------------------------ machine
{
  echo "date_utc	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu	$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) ($cpus logical CPUs)"
  echo "memory	$(awk '/^MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "os	$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") $(uname -r)"
  echo "dotnet	$(dotnet --version) (runtime $(dotnet --list-runtimes | awk '/Microsoft.NETCore.App/ {v=$2} END {print v}'))"
  echo "nginx	$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')"
  echo "wrk	$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "node	$(node --version)"
  echo "commit	$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "load_average_start	$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "settings	rounds=$rounds duration=${duration}s warmup=${warmup}s connections=[$connections] streams=[$streams] chunks=$chunks gap=${gap_ms}ms upload=${upload_mib}MiBx$uploads${only_targets:+ targets=[$only_targets]}"
  if [[ $with_functions -eq 1 ]]; then
    echo "functions_host	WebJobs.Script.WebHost built by the fhost kit ($fhost_kit; host commit $(sed -n 's/^HOST_COMMIT=\${HOST_COMMIT:-\([0-9a-f]\{8\}\).*/\1/p' "$fhost_kit/build-host.sh")) in $fhost_webhost"
    cat "$work/func-builds.tsv"
  fi
} >"$results/machine.tsv"

# ------------------------------------------------------------------------------------------------------ backends
body='{"id":"chatcmpl-bench01","object":"chat.completion","created":1732700000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18},"system_fingerprint":"fp_bench000000000000000000000"}'
nginx_common="
worker_processes 1;
error_log $work/nginx-error.log warn;
events { worker_connections 8192; }"
nginx_http_common="
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fastcgi;
  uwsgi_temp_path $work/nginx-uwsgi;
  scgi_temp_path $work/nginx-scgi;"
cat >"$work/nginx-backend.conf" <<EOF
$nginx_common
pid $work/nginx-backend.pid;
http {
  $nginx_http_common
  server {
    listen 127.0.0.1:$port_backend1; listen 127.0.0.1:$port_backend2; listen 127.0.0.1:$port_backend3;
    location / { default_type application/json; return 200 '$body'; }
  }
}
EOF
cat >"$work/nginx-lb.conf" <<EOF
$nginx_common
pid $work/nginx-lb.pid;
http {
  $nginx_http_common
  upstream backends {
    server 127.0.0.1:$port_backend1; server 127.0.0.1:$port_backend2; server 127.0.0.1:$port_backend3;
    keepalive 128;
  }
  server {
    listen 127.0.0.1:$port_nginx;
    client_max_body_size 0;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF

chat="/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
upload_path="/openai/deployments/whisper/audio/transcriptions?api-version=2024-10-21"

start nginx-backend "$nginx_bin" -e "$work/nginx-error.log" -c "$work/nginx-backend.conf" -g 'daemon off;'
pid_backend=$started_pid
wait_ready nginx-backend "http://127.0.0.1:$port_backend1$chat" "$pid_backend"
[[ $(curl -s -X POST --data '{}' "http://127.0.0.1:$port_backend1$chat" | wc -c) -eq 339 ]] || die "the nginx backend does not answer the 339-byte body"

backends_csv="http://127.0.0.1:$port_backend1/,http://127.0.0.1:$port_backend2/,http://127.0.0.1:$port_backend3/"

# Azurite (in memory) for the Table variant and the Functions targets: the table service on its own, or blob, queue and
# table for the Functions host's storage. Azurite's well-known development account (public, documented).
pid_azurite=""
azurite_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
storage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$azurite_key;TableEndpoint=http://127.0.0.1:$port_azurite/devstoreaccount1"
func_storage="$storage;BlobEndpoint=http://127.0.0.1:$port_azurite_blob/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$port_azurite_queue/devstoreaccount1"
if [[ $with_table -eq 1 || $with_functions -eq 1 ]]; then
  if [[ $with_functions -eq 1 ]]; then
    start azurite "$repo/node_modules/.bin/azurite" --blobHost 127.0.0.1 --blobPort "$port_azurite_blob" --queueHost 127.0.0.1 \
      --queuePort "$port_azurite_queue" --tableHost 127.0.0.1 --tablePort "$port_azurite" --inMemoryPersistence \
      --disableTelemetry --skipApiVersionCheck --silent
  else
    azurite="$repo/node_modules/.bin/azurite-table"
    [[ -x "$azurite" ]] || die "--table needs Azurite: run 'npm ci' in $repo first"
    start azurite "$azurite" --tableHost 127.0.0.1 --tablePort "$port_azurite" --inMemoryPersistence --disableTelemetry \
      --skipApiVersionCheck --silent
  fi
  pid_azurite=$started_pid
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port_azurite") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/127.0.0.1/$port_azurite") 2>/dev/null || { cat "$work/azurite.log" >&2; die "Azurite did not start"; }
fi

# A Functions target: the host built by the fhost kit serving one published FunctionApp, set up as the kit's run-host.sh
# sets up a local run (Core Tools' environment) but with host.json's own log levels. Its own host id and proxy table,
# so that two builds side by side share nothing but Azurite. Sets $started_pid (the host) and $func_worker_pid, once the
# host answers a chat request through the worker.
# start_func <target> <port> <backend endpoint>...   (env: func_log, the log's name, default <target>; func_ready_path)
func_worker_pid=""
start_func() {
  local target=$1 port=$2; shift 2
  local -a env=(-u CONTAINER_NAME -C "$fhost_webhost")
  local i=0 table
  for endpoint in "$@"; do env+=("Proxy__Backends__${i}__Endpoint=$endpoint"); i=$((i + 1)); done
  table="bench${target//[^A-Za-z0-9]/}"
  env+=(AzureWebJobsScriptRoot="${func_site[$target]}" FUNCTIONS_WORKER_RUNTIME=dotnet-isolated
    AzureWebJobsStorage="$func_storage" ASPNETCORE_URLS="http://127.0.0.1:$port"
    AZURE_FUNCTIONS_ENVIRONMENT=Development ASPNETCORE_ENVIRONMENT=Development FUNCTIONS_CORETOOLS_ENVIRONMENT=true
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true DOTNET_ROLL_FORWARD=Major
    AzureFunctionsWebHost__hostid="bench-${target}" Proxy__State__TableName="$table")
  local name=${func_log:-$target}
  start "$name" env "${env[@]}" dotnet Microsoft.Azure.WebJobs.Script.WebHost.dll
  local host_pid=$started_pid
  wait_ready "$name" "http://127.0.0.1:$port${func_ready_path:-$chat}" "$host_pid"
  func_worker_pid=$(pgrep -P "$host_pid" -f 'FunctionApp.dll' | head -1 || true)
  [[ -n "$func_worker_pid" ]] || { cat "$work/$name.log" >&2; die "$target: no worker process (dotnet FunctionApp.dll) under the host"; }
  pids+=("$func_worker_pid")
  # The Table store must be what the proxy uses (a failing store falls back to local state): /proxy/status says.
  local status=""
  for _ in $(seq 100); do
    status=$(curl -s "http://127.0.0.1:$port/proxy/status" || true)
    [[ "$status" == *'"kind":"table"'* && "$status" == *'"shared":true'* ]] && break
    sleep 0.1
  done
  [[ "$status" == *'"kind":"table"'* && "$status" == *'"shared":true'* ]] || die "$target: the proxy's Table store is not in use: $status"
  started_pid=$host_pid
}
# Stops a Functions target: the host (which stops its worker), then the worker should it still run.
stop_func() { stop "$1"; [[ -n "${2:-}" ]] && stop "$2"; return 0; }

# Our host with default settings: only the backends (and, for the Table variant, the storage connection) are set.
# start_ours <name> <port> <storage connection or ""> <backend endpoint>... [-- <extra host arguments>...]
start_ours() {
  local name=$1 port=$2 storage=$3; shift 3
  local -a env=() extra=()
  local i=0
  while [[ $# -gt 0 ]]; do
    if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
    env+=("Proxy__Backends__${i}__Endpoint=$1")
    i=$((i + 1))
    shift
  done
  if [[ -n "$storage" ]]; then env+=("AzureWebJobsStorage=$storage"); fi
  start "$name" env "${env[@]}" dotnet "$work/ours/AoaiProxy.Server.dll" --urls "http://127.0.0.1:$port" "${extra[@]}"
}
start_yarp() {
  local name=$1 port=$2 destinations=$3; shift 3
  # Its appsettings.json is read from the content root, which is the working directory unless given. Further arguments
  # are environment variables (NAME=value).
  start "$name" env "$@" dotnet "$work/yarp/YarpProxy.dll" --contentRoot "$work/yarp" --urls "http://127.0.0.1:$port" --Destinations "$destinations"
}

# ----------------------------------------------------------------------------------------------- request/response
if [[ $do_wrk -eq 1 ]]; then
  # --targets: only those listed are started and measured.
  targets=()
  declare -A url pid_of worker_of
  url[direct]="http://127.0.0.1:$port_backend1$chat"
  wanted direct && targets+=(direct)
  if wanted nginx; then
    start nginx-lb "$nginx_bin" -e "$work/nginx-error.log" -c "$work/nginx-lb.conf" -g 'daemon off;'
    pid_of[nginx]=$started_pid url[nginx]="http://127.0.0.1:$port_nginx$chat"
    targets+=(nginx)
  fi
  if wanted yarp; then
    start_yarp yarp "$port_yarp" "$backends_csv"
    pid_of[yarp]=$started_pid url[yarp]="http://127.0.0.1:$port_yarp$chat"
    targets+=(yarp)
  fi
  if wanted ours; then
    start_ours ours "$port_ours" "" "http://127.0.0.1:$port_backend1/" "http://127.0.0.1:$port_backend2/" "http://127.0.0.1:$port_backend3/"
    pid_of[ours]=$started_pid url[ours]="http://127.0.0.1:$port_ours$chat"
    targets+=(ours)
  fi
  if [[ $with_old_logging -eq 1 ]] && wanted ours-old-logging; then
    # What a served request wrote before the production defaults: ASP.NET Core's request starting and finished lines and
    # the engine's attempt line (then Information, now Debug), to the console.
    start_ours ours-old-logging "$port_ours_old" "" "http://127.0.0.1:$port_backend1/" "http://127.0.0.1:$port_backend2/" "http://127.0.0.1:$port_backend3/" \
      -- --Logging:LogLevel:Microsoft.AspNetCore=Information --Logging:LogLevel:AoaiProxy=Debug
    pid_of[ours-old-logging]=$started_pid
    url[ours-old-logging]="http://127.0.0.1:$port_ours_old$chat"
    targets+=(ours-old-logging)
  fi
  if [[ $with_yarp_inline -eq 1 ]] && wanted yarp-inline; then
    # The same YARP with the runtime setting our host sets for itself (AoaiProxy.Server/SocketDefaults.cs): shows how much
    # of the difference is that setting.
    start_yarp yarp-inline "$port_yarp_inline" "$backends_csv" DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1
    pid_of[yarp-inline]=$started_pid
    url[yarp-inline]="http://127.0.0.1:$port_yarp_inline$chat"
    targets+=(yarp-inline)
  fi
  if [[ $with_table -eq 1 ]] && wanted ours-table; then
    start_ours ours-table "$port_ours_table" "$storage" "http://127.0.0.1:$port_backend1/" "http://127.0.0.1:$port_backend2/" "http://127.0.0.1:$port_backend3/"
    pid_of[ours-table]=$started_pid
    url[ours-table]="http://127.0.0.1:$port_ours_table$chat"
    targets+=(ours-table)
  fi
  fport=$port_func_base
  for t in "${func_targets[@]}"; do
    if wanted "$t"; then
      start_func "$t" "$fport" "http://127.0.0.1:$port_backend1/" "http://127.0.0.1:$port_backend2/" "http://127.0.0.1:$port_backend3/"
      pid_of[$t]=$started_pid worker_of[$t]=$func_worker_pid url[$t]="http://127.0.0.1:$fport$chat"
      targets+=("$t")
    fi
    fport=$((fport + 1))
  done
  [[ ${#targets[@]} -gt 0 ]] || die "--targets '$only_targets' names no target of this run"
  for t in "${targets[@]}"; do
    [[ $t == direct ]] && continue
    wait_ready "$t" "${url[$t]}" "${pid_of[$t]}"
  done
  if [[ -n "${pid_of[ours-table]:-}" ]]; then
    # The Table variant measures nothing unless the store is really in use (a failing store falls back to local state).
    for _ in $(seq 300); do grep -q 'Azure Table Storage .* is ready' "$work/ours-table.log" && break; sleep 0.1; done
    grep -q 'Azure Table Storage .* is ready' "$work/ours-table.log" || { cat "$work/ours-table.log" >&2; die "ours-table: the Table store did not become ready"; }
  fi

  # JIT tiering and connection pools: every target once under load before anything is measured. On one CPU, .NET's
  # tiered compilation (tier 0, then instrumented, then tier 1) needs 20-40 s of load before the hot path runs fully
  # optimized, YARP's as ours (seen with DOTNET_PerfMapEnabled=1: no tier-1 method before about 20 s of load); a shorter
  # warm-up measures the JIT, and whichever proxy happens to tier up first.
  log "warming up every target (${warmup} s each)"
  for t in "${targets[@]}"; do "${pin_load[@]}" wrk -t1 -c64 -d"${warmup}s" -s "$here/post.lua" "${url[$t]}" >/dev/null; done

  # Functions targets: cpu_us_per_req and rss_mib are host + worker; the *_host and *_worker columns split them.
  printf 'round\tconnections\ttarget\trps\tp50_ms\tp99_ms\tcpu_us_per_req\trss_mib\terrors\trequests\tcpu_host_us\tcpu_worker_us\trss_host_mib\trss_worker_mib\n' >"$results/wrk.tsv"
  for round in $(seq "$rounds"); do
    for c in $connections; do
      for t in "${targets[@]}"; do
        "${pin_load[@]}" wrk -t1 -c"$c" -d2s -s "$here/post.lua" "${url[$t]}" >/dev/null
        pid=${pid_of[$t]:-} wpid=${worker_of[$t]:-}
        before=0 before_w=0
        [[ -n "$pid" ]] && before=$(cpu_ticks "$pid")
        [[ -n "$wpid" ]] && before_w=$(cpu_ticks_one "$wpid")
        out=$("${pin_load[@]}" wrk -t1 -c"$c" -d"${duration}s" -s "$here/post.lua" "${url[$t]}")
        line=$(grep '^WRKRESULT' <<<"$out") || die "wrk printed no result for $t: $out"
        eval "$(sed 's/^WRKRESULT //' <<<"$line")"   # requests= duration_us= errors= p50_us= p99_us=
        [[ $requests -gt 0 ]] || die "no request completed through $t: $out"
        cpu_us=- rss=- cpu_host=- cpu_worker=- rss_host=- rss_worker=-
        if [[ -n "$pid" ]]; then
          after=$(cpu_ticks "$pid")
          cpu_us=$(ticks_to_us_per $((after - before)) "$requests")
          rss=$(kib_to_mib "$(rss_kib "$pid")")
        fi
        if [[ -n "$wpid" ]]; then
          kill -0 "$wpid" 2>/dev/null || die "$t: its worker $wpid is gone (the host restarted it?): see $work/$t.log"
          after_w=$(cpu_ticks_one "$wpid")
          cpu_worker=$(ticks_to_us_per $((after_w - before_w)) "$requests")
          cpu_host=$(ticks_to_us_per $((after - before - (after_w - before_w))) "$requests")
          rss_worker=$(kib_to_mib "$(rss_kib_one "$wpid")")
          rss_host=$(kib_to_mib "$(rss_kib_one "$pid")")
        fi
        rps=$(awk -v n="$requests" -v us="$duration_us" 'BEGIN {printf "%.0f", n * 1e6 / us}')
        p50=$(awk -v us="$p50_us" 'BEGIN {printf "%.2f", us / 1000}')
        p99=$(awk -v us="$p99_us" 'BEGIN {printf "%.2f", us / 1000}')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$t" "$rps" "$p50" "$p99" "$cpu_us" "$rss" "$errors" "$requests" \
          "$cpu_host" "$cpu_worker" "$rss_host" "$rss_worker" >>"$results/wrk.tsv"
        log "round $round, $c connections, $t: $rps req/s, p50 $p50 ms, p99 $p99 ms, CPU $cpu_us µs/request${wpid:+ (host $cpu_host, worker $cpu_worker)}, RSS $rss MiB, errors $errors"
      done
    done
  done
  echo "load_average_after_wrk	$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.tsv"
  # What each proxy wrote to its console over all of the runs above (start-up lines included).
  lines=""
  for t in yarp yarp-inline ours ours-old-logging ours-table "${func_targets[@]}"; do [[ -f "$work/$t.log" ]] && lines+="$t $(wc -l <"$work/$t.log"), "; done
  echo "console_log_lines_during_request_runs	${lines%, }" >>"$results/machine.tsv"
  for t in "${targets[@]}"; do
    [[ -n "${worker_of[$t]:-}" ]] || continue
    st=$(curl -s "${url[$t]%%/openai/*}/proxy/status" || true)
    if [[ "$st" == *'"shared":true'* ]]; then echo "table_store_$t	shared after the request runs" >>"$results/machine.tsv"
    else echo "table_store_$t	NOT shared after the request runs: $(head -c 300 <<<"$st")" >>"$results/machine.tsv"; fi
  done
  if [[ -n "${pid_of[ours-table]:-}" ]]; then
    if grep -q -E 'unavailable|did not answer|could not be initialized' "$work/ours-table.log"; then
      echo "table_store	OUTAGE during the run: the ours-table rows are partly per-instance state" >>"$results/machine.tsv"
    else
      echo "table_store	in use for the whole run (no outage logged)" >>"$results/machine.tsv"
    fi
  fi

  # Every answer was the backend's: nginx's 200 with the fixed body (errors above count non-2xx answers too).
  for t in "${targets[@]}"; do
    [[ $t == direct ]] && continue
    [[ $(curl -s -X POST -H 'api-key: bench' --data '{}' "${url[$t]}" | wc -c) -eq 339 ]] || die "$t did not relay the backend's body"
  done
  for t in "${targets[@]}"; do
    if [[ -n "${worker_of[$t]:-}" ]]; then stop_func "${pid_of[$t]}" "${worker_of[$t]}"
    elif [[ -n "${pid_of[$t]:-}" ]]; then stop "${pid_of[$t]}"; fi
  done
fi

# -------------------------------------------------------------------- streaming and upload: fresh proxy processes
if [[ $do_streaming -eq 1 || $do_upload -eq 1 ]]; then
  start node-backend node "$here/backend.mjs" "$port_node_backend" "$chunks" "$gap_ms"
  pid_node=$started_pid
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port_node_backend") 2>/dev/null && break; sleep 0.1; done
  node_url="http://127.0.0.1:$port_node_backend/"
fi

# Starts a fresh YARP, our host or a Functions target in front of the node backend; sets $fresh_pid, $fresh_worker
# (Functions targets: the worker; the host is $fresh_pid) and $fresh_url.
start_fresh() {
  local t=$1
  fresh_worker=""
  case $t in
    direct) fresh_pid="" fresh_url="http://127.0.0.1:$port_node_backend" ;;
    yarp) start_yarp yarp-fresh "$port_yarp2" "$node_url"; fresh_pid=$started_pid fresh_url="http://127.0.0.1:$port_yarp2" ;;
    ours) start_ours ours-fresh "$port_ours2" "" "$node_url"; fresh_pid=$started_pid fresh_url="http://127.0.0.1:$port_ours2" ;;
    func*)
      # Ready once an upload-path request (answered at once by backend.mjs) comes back through the worker.
      func_ready_path=$upload_path func_log=$t-fresh start_func "$t" "$port_func_base" "$node_url"
      fresh_pid=$started_pid fresh_worker=$func_worker_pid fresh_url="http://127.0.0.1:$port_func_base" ;;
  esac
  if [[ -n "$fresh_pid" ]]; then
    for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/${fresh_url##*:}") 2>/dev/null && break; sleep 0.1; done
    # One small upload and one short stream, so that start-up allocations are behind the baseline.
    curl -s -o /dev/null -X POST -H 'api-key: bench' --data 'x' "$fresh_url$upload_path" || true
  fi
}
stop_fresh() {
  if [[ -n "$fresh_worker" ]]; then stop_func "$fresh_pid" "$fresh_worker"; elif [[ -n "$fresh_pid" ]]; then stop "$fresh_pid"; fi
}

if [[ $do_streaming -eq 1 ]]; then
  stream_targets=()
  for t in direct yarp ours "${func_targets[@]}"; do wanted "$t" && stream_targets+=("$t"); done
  # Functions targets: cpu_s and peak_rss_mib are host + worker (sum of each one's peak); the *_host/*_worker columns split them.
  printf 'round\ttarget\tstreams\tcompleted\tp50_gap_ms\tp99_gap_ms\tmax_gap_ms\tseconds\tpeak_rss_mib\tcpu_s\tcpu_host_s\tcpu_worker_s\tpeak_rss_host_mib\tpeak_rss_worker_mib\n' >"$results/stream.tsv"
  for round in $(seq "$rounds"); do for n in $streams; do for t in "${stream_targets[@]}"; do
    start_fresh "$t"
    "${pin_load[@]}" node "$here/sse-client.mjs" "$fresh_url$chat" 10 "$chunks" >/dev/null   # warm-up: 10 streams
    before=0 before_w=0
    [[ -n "$fresh_pid" ]] && before=$(cpu_ticks "$fresh_pid")
    [[ -n "$fresh_worker" ]] && before_w=$(cpu_ticks_one "$fresh_worker")
    log "streaming, round $round: $n streams of $chunks chunks ${gap_ms} ms apart through $t"
    json=$("${pin_load[@]}" node "$here/sse-client.mjs" "$fresh_url$chat" "$n" "$chunks")
    peak=- cpu=- cpu_host=- cpu_worker=- peak_host=- peak_worker=-
    if [[ -n "$fresh_pid" ]]; then
      after=$(cpu_ticks "$fresh_pid")
      cpu=$(awk -v d=$((after - before)) -v hz="$clk_tck" 'BEGIN {printf "%.2f", d / hz}')
      peak=$(kib_to_mib "$(hwm_kib "$fresh_pid")")
      if [[ -n "$fresh_worker" ]]; then
        after_w=$(cpu_ticks_one "$fresh_worker")
        cpu_worker=$(awk -v d=$((after_w - before_w)) -v hz="$clk_tck" 'BEGIN {printf "%.2f", d / hz}')
        cpu_host=$(awk -v d=$((after - before - (after_w - before_w))) -v hz="$clk_tck" 'BEGIN {printf "%.2f", d / hz}')
        peak_host=$peak peak_worker=$(kib_to_mib "$(hwm_kib "$fresh_worker")")
        peak=$((peak_host + peak_worker))
      fi
      stop_fresh
    fi
    node -e 'const r = JSON.parse(process.argv[1]); console.log([process.argv[5], process.argv[2], r.streams, r.completed, r.p50GapMs, r.p99GapMs, r.maxGapMs, r.seconds, process.argv[3], process.argv[4], ...process.argv.slice(6)].join("\t")); if (r.failed) console.error("failures:", JSON.stringify(r.errors));' \
      "$json" "$t" "$peak" "$cpu" "$round" "$cpu_host" "$cpu_worker" "$peak_host" "$peak_worker" >>"$results/stream.tsv"
    log "  $(tail -1 "$results/stream.tsv" | tr '\t' ' ')"
  done; done; done
fi

if [[ $do_upload -eq 1 ]]; then
  head -c $((upload_mib * 1024 * 1024)) /dev/urandom >"$work/upload.bin"
  expected=$((upload_mib * 1024 * 1024))
  printf 'round\ttarget\tbody_mib\tuploads\tok\tmib_per_s\trss_before_mib\tgrowth_mib\n' >"$results/upload.tsv"
  for round in $(seq "$rounds"); do for t in direct yarp ours; do
    wanted "$t" || continue
    start_fresh "$t"
    log "upload, round $round: $uploads x $upload_mib MiB through $t"
    rss_before=0 sampler=""
    if [[ -n "$fresh_pid" ]]; then
      sleep 1
      rss_before=$(rss_kib "$fresh_pid")
      echo "$rss_before" >"$work/peak-rss"
      # Peak RSS while uploading, sampled every 20 ms on the load CPU.
      "${pin_load[@]}" bash -c 'max=0; while kill -0 '"$fresh_pid"' 2>/dev/null; do v=$(awk "/^VmRSS:/ {print \$2}" /proc/'"$fresh_pid"'/status 2>/dev/null || echo 0); if [ "${v:-0}" -gt "$max" ]; then max=$v; echo "$max" > '"$work/peak-rss"'; fi; sleep 0.02; done' &
      sampler=$!
      pids+=("$sampler")
    fi
    speeds=() ok=0
    for _ in $(seq "$uploads"); do
      res=$("${pin_load[@]}" curl -s -o "$work/upload-answer.json" -w '%{http_code} %{time_total}' -X POST -H 'Expect:' \
        -H 'Content-Type: application/octet-stream' -H 'api-key: bench' -T "$work/upload.bin" "$fresh_url$upload_path" || echo "000 0")
      read -r code seconds <<<"$res"
      if [[ "$code" == 200 ]] && grep -q "\"bytes\":$expected" "$work/upload-answer.json"; then
        ok=$((ok + 1))
        speeds+=("$(awk -v m="$upload_mib" -v s="$seconds" 'BEGIN {printf "%.1f", m / s}')")
      else
        log "  upload through $t answered $code: $(head -c 300 "$work/upload-answer.json")"
      fi
    done
    speed=$(printf '%s\n' "${speeds[@]:-0}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
    growth=- before_mib=-
    if [[ -n "$fresh_pid" ]]; then
      sleep 0.1
      stop "$sampler"
      peak=$(cat "$work/peak-rss")
      growth=$(awk -v p="$peak" -v b="$rss_before" 'BEGIN {printf "%.1f", (p - b) / 1024}')
      before_mib=$(awk -v b="$rss_before" 'BEGIN {printf "%.0f", b / 1024}')
      stop "$fresh_pid"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$t" "$upload_mib" "$uploads" "$ok" "$speed" "$before_mib" "$growth" >>"$results/upload.tsv"
    log "  $(tail -1 "$results/upload.tsv" | tr '\t' ' ')"
  done; done
fi

echo "load_average_end	$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.tsv"
{
  echo "## Run of $(awk -F'\t' '$1 == "date_utc" {print $2}' "$results/machine.tsv")"
  echo
  awk -F'\t' '{printf "- %s: %s\n", $1, $2}' "$results/machine.tsv"
  echo
  node "$here/summarize.mjs" "$results"
} >"$results/summary.md"
cat "$results/summary.md"
log "raw results and summary: $results"
