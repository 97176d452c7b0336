// A fake Azure OpenAI standard deployment with its quota (quota.mjs), for benchmarks/quota/run.mjs.
//
//   node backend.mjs --port 18401 [--name b1] [--tpm 600000] [--window-ms 10000] [--offset-ms 0] [--seed 1]
//                    [--base-ms 100] [--per-token-ms 0.3]
//
// POST /openai/deployments/{d}/chat/completions and POST /openai/v1/chat/completions (with "model"): admitted requests
// answer a chat completion after base-ms + per-token-ms x its completion tokens (a seeded random fraction of
// max_tokens), as JSON or, with "stream": true, as server-sent events (a usage chunk with stream_options.include_usage,
// as Azure does); refused ones answer 429 at once with retry-after-ms (to the window's end), Retry-After (whole seconds,
// rounded up) and Azure's error JSON. Every answer carries x-ratelimit-remaining-tokens and -requests: what the current
// window has left after this request. A caller without api-key or Authorization gets 401.
// GET /stats: this backend's limits and what it admitted and refused, in total and per window (JSON).
// POST /stats/reset: starts the counters of /stats afresh (the quota itself is untouched).
// POST /admin/spend: uses up the current window (answers {"until": <epoch ms of its end>}).
import http from 'node:http';
import { parseArgs } from 'node:util';
import { QuotaWindows, estimateTokens, maxTokensOf, promptCharacters } from './quota.mjs';
import { mulberry32 } from './random.mjs';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    name: { type: 'string', default: 'backend' },
    tpm: { type: 'string', default: '600000' },
    'window-ms': { type: 'string', default: '10000' },
    'offset-ms': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    'base-ms': { type: 'string', default: '100' },
    'per-token-ms': { type: 'string', default: '0.3' },
  },
});
if (!args.port) {
  console.error('usage: node backend.mjs --port N [--name S] [--tpm N] [--window-ms N] [--offset-ms N] [--seed N] [--base-ms N] [--per-token-ms N]');
  process.exit(2);
}

const name = args.name;
const tpm = Number(args.tpm);
const quota = new QuotaWindows({ tpm, windowMs: Number(args['window-ms']), offsetMs: Number(args['offset-ms']) });
const random = mulberry32(Number(args.seed));
const baseMs = Number(args['base-ms']);
const perTokenMs = Number(args['per-token-ms']);

/** Tokens per server-sent event of a streamed answer. */
const TokensPerChunk = 20;

const DeploymentPath = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/;
const V1Path = '/openai/v1/chat/completions';

let counters = freshCounters();
function freshCounters() {
  return { since: Date.now(), admittedTokens: 0, admittedRequests: 0, completionTokens: 0, refused: 0, windows: new Map() };
}

function count(decision, tokens, completionTokens) {
  let w = counters.windows.get(decision.window);
  if (!w) {
    w = { index: decision.window, start: quota.windowStart(decision.window), tokens: 0, requests: 0, refused: 0 };
    counters.windows.set(decision.window, w);
  }
  if (decision.admitted) {
    counters.admittedTokens += tokens;
    counters.admittedRequests += 1;
    counters.completionTokens += completionTokens;
    w.tokens += tokens;
    w.requests += 1;
  } else {
    counters.refused += 1;
    w.refused += 1;
  }
}

function stats() {
  return {
    name, tpm, windowMs: quota.windowMs, offsetMs: quota.offsetMs, tokenLimit: quota.tokenLimit, requestLimit: quota.requestLimit,
    since: counters.since, admittedTokens: counters.admittedTokens, admittedRequests: counters.admittedRequests,
    completionTokens: counters.completionTokens, refused: counters.refused,
    windows: [...counters.windows.values()].sort((a, b) => a.index - b.index),
  };
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const azureError = (code, message) => ({ error: { code, message } });

function completion(model, promptTokens, completionTokens, content) {
  return {
    id: 'chatcmpl-quota', object: 'chat.completion', created: Math.floor(Date.now() / 1000), model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

function chunk(model, delta, finishReason, usage) {
  return 'data: ' + JSON.stringify({
    id: 'chatcmpl-quota', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model,
    choices: usage ? [] : [{ index: 0, delta, finish_reason: finishReason }],
    ...(usage ? { usage } : {}),
  }) + '\n\n';
}

function answer(res, body, model, rateHeaders) {
  const promptTokens = Math.ceil(promptCharacters(body) / 4);
  const completionTokens = Math.round(random() * maxTokensOf(body));
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (body.stream !== true) {
    setTimeout(() => sendJson(res, 200, completion(model, promptTokens, completionTokens, 'word '.repeat(completionTokens)), rateHeaders),
      baseMs + perTokenMs * completionTokens);
    return completionTokens;
  }

  setTimeout(() => {
    if (res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', ...rateHeaders });
    res.write(chunk(model, { role: 'assistant', content: '' }, null));
    let sent = 0;
    const next = () => {
      if (res.destroyed) return;
      if (sent < completionTokens) {
        const n = Math.min(TokensPerChunk, completionTokens - sent);
        sent += n;
        res.write(chunk(model, { content: 'word '.repeat(n) }, null));
        setTimeout(next, perTokenMs * n);
        return;
      }
      res.write(chunk(model, {}, 'stop'));
      if (body.stream_options?.include_usage === true) res.write(chunk(model, null, null, usage));
      res.end('data: [DONE]\n\n');
    };
    next();
  }, baseMs);
  return completionTokens;
}

function chat(req, res, deployment, raw) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    sendJson(res, 400, azureError('BadRequest', 'The request body is not valid JSON.'));
    return;
  }
  const model = deployment ?? body?.model;
  if (typeof model !== 'string' || model.length === 0) {
    sendJson(res, 400, azureError('BadRequest', "The v1 API needs 'model' in the body."));
    return;
  }

  const tokens = estimateTokens(body);
  const decision = quota.admit(tokens, Date.now());
  const rateHeaders = {
    'x-ratelimit-remaining-tokens': String(decision.remainingTokens),
    'x-ratelimit-remaining-requests': String(decision.remainingRequests),
  };
  if (!decision.admitted) {
    count(decision, tokens, 0);
    const seconds = Math.ceil(decision.retryAfterMs / 1000);
    sendJson(res, 429, azureError('429',
      `Requests to the ChatCompletions_Create Operation have exceeded the rate limit of deployment '${model}' ` +
      `(${tpm} tokens per minute, estimated ${tokens} tokens). Please retry after ${seconds} seconds.`),
    { ...rateHeaders, 'retry-after-ms': String(decision.retryAfterMs), 'Retry-After': String(seconds) });
    return;
  }
  count(decision, tokens, answer(res, body, model, rateHeaders));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://backend');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && url.pathname === '/stats') return sendJson(res, 200, stats());
    if (req.method === 'POST' && url.pathname === '/stats/reset') {
      counters = freshCounters();
      return sendJson(res, 200, stats());
    }
    if (req.method === 'POST' && url.pathname === '/admin/spend') return sendJson(res, 200, { until: quota.spend(Date.now()) });

    const deployment = DeploymentPath.exec(url.pathname)?.[1];
    if (req.method !== 'POST' || (deployment === undefined && url.pathname !== V1Path)) {
      return sendJson(res, 404, azureError('404', 'Resource not found'));
    }
    if (!req.headers['api-key'] && !req.headers.authorization) {
      return sendJson(res, 401, azureError('401', 'Access denied due to missing subscription key.'));
    }
    chat(req, res, deployment === undefined ? undefined : decodeURIComponent(deployment), Buffer.concat(chunks).toString('utf8'));
  });
});
server.keepAliveTimeout = 120_000;
server.requestTimeout = 0;
server.listen(Number(args.port), '127.0.0.1', 4096, () => console.log(`${name} listening on 127.0.0.1:${args.port}`));
