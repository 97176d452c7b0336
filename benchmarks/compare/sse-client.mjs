// Streaming load for run.sh: opens <streams> concurrent SSE requests (spread over the first second), counts the events
// of each and measures the gap between consecutive events as the client sees it.
//   node sse-client.mjs <url> <streams> <expectedChunks>
// Prints one JSON line: {streams, completed, failed, p50GapMs, p99GapMs, maxGapMs, seconds}.
import http from 'node:http';

const [url, streamsArg, chunksArg] = process.argv.slice(2);
const streams = Number(streamsArg);
const expected = Number(chunksArg);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const body = JSON.stringify({ messages: [{ role: 'user', content: 'Count to fifty.' }], stream: true });
const gaps = [];
let completed = 0;
let failed = 0;
const errors = new Map();
const started = process.hrtime.bigint();

function one() {
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'api-key': 'bench' },
    }, (res) => {
      let events = 0;
      let done = false;
      let last = 0n;
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (text) => {
        const now = process.hrtime.bigint();
        pending += text;
        let at;
        while ((at = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(0, at);
          pending = pending.slice(at + 2);
          if (event === 'data: [DONE]') { done = true; continue; }
          if (last !== 0n) gaps.push(Number(now - last) / 1e6);
          last = now;
          events++;
        }
      });
      res.on('end', () => {
        if (res.statusCode === 200 && done && events === expected) completed++;
        else { failed++; const k = `status ${res.statusCode}, ${events} events, done=${done}`; errors.set(k, (errors.get(k) ?? 0) + 1); }
        resolve();
      });
      res.on('error', (e) => { failed++; errors.set(e.code ?? e.message, (errors.get(e.code ?? e.message) ?? 0) + 1); resolve(); });
    });
    req.on('error', (e) => { failed++; errors.set(e.code ?? e.message, (errors.get(e.code ?? e.message) ?? 0) + 1); resolve(); });
    req.end(body);
  });
}

const all = [];
for (let i = 0; i < streams; i++) {
  all.push(one());
  if (i % 10 === 9) await new Promise((r) => setTimeout(r, 10));
}
await Promise.all(all);
gaps.sort((a, b) => a - b);
const pct = (p) => (gaps.length === 0 ? 0 : gaps[Math.min(gaps.length - 1, Math.floor((p / 100) * gaps.length))]);
console.log(JSON.stringify({
  streams, completed, failed,
  p50GapMs: +pct(50).toFixed(1), p99GapMs: +pct(99).toFixed(1), maxGapMs: +(gaps.at(-1) ?? 0).toFixed(1),
  seconds: +(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1),
  errors: Object.fromEntries(errors),
}));
