-- wrk script for run.sh: a small chat completion request, and one machine-readable result line at the end.
wrk.method = "POST"
wrk.body = '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["api-key"] = "bench"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
