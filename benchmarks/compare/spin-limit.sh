#!/usr/bin/env bash
# Side-by-side: our standalone host as committed (UnfairSemaphoreSpinLimit=0 from its runtimeconfig) against the same
# build with the runtime's default spin limit restored through the environment (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit
# is parsed as HEX by the runtime: 46 = 70). wrk on CPU 0; nginx backends on CPU 1; the hosts either pinned to CPU 1
# (as benchmarks/compare/run.sh: ProcessorCount 1) or on both CPUs (ProcessorCount 2). Interleaved rounds.
# Not part of CI; numbers quoted in README.md (Runtime settings of the standalone host). Needs nginx, wrk, taskset, curl.
# Usage: benchmarks/compare/spin-limit.sh <mode: pinned|both> [rounds (2)] [seconds per run (6)] [port base (19400)]
set -euo pipefail
mode=$1 rounds=${2:-2} duration=${3:-6} p=${4:-19400}
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work=$(mktemp -d /tmp/aoaiproxy-spin.XXXXXX); chmod 755 "$work"
ours="$work/ours"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; sleep 1; for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
dotnet publish "$repo/AoaiProxy.Server/AoaiProxy.Server.csproj" -c Release -o "$ours" -nologo -v q >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; exit 1; }
clk=$(getconf CLK_TCK)
body='{"id":"chatcmpl-bench01","object":"chat.completion","created":1732700000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18},"system_fingerprint":"fp_bench000000000000000000000"}'
cat >"$work/nginx.conf" <<CONF
worker_processes 1; error_log $work/nginx-error.log warn; pid $work/nginx.pid;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 120s; client_body_temp_path $work/b; proxy_temp_path $work/p;
  fastcgi_temp_path $work/f; uwsgi_temp_path $work/u; scgi_temp_path $work/s;
  server { listen 127.0.0.1:$p; listen 127.0.0.1:$((p+1)); listen 127.0.0.1:$((p+2));
    location / { default_type application/json; return 200 '$body'; } } }
CONF
taskset -c 1 /usr/sbin/nginx -e "$work/nginx-error.log" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
pids+=($!)
if [[ $mode == pinned ]]; then pin=(taskset -c 1); else pin=(taskset -c 0,1); fi
start_host() { # name port extra-env...
  local name=$1 port=$2; shift 2
  "${pin[@]}" env "$@" Proxy__Backends__0__Endpoint=http://127.0.0.1:$p/ Proxy__Backends__1__Endpoint=http://127.0.0.1:$((p+1))/ \
    Proxy__Backends__2__Endpoint=http://127.0.0.1:$((p+2))/ dotnet "$ours/AoaiProxy.Server.dll" --urls "http://127.0.0.1:$port" >"$work/$name.log" 2>&1 &
  pids+=($!); echo $! >"$work/$name.pid"
}
start_host spin0 $((p+5))
start_host spin70 $((p+6)) DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=46
chat="/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
for port in $((p+5)) $((p+6)); do
  for _ in $(seq 300); do [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'api-key: bench' --data '{}' "http://127.0.0.1:$port$chat" || true) == 200 ]] && break; sleep 0.1; done
done
declare -A port_of=([spin0]=$((p+5)) [spin70]=$((p+6)))
ticks() { local f; f=$(sed 's/^.*) //' /proc/$1/stat); set -- $f; echo $(( ${12} + ${13} )); }
csw() { awk '/ctxt_switches/ {s+=$2} END {print s}' /proc/$1/task/*/status 2>/dev/null; }
for t in spin0 spin70; do taskset -c 0 wrk -t1 -c64 -d20s -s "$here/post.lua" "http://127.0.0.1:${port_of[$t]}$chat" >/dev/null; done
printf 'mode\tround\tconn\ttarget\trps\tp50_ms\tp99_ms\tcpu_us_per_req\tcsw_per_req\n'
for round in $(seq "$rounds"); do
  for c in 1 16 64; do
    for t in spin0 spin70; do
      pid=$(cat "$work/$t.pid")
      taskset -c 0 wrk -t1 -c$c -d2s -s "$here/post.lua" "http://127.0.0.1:${port_of[$t]}$chat" >/dev/null
      b=$(ticks $pid); bc=$(csw $pid)
      out=$(taskset -c 0 wrk -t1 -c$c -d${duration}s -s "$here/post.lua" "http://127.0.0.1:${port_of[$t]}$chat")
      a=$(ticks $pid); ac=$(csw $pid)
      eval "$(grep '^WRKRESULT' <<<"$out" | sed 's/^WRKRESULT //')"
      awk -v m=$mode -v r=$round -v c=$c -v t=$t -v n=$requests -v us=$duration_us -v p50=$p50_us -v p99=$p99_us -v d=$((a-b)) -v hz=$clk -v cs=$((ac-bc)) -v e=$errors \
        'BEGIN {printf "%s\t%s\t%s\t%s\t%.0f\t%.3f\t%.3f\t%.1f\t%.2f%s\n", m, r, c, t, n*1e6/us, p50/1000, p99/1000, d*1e6/hz/n, cs/n, (e>0?"\terrors="e:"")}'
    done
  done
done
