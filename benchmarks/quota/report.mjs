// The markdown summary of a results folder of run.mjs (machine.json, runs.jsonl); also rerunnable on its own:
//   node benchmarks/quota/report.mjs benchmarks/quota/results/<time>
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const fixed = (digits) => (v) => (v === null || v === undefined ? '-' : v.toFixed(digits));
const seconds = (ms) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(2));

/** "a-b" over the runs (or "a" when they agree), formatted by `format`. */
function range(values, format) {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return '-';
  const lo = format(Math.min(...present));
  const hi = format(Math.max(...present));
  return lo === hi ? lo : `${lo}-${hi}`;
}

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function overview(loads) {
  const groups = new Map();
  for (const r of loads) {
    const key = `${r.variant}\t${r.load}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const rows = [...groups.values()].map((runs) => [
    runs[0].variant, runs[0].load, runs.length,
    range(runs.map((r) => r.offered), fixed(3)),
    range(runs.map((r) => r.served), fixed(3)),
    range(runs.map((r) => r.client429PerThousand), fixed(0)),
    runs.map((r) => `${r.failed}/${r.requests}`).join(', '),
    range(runs.map((r) => r.backend429PerServed), fixed(3)),
    range(runs.map((r) => r.p50Ms), seconds),
    range(runs.map((r) => r.p99Ms), seconds),
    range(runs.flatMap((r) => r.proxies.map((p) => p.peakRssMiB)), fixed(0)),
    range(runs.flatMap((r) => r.proxies.map((p) => p.warnPerMinute)), fixed(0)),
  ]);
  return table(['variant', 'offered load', 'runs', 'offered (realized)', 'served (x combined)', 'client 429s per 1,000',
    'failed after retries', 'backend 429s per served', 'p50 s', 'p99 s', 'peak RSS MiB (each proxy)', 'Warning lines/min (each proxy)'], rows);
}

function details(loads) {
  const rows = loads.map((r) => [
    r.variant, r.load, r.windows, r.seed, r.requests, fixed(3)(r.offered), fixed(3)(r.served),
    r.perBackend.map((b) => fixed(2)(b.served)).join(' / '),
    `${fixed(0)(r.client429PerThousand)} (${r.client429FromCooldown} of ${r.client429})`,
    `${r.retriesAfter429Refused}/${r.retriesAfter429}`,
    `${r.failed}${Object.keys(r.failedStatuses).length ? ' ' + JSON.stringify(r.failedStatuses).replace(/"/g, '') : ''}`,
    fixed(3)(r.backend429PerServed), seconds(r.p50Ms), seconds(r.p99Ms),
    r.proxies.map((p) => fixed(0)(p.peakRssMiB)).join(' / '), r.proxies.map((p) => fixed(1)(p.cpuS)).join(' / '),
    r.proxies.map((p) => `${fixed(0)(p.warnPerMinute)}+${fixed(0)(p.infoPerMinute)}`).join(' / '),
    fixed(0)(r.maxLagMs), `${fixed(1)(r.loadAverageStart)}-${fixed(1)(r.loadAverageEnd)}${r.drained ? '' : ' NOT DRAINED'}`,
  ]);
  return table(['variant', 'load', 'windows', 'seed', 'requests', 'offered', 'served', 'served per backend (x own quota)',
    'client 429s/1,000 (from cooldown of all)', 'retries after a 429 refused again', 'failed', 'backend 429s/served', 'p50 s', 'p99 s',
    'peak RSS MiB', 'CPU s', 'Warning+Information lines/min', 'max send lag ms', 'load average'], rows);
}

function bursts(list) {
  const rows = list.map((r) => [
    r.variant, r.requests, `${r.answered}${r.answered === r.requests ? ' (all)' : ''}`, JSON.stringify(r.statuses).replace(/"/g, ''),
    seconds(r.p50Ms), seconds(r.p99Ms), seconds(r.maxMs), fixed(0)(r.rssBeforeMiB), fixed(0)(r.peakRssMiB), fixed(1)(r.cpuS),
    `${r.backendAdmitted} / ${r.backend429}`, `${r.logs.levels.warn ?? 0} / ${r.logs.levels.info ?? 0}`,
  ]);
  return table(['variant', 'requests', 'answered', 'statuses', 'p50 s', 'p99 s', 'max s', 'RSS before MiB', 'peak RSS MiB', 'CPU s',
    'backends admitted / 429', 'Warning / Information lines'], rows);
}

function logEvents(loads) {
  const groups = new Map();
  for (const r of loads) {
    const key = `${r.variant} at ${r.load}`;
    const events = groups.get(key) ?? {};
    for (const p of r.proxies) {
      for (const [event, n] of Object.entries(p.logs.events)) events[event] = (events[event] ?? 0) + n;
    }
    groups.set(key, events);
  }
  return [...groups.entries()].map(([key, events]) =>
    `- ${key}: ${Object.entries(events).sort((a, b) => b[1] - a[1]).map(([e, n]) => `${e} ${n}`).join(', ')}`).join('\n');
}

export function writeSummary(folder) {
  const machine = JSON.parse(readFileSync(join(folder, 'machine.json'), 'utf8'));
  const runs = readFileSync(join(folder, 'runs.jsonl'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const loads = runs.filter((r) => r.kind === 'load');
  const burstRuns = runs.filter((r) => r.kind === 'burst');
  const s = machine.settings;
  const text = [
    `## Throttling near the combined quota: run of ${machine.date}`,
    '',
    `- machine: ${machine.cpu}; Node.js ${machine.node}; .NET SDK ${machine.dotnet}; harness at commit ${machine.harnessCommit}; ` +
      `load average ${machine.loadAverageStart.map(fixed(1)).join(' ')} at the start, ${machine.loadAverageEnd?.map(fixed(1)).join(' ') ?? '-'} at the end; ` +
      `${fixed(0)(machine.minutes)} minutes`,
    `- variants: ${machine.variants.map((v) => `${v.name} (${v.built}${Object.keys(v.env).length ? '; ' + Object.entries(v.env).map(([k, val]) => `${k}=${val}`).join(', ') : ''})`).join('; ')}`,
    `- backends: ${s.backends.map((b) => `${b.name} ${b.tpm / 1000}k TPM weight ${b.weight}`).join(', ')}; windows of ${s.windowMs} ms; ` +
      `latency ${s.baseMs} ms + ${s.perTokenMs} ms per completion token; ${s.instances} proxy instances sharing Azurite`,
    `- load: ${s.durationS} s of Poisson arrivals per run, seeds ${s.seeds.join(', ')}, windows ${s.windows.join(' and ')}, ` +
      `${s.streamShare * 100}% streamed; AzureOpenAI client (openai npm) with its default retries`,
    '',
    '### Per variant and offered load (ranges over seeds and window alignments)',
    '',
    overview(loads),
    '',
    '### Every run',
    '',
    details(loads),
    '',
    ...(burstRuns.length ? ['### Burst: requests at once on one instance while every backend is throttled (no client retries)', '', bursts(burstRuns), ''] : []),
    '### What the proxies logged (both instances, all runs of the row)',
    '',
    logEvents(loads),
    '',
  ].join('\n');
  writeFileSync(join(folder, 'summary.md'), text);
  return text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv[2]) {
    console.error('usage: node benchmarks/quota/report.mjs <results folder>');
    process.exit(2);
  }
  console.log(writeSummary(process.argv[2]));
}
