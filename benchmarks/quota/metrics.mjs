// What one run measured, from the load's records, the backends' /stats and the proxies' logs. Pure.

export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Tokens per second a backend admitted over its windows that lie wholly between `fromEpochMs` and `toEpochMs` (the
 * arrivals), so that the ramp at the start and the drain of retries at the end do not count. Null when no whole
 * window fits.
 */
export function servedTokensPerSecond(stats, fromEpochMs, toEpochMs) {
  const first = Math.ceil((fromEpochMs - stats.offsetMs) / stats.windowMs);
  const last = Math.floor((toEpochMs - stats.offsetMs) / stats.windowMs) - 1;
  if (last < first) return null;
  let tokens = 0;
  for (const w of stats.windows) {
    if (w.index >= first && w.index <= last) tokens += w.tokens;
  }
  return tokens / (((last - first + 1) * stats.windowMs) / 1000);
}

/** Console lines by level ("warn: Category[event]" is how the console logger starts an entry) and by event. */
export function logSummary(text) {
  const levels = {};
  const events = {};
  for (const match of text.matchAll(/^(trce|dbug|info|warn|fail|crit): ([^\s[]+)\[(\d+)\]/gm)) {
    levels[match[1]] = (levels[match[1]] ?? 0) + 1;
    const key = `${match[1]} ${match[2].split('.').pop()}[${match[3]}]`;
    events[key] = (events[key] ?? 0) + 1;
  }
  return { levels, events };
}

/**
 * The numbers of one run. `records` come from load.mjs (times in performance.now() milliseconds, `timeOrigin` maps
 * them to the epoch), `backends` are the /stats of each backend, `combinedTpm` the sum of their quotas.
 */
export function runMetrics({ records, t0, arrivalsEndMs, endMs, timeOrigin, backends, combinedTpm, durationS, proxies }) {
  const combinedPerSecond = combinedTpm / 60;
  const requests = records.length;
  const exchanges = records.flatMap((r) => r.exchanges);
  const client429 = exchanges.filter((e) => e.status === 429);
  const failed = records.filter((r) => r.status !== 200);
  const latencies = records.filter((r) => r.endMs !== undefined).map((r) => r.endMs - r.startMs);
  const fromEpoch = timeOrigin + t0;
  const toEpoch = timeOrigin + arrivalsEndMs;
  const perBackend = backends.map((b) => {
    const served = servedTokensPerSecond(b, fromEpoch, toEpoch);
    return { name: b.name, tpm: b.tpm, served: served === null ? null : served / (b.tpm / 60), admittedRequests: b.admittedRequests, refused: b.refused };
  });
  const servedSum = perBackend.every((b) => b.served !== null)
    ? backends.reduce((sum, b) => sum + servedTokensPerSecond(b, fromEpoch, toEpoch), 0) : null;
  const admitted = backends.reduce((sum, b) => sum + b.admittedRequests, 0);
  const refused = backends.reduce((sum, b) => sum + b.refused, 0);
  const offeredTokens = records.reduce((sum, r) => sum + r.promptTokens + r.maxTokens, 0);
  const minutes = (endMs - t0) / 60_000;

  // A client-visible 429 the proxy answered without asking any backend (every one cooling) or after backends refused.
  const fromCooldown = client429.filter((e) => e.proxyAttempts === '0').length;
  // A retry the client made after waiting what a 429 advised, and whether that retry was refused again.
  let retries = 0;
  let retriesRefused = 0;
  for (const r of records) {
    for (let i = 1; i < r.exchanges.length; i++) {
      if (r.exchanges[i - 1].status === 429) {
        retries++;
        if (r.exchanges[i].status === 429) retriesRefused++;
      }
    }
  }

  return {
    requests,
    offered: offeredTokens / durationS / combinedPerSecond,
    served: servedSum === null ? null : servedSum / combinedPerSecond,
    perBackend,
    client429: client429.length,
    client429PerThousand: (client429.length / requests) * 1000,
    client429FromCooldown: fromCooldown,
    retriesAfter429: retries,
    retriesAfter429Refused: retriesRefused,
    failed: failed.length,
    failedStatuses: countBy(failed.map((r) => String(r.status))),
    backend429PerServed: admitted === 0 ? null : refused / admitted,
    backend429: refused,
    backendAdmitted: admitted,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxLagMs: Math.max(0, ...records.map((r) => r.lagMs)),
    proxies: proxies.map((p) => ({
      ...p,
      warnPerMinute: (p.logs.levels.warn ?? 0) / minutes,
      infoPerMinute: (p.logs.levels.info ?? 0) / minutes,
    })),
  };
}

function countBy(values) {
  const counts = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
