// Summary of one run of run.sh: medians over the interleaved rounds, ratios against YARP and nginx.
//   node summarize.mjs <results directory>
// Reads wrk.tsv, stream.tsv and upload.tsv (written by run.sh) and prints markdown tables.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const read = (name) => {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) return [];
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const keys = header.split('\t');
  return lines.filter((l) => l.length > 0).map((l) => Object.fromEntries(l.split('\t').map((v, i) => [keys[i], v])));
};
const median = (values) => {
  const v = values.map(Number).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? (a / b).toFixed(2) : '-');
const out = [];

const labels = {
  direct: 'direct to one nginx backend (no proxy)',
  nginx: 'nginx round robin',
  yarp: 'minimal YARP 2.3.0 round-robin proxy',
  'yarp-inline': 'minimal YARP 2.3.0, DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 (as our host sets it)',
  ours: 'our standalone host, default settings (in-memory state)',
  'ours-table': 'our standalone host, default settings, Table store on Azurite',
  'ours-old-logging': 'our standalone host, log levels before this change (request lines + attempt line)',
  func: 'our FunctionApp (this checkout) under the Functions host, Table store on Azurite',
};
const label = (t) => labels[t] ?? (t.startsWith('func-') ? `our FunctionApp of ${t.slice(5)} under the Functions host` : t);
const isFunc = (t) => t === 'func' || t.startsWith('func-');

const wrk = read('wrk.tsv');
if (wrk.length > 0) {
  const rounds = new Set(wrk.map((r) => r.round)).size;
  const targets = [...new Set(wrk.map((r) => r.target))];
  const conns = [...new Set(wrk.map((r) => r.connections))];
  const med = {};
  for (const c of conns) {
    for (const t of targets) {
      const rows = wrk.filter((r) => r.target === t && r.connections === c);
      med[`${t}/${c}`] = {
        rps: median(rows.map((r) => r.rps)), p50: median(rows.map((r) => r.p50_ms)), p99: median(rows.map((r) => r.p99_ms)),
        cpu: median(rows.map((r) => r.cpu_us_per_req)), rss: median(rows.map((r) => r.rss_mib)),
        cpuHost: median(rows.map((r) => r.cpu_host_us)), cpuWorker: median(rows.map((r) => r.cpu_worker_us)),
        rssHost: median(rows.map((r) => r.rss_host_mib)), rssWorker: median(rows.map((r) => r.rss_worker_mib)),
        errors: rows.reduce((s, r) => s + Number(r.errors), 0),
      };
    }
  }

  out.push(`### Request/response (medians of ${rounds} interleaved rounds)`, '');
  out.push('| target | connections | req/s | p50 ms | p99 ms | proxy CPU µs/request | proxy RSS MiB | errors |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of conns) {
    for (const t of targets) {
      const m = med[`${t}/${c}`];
      out.push(`| ${label(t)} | ${c} | ${fmt(m.rps)} | ${fmt(m.p50, 2)} | ${fmt(m.p99, 2)} | ${t === 'direct' ? '-' : fmt(m.cpu, 1)} | ${t === 'direct' ? '-' : fmt(m.rss, 0)} | ${m.errors} |`);
    }
  }

  const funcs = targets.filter(isFunc);
  if (funcs.length > 0) {
    out.push('', '### The Functions path: host and worker (medians; CPU µs per request, RSS at the end of the run)', '');
    out.push('| target | connections | req/s | p50 ms | p99 ms | CPU total | CPU host | CPU worker | RSS host MiB | RSS worker MiB |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of conns) {
      for (const t of funcs) {
        const m = med[`${t}/${c}`];
        out.push(`| ${t} | ${c} | ${fmt(m.rps)} | ${fmt(m.p50, 2)} | ${fmt(m.p99, 2)} | ${fmt(m.cpu, 1)} | ${fmt(m.cpuHost, 1)} | ${fmt(m.cpuWorker, 1)} | ${fmt(m.rssHost)} | ${fmt(m.rssWorker)} |`);
      }
    }
    const direct = (c) => med[`direct/${c}`]?.p50;
    if (conns.some((c) => Number.isFinite(direct(c)))) {
      out.push('', 'p50 added over direct calls (ms):', '');
      out.push('| target | ' + conns.map((c) => `${c} conn.`).join(' | ') + ' |');
      out.push('|---|' + conns.map(() => '---:').join('|') + '|');
      for (const t of targets.filter((x) => x !== 'direct')) {
        out.push(`| ${t} | ` + conns.map((c) => fmt(med[`${t}/${c}`].p50 - direct(c), 2)).join(' | ') + ' |');
      }
    }
    // Per-round ratios of the same round (interleaved, so drift cancels), then their median.
    const paired = (t, base, c, key) => {
      const rows = wrk.filter((r) => r.connections === c);
      const ratios = [...new Set(rows.map((r) => r.round))].map((round) => {
        const a = rows.find((r) => r.round === round && r.target === t);
        const b = rows.find((r) => r.round === round && r.target === base);
        return a && b ? Number(a[key]) / Number(b[key]) : NaN;
      });
      return median(ratios);
    };
    for (const base of funcs.filter((t) => t !== 'func')) {
      if (!funcs.includes('func')) break;
      out.push('', `func / ${base} (median of the per-round ratios; below 1: func costs less):`, '');
      out.push('| connections | req/s | CPU total | CPU host | CPU worker | p99 |');
      out.push('|---:|---:|---:|---:|---:|---:|');
      for (const c of conns) {
        const r = (key) => { const v = paired('func', base, c, key); return Number.isFinite(v) ? v.toFixed(2) : '-'; };
        out.push(`| ${c} | ${r('rps')} | ${r('cpu_us_per_req')} | ${r('cpu_host_us')} | ${r('cpu_worker_us')} | ${r('p99_ms')} |`);
      }
    }
    if (med[`ours/${conns[0]}`]) {
      out.push('', 'Functions path / standalone host (ours), CPU per request:', '');
      out.push('| target | ' + conns.map((c) => `${c} conn.`).join(' | ') + ' |');
      out.push('|---|' + conns.map(() => '---:').join('|') + '|');
      for (const t of funcs) out.push(`| ${t} | ` + conns.map((c) => ratio(med[`${t}/${c}`].cpu, med[`ours/${c}`]?.cpu)).join(' | ') + ' |');
    }
  }

  if (targets.includes('yarp')) {
  out.push('', '### Ratios (ours / peer; req/s higher is better, CPU and p99 lower is better)', '');
  out.push('| ours | connections | req/s vs YARP | CPU/request vs YARP | p99 vs YARP | RSS vs YARP | req/s vs nginx |');
  out.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const c of conns) {
    for (const t of targets.filter((x) => x.startsWith('ours'))) {
      const m = med[`${t}/${c}`];
      const y = med[`yarp/${c}`] ?? {};
      const n = med[`nginx/${c}`] ?? {};
      out.push(`| ${t} | ${c} | ${ratio(m.rps, y.rps)} | ${ratio(m.cpu, y.cpu)} | ${ratio(m.p99, y.p99)} | ${ratio(m.rss, y.rss)} | ${ratio(m.rps, n.rps)} |`);
    }
  }
  }
  out.push('');
  if (targets.includes('yarp-inline')) {
    out.push('Against YARP with the same socket setting as our host (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1):', '');
    out.push('| ours | connections | req/s | CPU/request | p99 |');
    out.push('|---|---:|---:|---:|---:|');
    for (const c of conns) {
      for (const t of targets.filter((x) => x.startsWith('ours'))) {
        const m = med[`${t}/${c}`];
        const y = med[`yarp-inline/${c}`] ?? {};
        out.push(`| ${t} | ${c} | ${ratio(m.rps, y.rps)} | ${ratio(m.cpu, y.cpu)} | ${ratio(m.p99, y.p99)} |`);
      }
    }
    out.push('');
  }
}

const stream = read('stream.tsv');
const byTarget = (rows) => [...new Set(rows.map((r) => r.target))].map((t) => [t, rows.filter((r) => r.target === t)]);
if (stream.length > 0) {
  const rounds = new Set(stream.map((r) => r.round)).size;
  const counts = [...new Set(stream.map((r) => r.streams))];
  out.push(`### Streaming (server-sent events through one fresh instance; medians of ${rounds} interleaved rounds)`, '');
  out.push('| target | streams | completed (all rounds) | p50 gap ms | p99 gap ms | max gap ms | wall s | peak RSS MiB | CPU s | CPU ms per stream | CPU s host / worker | peak RSS MiB host / worker |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const med = {};
  const notes = [];
  for (const n of counts) {
    for (const [t, rows] of byTarget(stream.filter((r) => r.streams === n))) {
      const m = med[`${t}/${n}`] = {
        completed: rows.reduce((s, r) => s + Number(r.completed), 0), streams: rows.reduce((s, r) => s + Number(r.streams), 0),
        p50: median(rows.map((r) => r.p50_gap_ms)), p99: median(rows.map((r) => r.p99_gap_ms)), max: median(rows.map((r) => r.max_gap_ms)),
        seconds: median(rows.map((r) => r.seconds)), rss: median(rows.map((r) => r.peak_rss_mib)), cpu: median(rows.map((r) => r.cpu_s)),
        cpuHost: median(rows.map((r) => r.cpu_host_s)), cpuWorker: median(rows.map((r) => r.cpu_worker_s)),
        rssHost: median(rows.map((r) => r.peak_rss_host_mib)), rssWorker: median(rows.map((r) => r.peak_rss_worker_mib)),
      };
      const split = isFunc(t) ? `${fmt(m.cpuHost, 2)} / ${fmt(m.cpuWorker, 2)}` : '-';
      const rssSplit = isFunc(t) ? `${fmt(m.rssHost)} / ${fmt(m.rssWorker)}` : '-';
      out.push(`| ${t} | ${n} | ${m.completed}/${m.streams} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} | ${fmt(m.max, 1)} | ${fmt(m.seconds, 1)} | ${fmt(m.rss)} | ${fmt(m.cpu, 2)} | ${fmt(m.cpu * 1000 / Number(n), 1)} | ${split} | ${rssSplit} |`);
    }
    if (med[`ours/${n}`] && med[`yarp/${n}`]) {
      notes.push(`Ours / YARP at ${n} streams: peak RSS ${ratio(med[`ours/${n}`].rss, med[`yarp/${n}`].rss)}, CPU ${ratio(med[`ours/${n}`].cpu, med[`yarp/${n}`].cpu)}, p99 gap ${ratio(med[`ours/${n}`].p99, med[`yarp/${n}`].p99)}.`);
    }
  }
  if (notes.length > 0) out.push('', ...notes);
  out.push('');
}

const upload = read('upload.tsv');
if (upload.length > 0) {
  const rounds = new Set(upload.map((r) => r.round)).size;
  out.push(`### Upload (one body at a time through one fresh instance; medians of ${rounds} interleaved rounds)`, '');
  out.push('| target | body MiB | uploads ok (all rounds) | MiB/s | RSS before MiB | peak RSS growth MiB |');
  out.push('|---|---:|---:|---:|---:|---:|');
  const med = {};
  for (const [t, rows] of byTarget(upload)) {
    const m = med[t] = {
      body: rows[0].body_mib, ok: rows.reduce((s, r) => s + Number(r.ok), 0), uploads: rows.reduce((s, r) => s + Number(r.uploads), 0),
      speed: median(rows.map((r) => r.mib_per_s)), before: median(rows.map((r) => r.rss_before_mib)), growth: median(rows.map((r) => r.growth_mib)),
    };
    out.push(`| ${t} | ${m.body} | ${m.ok}/${m.uploads} | ${fmt(m.speed, 1)} | ${fmt(m.before)} | ${fmt(m.growth, 1)} |`);
  }
  if (med.ours && med.yarp) {
    out.push('', `Ours / YARP: throughput ${ratio(med.ours.speed, med.yarp.speed)}, memory growth ${fmt(med.ours.growth, 1)} vs ${fmt(med.yarp.growth, 1)} MiB.`);
  }
  out.push('');
}

console.log(out.join('\n'));
