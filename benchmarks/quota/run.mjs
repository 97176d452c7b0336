// Throttling near the combined quota (issue 19): proxy variants side by side over quota-limited fake backends.
// See benchmarks/quota/README.md for what is measured and how to read it; `--help` for the options.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { loadavg, tmpdir, cpus } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { arrivals, clientFor, runBurst, runOpenLoop, ApiVersion, Deployment } from './load.mjs';
import { logSummary, percentile, runMetrics } from './metrics.mjs';
import { writeSummary } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

const usage = `usage: node benchmarks/quota/run.mjs [options]

  --variant NAME=SOURCE[:KEY=VALUE[,KEY=VALUE...]]   repeatable; default: head=HEAD
        SOURCE: a git ref of this repository (built from its tree into a temporary folder), a folder holding a
        published AoaiProxy.Server.dll, or a repository checkout (its AoaiProxy.Server is published, uncommitted
        changes included). KEY=VALUE: environment settings of that variant's proxies, e.g.
        Proxy__Throttling__MaxWaitSeconds=0 (today's proxy ignores settings it does not know).
  --loads 0.5,0.8,0.95,0.97,1.2  offered load as a fraction of the combined quota
  --seeds 1,2                one run per seed (arrivals, prompts, completion lengths)
  --windows aligned,staggered  backend windows aligned, or each offset by 1/3 of a window from the previous
  --duration 120             seconds of arrivals per run (then the client's retries drain)
  --window-ms 10000          the backends' rate-limit window (1000 also works)
  --stream-share 0.25        share of requests sent with stream: true
  --base-ms 100 --per-token-ms 0.3   backend latency: base + per completion token
  --burst 1000               requests at once on one instance while every backend is throttled (0: no burst)
  --drain-timeout 120        seconds to wait for the last requests after the arrivals
  --port-base 18400          uses 6 ports from there
  --resume FOLDER            add the runs missing from an interrupted run's results folder (same options)
  --quick                    loads 0.5,1.2, seed 1, aligned, 20 s, burst 200: checks the script, not the numbers`;

const { values: opts } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: ['head=HEAD'] },
    loads: { type: 'string', default: '0.5,0.8,0.95,0.97,1.2' },
    seeds: { type: 'string', default: '1,2' },
    windows: { type: 'string', default: 'aligned,staggered' },
    duration: { type: 'string', default: '120' },
    'window-ms': { type: 'string', default: '10000' },
    'stream-share': { type: 'string', default: '0.25' },
    'base-ms': { type: 'string', default: '100' },
    'per-token-ms': { type: 'string', default: '0.3' },
    burst: { type: 'string', default: '1000' },
    'drain-timeout': { type: 'string', default: '120' },
    'port-base': { type: 'string', default: '18400' },
    resume: { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(usage);
  process.exit(0);
}
if (opts.quick) Object.assign(opts, { loads: '0.5,1.2', seeds: '1', windows: 'aligned', duration: '20', burst: '200' });

const numbers = (text) => text.split(',').map(Number);
const settings = {
  loads: numbers(opts.loads),
  seeds: numbers(opts.seeds),
  windows: opts.windows.split(','),
  durationS: Number(opts.duration),
  windowMs: Number(opts['window-ms']),
  streamShare: Number(opts['stream-share']),
  baseMs: Number(opts['base-ms']),
  perTokenMs: Number(opts['per-token-ms']),
  burst: Number(opts.burst),
  drainTimeoutS: Number(opts['drain-timeout']),
};
for (const w of settings.windows) {
  if (w !== 'aligned' && w !== 'staggered') fail(`--windows: '${w}' is neither aligned nor staggered`);
}

/** The three deployments: 600k / 600k / 300k TPM, weighted 2 / 2 / 1 (round robin counts requests). */
const Backends = [
  { name: 'aoai-a', tpm: 600_000, weight: 2 },
  { name: 'aoai-b', tpm: 600_000, weight: 2 },
  { name: 'aoai-c', tpm: 300_000, weight: 1 },
];
const combinedTpm = Backends.reduce((sum, b) => sum + b.tpm, 0);
const Instances = 2;
const WarmupRequestsPerInstance = 20;

const portBase = Number(opts['port-base']);
const ports = {
  backends: Backends.map((_, i) => portBase + i),
  proxies: Array.from({ length: Instances }, (_, i) => portBase + Backends.length + i),
  azurite: portBase + Backends.length + Instances,
};

function log(message) {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}
function fail(message) {
  log(`ERROR: ${message}`);
  process.exit(1);
}

// ------------------------------------------------------------------------------------------------ processes
const children = new Set();
const work = mkdtempSync(join(tmpdir(), 'aoaiproxy-quota-'));
const results = opts.resume ? resolve(opts.resume) : join(here, 'results', new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z'));
mkdirSync(join(results, 'logs'), { recursive: true });

function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/** Starts a process whose output goes to results/logs/<name>.log. */
function start(name, command, args, env = process.env) {
  const logFile = join(results, 'logs', `${name}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  child.logFile = logFile;
  child.exited = new Promise((resolveExit) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolveExit(code ?? signal);
  }));
  children.add(child);
  return child;
}

async function stop(child) {
  if (!children.has(child)) return;
  child.kill('SIGTERM');
  if (await Promise.race([child.exited, sleep(10_000, 'timeout', { ref: false })]) === 'timeout') child.kill('SIGKILL');
  await child.exited;
}

async function waitFor(what, child, check, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!children.has(child)) fail(`${what} exited at start-up; see ${child.logFile}`);
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  fail(`${what} was not ready within ${timeoutMs / 1000} s; see ${child.logFile}`);
}

const listening = (port) => fetch(`http://127.0.0.1:${port}/`).then(() => true);

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** VmHWM (peak resident set) and VmRSS of a process, in MiB, and its CPU seconds (utime + stime). */
function processUse(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return { peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024, cpuS: (Number(stat[11]) + Number(stat[12])) / clockTicks };
}

// ------------------------------------------------------------------------------------------------ variants
/** NAME=SOURCE[:KEY=VALUE[,KEY=VALUE...]]; a git ref cannot hold ':', so the first one ends the source. */
function parseVariant(text) {
  const eq = text.indexOf('=');
  if (eq <= 0) fail(`--variant ${text}: expected NAME=SOURCE[:KEY=VALUE,...]`);
  const name = text.slice(0, eq);
  const rest = text.slice(eq + 1);
  const colon = rest.indexOf(':');
  const source = colon < 0 ? rest : rest.slice(0, colon);
  const env = {};
  for (const pair of colon < 0 ? [] : rest.slice(colon + 1).split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) fail(`--variant ${text}: setting '${pair}' is not KEY=VALUE`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return { name, source, env };
}

/** A child process like any other (stopped with the rest on Ctrl+C); no MSBuild or compiler server outlives it. */
async function publish(projectRoot, output, label) {
  log(`building ${label} (dotnet publish -c Release)`);
  const build = start(basename(output), 'dotnet', ['publish', join(projectRoot, 'AoaiProxy.Server/AoaiProxy.Server.csproj'),
    '-c', 'Release', '-o', output, '-nologo', '-v', 'q', '-nodeReuse:false', '-p:UseSharedCompilation=false'],
  { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' });
  if (await build.exited !== 0) fail(`build of ${label} failed:\n${readFileSync(build.logFile, 'utf8')}`);
  return output;
}

/** Builds each distinct source once; returns the folder holding its AoaiProxy.Server.dll and what it was. */
async function build(source, cache) {
  const folder = resolve(source);
  if (existsSync(join(folder, 'AoaiProxy.Server.dll'))) return { dir: folder, built: `folder ${folder}` };
  if (existsSync(join(folder, 'AoaiProxy.Server/AoaiProxy.Server.csproj'))) {
    if (!cache.has(folder)) cache.set(folder, await publish(folder, join(work, `build-${cache.size}`), `the checkout at ${folder}`));
    return { dir: cache.get(folder), built: `checkout ${folder}` };
  }
  let commit;
  try {
    commit = execFileSync('git', ['-C', repo, 'rev-parse', '--verify', '--quiet', `${source}^{commit}`], { encoding: 'utf8' }).trim();
  } catch {
    fail(`variant source '${source}' is neither a folder with AoaiProxy.Server.dll, a checkout, nor a git ref of ${repo}`);
  }
  if (!cache.has(commit)) {
    const tree = join(work, `src-${commit}`);
    mkdirSync(tree);
    execFileSync('sh', ['-c', `git -C "${repo}" archive "${commit}" | tar -x -C "${tree}"`]);
    cache.set(commit, await publish(tree, join(work, `build-${commit}`), `${source} (${commit.slice(0, 8)})`));
  }
  return { dir: cache.get(commit), built: `${source} = ${commit.slice(0, 12)}` };
}

// ------------------------------------------------------------------------------------------------ one setup
// Azurite's well-known development account (public, documented); its tables live only in that Azurite's memory.
const storage = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:${ports.azurite}/devstoreaccount1`;

/** The proxies must see only what a variant sets: none of the shell's Proxy__*, storage or logging settings. */
function baseEnv() {
  const env = { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' };
  for (const key of Object.keys(env)) {
    if (/^(Proxy__|AzureWebJobsStorage|Logging__|ASPNETCORE_|DOTNET_ENVIRONMENT$)/.test(key)) delete env[key];
  }
  return env;
}

/** Fresh Azurite, backends and proxies for one run, so that no cooldown, window or peak RSS carries over. */
async function startSetup(run, variant, windows, seed) {
  const azuriteBin = join(repo, 'node_modules/azurite/dist/src/table/main.js');
  if (!existsSync(azuriteBin)) fail(`Azurite is missing: run 'npm ci' in ${repo}`);
  const azurite = start(`${run}-azurite`, process.execPath, [azuriteBin, '--tableHost', '127.0.0.1', '--tablePort', String(ports.azurite),
    '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--silent']);
  const backends = Backends.map((b, i) => start(`${run}-${b.name}`, process.execPath, [join(here, 'backend.mjs'),
    '--port', String(ports.backends[i]), '--name', b.name, '--tpm', String(b.tpm), '--window-ms', String(settings.windowMs),
    '--offset-ms', String(windows === 'staggered' ? Math.round((i * settings.windowMs) / Backends.length) : 0),
    '--seed', String(seed * 100 + i), '--base-ms', String(settings.baseMs), '--per-token-ms', String(settings.perTokenMs)]));
  await waitFor('Azurite', azurite, () => listening(ports.azurite));
  for (const [i, b] of backends.entries()) await waitFor(Backends[i].name, b, () => listening(ports.backends[i]));

  const env = baseEnv();
  Backends.forEach((b, i) => {
    env[`Proxy__Backends__${i}__Endpoint`] = `http://127.0.0.1:${ports.backends[i]}/`;
    env[`Proxy__Backends__${i}__Weight`] = String(b.weight);
    env[`Proxy__Backends__${i}__Name`] = b.name;
  });
  env.AzureWebJobsStorage = storage;
  Object.assign(env, variant.env);
  const proxies = ports.proxies.map((port, i) => start(`${run}-proxy-${i + 1}`, 'dotnet',
    [join(variant.dir, 'AoaiProxy.Server.dll'), '--urls', `http://127.0.0.1:${port}`], env));
  // The store can be ready before Kestrel listens: both must be.
  for (const [i, p] of proxies.entries()) {
    await waitFor(`proxy ${i + 1}`, p, async () =>
      /Shared state store .* is ready/.test(readFileSync(p.logFile, 'utf8')) && await listening(ports.proxies[i]));
  }
  return { azurite, backends, proxies, all: [...proxies, ...backends, azurite] };
}

/** A few tiny requests per instance (JIT, connection pools, a first view of the shared state), then fresh counters. */
async function warmUp(setup) {
  for (const port of ports.proxies) {
    for (let i = 0; i < WarmupRequestsPerInstance; i++) {
      const response = await fetch(`http://127.0.0.1:${port}/openai/deployments/${Deployment}/chat/completions?api-version=${ApiVersion}`, {
        method: 'POST', headers: { 'api-key': 'bench', 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
      });
      await response.arrayBuffer();
      if (response.status !== 200) fail(`warm-up through proxy on port ${port} answered ${response.status}`);
    }
  }
  for (const port of ports.backends) await fetch(`http://127.0.0.1:${port}/stats/reset`, { method: 'POST' });
}

const backendStats = () => Promise.all(ports.backends.map((port) => fetch(`http://127.0.0.1:${port}/stats`).then((r) => r.json())));

function proxyReport(setup, started) {
  return setup.proxies.map((p, i) => {
    const use = processUse(p.pid);
    return { instance: i + 1, peakRssMiB: use.peakRssMiB, cpuS: use.cpuS - started[i].cpuS, logs: logSummary(readFileSync(p.logFile, 'utf8')) };
  });
}

/** The backends' per-window counts and each proxy's metrics (Prometheus text) at the end of a run, for a closer look. */
async function keepState(name, backends) {
  writeFileSync(join(results, `backends-${name}.json`), JSON.stringify(backends) + '\n');
  for (const [i, port] of ports.proxies.entries()) {
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch((error) => `# not available: ${error.message}\n`);
    writeFileSync(join(results, `metrics-${name}-proxy-${i + 1}.txt`), metrics);
  }
}

async function stopSetup(setup) {
  for (const child of setup.all) await stop(child);
}

function requestRows(name, records, t0) {
  const file = join(results, `requests-${name}.tsv`);
  const rows = ['id\tinstance\tat_ms\tlag_ms\tstream\tprompt_tokens\tmax_tokens\tstatus\tattempts\tlatency_ms\texchanges (status/retry-after-ms/x-proxy-attempts/backend @start ms)'];
  for (const r of records) {
    rows.push([r.id, r.instance + 1, r.atMs.toFixed(0), r.lagMs.toFixed(1), r.stream, r.promptTokens, r.maxTokens, r.status, r.exchanges.length,
      r.endMs === undefined ? '' : (r.endMs - r.startMs).toFixed(0),
      r.exchanges.map((e) => `${e.status ?? e.error}/${e.retryAfterMs ?? '-'}/${e.proxyAttempts ?? '-'}/${e.backend ?? '-'}@${(e.startMs - t0).toFixed(0)}`).join(' ')].join('\t'));
  }
  writeFileSync(file, rows.join('\n') + '\n');
}

// ------------------------------------------------------------------------------------------------ the runs
const loadRunName = (variant, load, windows, seed) => `${variant.name}-load${load}-${windows}-seed${seed}`;
const burstRunName = (variant) => `${variant.name}-burst${settings.burst}`;

async function loadRun(variant, load, windows, seed) {
  const name = loadRunName(variant, load, windows, seed);
  const setup = await startSetup(name, variant, windows, seed);
  await warmUp(setup);
  const started = setup.proxies.map((p) => processUse(p.pid));
  const { perSecond, list } = arrivals({ seed, load, combinedTpm, durationS: settings.durationS, streamShare: settings.streamShare });
  log(`${name}: ${list.length} requests at ${perSecond.toFixed(2)}/s over ${settings.durationS} s`);
  const loadAverage = loadavg()[0];
  const run = await runOpenLoop({ clients: ports.proxies.map((port) => clientFor(`http://127.0.0.1:${port}`)), plan: list, drainTimeoutS: settings.drainTimeoutS });
  const backends = await backendStats();
  const proxies = proxyReport(setup, started);
  await keepState(name, backends);
  await stopSetup(setup);
  requestRows(name, run.records, run.t0);
  const metrics = runMetrics({ ...run, timeOrigin: performance.timeOrigin, backends, combinedTpm, durationS: settings.durationS, proxies });
  return {
    kind: 'load', name, variant: variant.name, load, windows, seed, drained: run.drained, seconds: (run.endMs - run.t0) / 1000,
    loadAverageStart: loadAverage, loadAverageEnd: loadavg()[0], ...metrics,
  };
}

/**
 * Every backend's current window is used up just after it opened (aligned windows), then `count` requests arrive at
 * once on instance 1: the proxy learns of the throttling from the first 429s and must answer all of them.
 */
async function burstRun(variant) {
  const name = burstRunName(variant);
  const setup = await startSetup(name, variant, 'aligned', 1);
  await warmUp(setup);
  const before = processUse(setup.proxies[0].pid);
  const nextWindow = Math.ceil(Date.now() / settings.windowMs) * settings.windowMs;
  await sleep(nextWindow - Date.now() + 50);
  const spentUntil = await Promise.all(ports.backends.map((port) => fetch(`http://127.0.0.1:${port}/admin/spend`, { method: 'POST' }).then((r) => r.json())));
  log(`${name}: every backend throttled for ${((Math.min(...spentUntil.map((s) => s.until)) - Date.now()) / 1000).toFixed(1)} s; ${settings.burst} requests at once on instance 1`);
  const run = await runBurst({ client: clientFor(`http://127.0.0.1:${ports.proxies[0]}`), count: settings.burst, seed: 1 });
  const after = processUse(setup.proxies[0].pid);
  const backends = await backendStats();
  const logs = logSummary(readFileSync(setup.proxies[0].logFile, 'utf8'));
  await keepState(name, backends);
  await stopSetup(setup);
  requestRows(name, run.records, run.t0);
  const latencies = run.records.map((r) => r.endMs - r.startMs);
  const statuses = {};
  for (const r of run.records) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  return {
    kind: 'burst', name, variant: variant.name, requests: run.records.length,
    answered: run.records.filter((r) => typeof r.status === 'number').length, statuses,
    p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: Math.max(...latencies),
    rssBeforeMiB: before.rssMiB, peakRssMiB: after.peakRssMiB, cpuS: after.cpuS - before.cpuS,
    backendAdmitted: backends.reduce((s, b) => s + b.admittedRequests, 0), backend429: backends.reduce((s, b) => s + b.refused, 0),
    logs,
  };
}

const variants = opts.variant.map(parseVariant);
if (new Set(variants.map((v) => v.name)).size !== variants.length) fail('variant names must differ');
const builds = new Map();
for (const v of variants) Object.assign(v, await build(v.source, builds));

const machineFile = join(results, 'machine.json');
const machine = {
  date: new Date().toISOString(),
  cpu: `${cpus()[0]?.model} (${cpus().length} logical CPUs)`,
  node: process.version,
  dotnet: execFileSync('dotnet', ['--version'], { encoding: 'utf8' }).trim(),
  harnessCommit: execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(),
  loadAverageStart: loadavg(),
  settings: { ...settings, backends: Backends, instances: Instances },
  variants: variants.map(({ name, source, env, built }) => ({ name, source, env, built })),
};
const runsFile = join(results, 'runs.jsonl');
// A resumed run keeps the runs it has and the time they took; the machine's description is that of its start.
const done = new Set();
let minutesBefore = 0;
if (opts.resume && existsSync(runsFile)) {
  for (const line of readFileSync(runsFile, 'utf8').split('\n').filter(Boolean)) done.add(JSON.parse(line).name);
  const before = JSON.parse(readFileSync(machineFile, 'utf8'));
  minutesBefore = before.minutes ?? (Date.now() - Date.parse(before.date)) / 60_000;
  Object.assign(machine, { date: before.date, loadAverageStart: before.loadAverageStart, resumed: [...(before.resumed ?? []), new Date().toISOString()] });
  log(`resuming ${results}: ${done.size} runs done`);
}
writeFileSync(machineFile, JSON.stringify(machine, null, 2) + '\n');
const began = Date.now();
// Interleaved: the variants take turns at each scenario, so that drift in the machine's load hits all of them alike.
for (const seed of settings.seeds) {
  for (const windows of settings.windows) {
    for (const load of settings.loads) {
      for (const variant of variants) {
        if (done.has(loadRunName(variant, load, windows, seed))) continue;
        const result = await loadRun(variant, load, windows, seed);
        appendFileSync(runsFile, JSON.stringify(result) + '\n');
        log(`  served ${result.served?.toFixed(3) ?? '- (no whole window)'}, client 429s ${result.client429PerThousand.toFixed(0)}/1000, failed ${result.failed}/${result.requests}, ` +
          `backend 429s ${result.backend429PerServed?.toFixed(3)}/served, p50 ${(result.p50Ms / 1000).toFixed(2)} s, p99 ${(result.p99Ms / 1000).toFixed(2)} s, ` +
          `max lag ${result.maxLagMs.toFixed(0)} ms, load average ${result.loadAverageStart.toFixed(1)}`);
      }
    }
  }
}
if (settings.burst > 0) {
  for (const variant of variants) {
    if (done.has(burstRunName(variant))) continue;
    const result = await burstRun(variant);
    appendFileSync(runsFile, JSON.stringify(result) + '\n');
    log(`  answered ${result.answered}/${result.requests} ${JSON.stringify(result.statuses)}, peak RSS ${result.peakRssMiB.toFixed(0)} MiB (before ${result.rssBeforeMiB.toFixed(0)})`);
  }
}
machine.minutes = minutesBefore + (Date.now() - began) / 60_000;
machine.loadAverageEnd = loadavg();
writeFileSync(machineFile, JSON.stringify(machine, null, 2) + '\n');
const summary = writeSummary(results);
console.log(summary);
log(`raw results and summary: ${results}`);
