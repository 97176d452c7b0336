// The load of benchmarks/quota/run.mjs: chat requests through the real `openai` package's AzureOpenAI client, with its
// default retries (2, honouring retry-after-ms), and a fetch that records every HTTP exchange the client makes, so that
// the 429s it retried are counted as well as the ones it gave up on.
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { AzureOpenAI } from 'openai';
import { exponential, mulberry32, uniformInt } from './random.mjs';

export const ApiVersion = '2024-10-21';
export const Deployment = 'gpt-4o-mini';

/** Request shapes (tokens; a prompt token is 4 characters): uniform in these ranges. */
export const PromptTokens = [300, 4000];
export const MaxTokens = [100, 1000];
const CharactersPerToken = 4;

/** The mean estimate of a request as Azure charges it (prompt tokens + max_tokens), for the arrival rate. */
export const MeanEstimatedTokens = (PromptTokens[0] + PromptTokens[1]) / 2 + (MaxTokens[0] + MaxTokens[1]) / 2;

const exchangeOf = new AsyncLocalStorage();

/** The client's fetch, recording each exchange in the calling request's record (found through its async context). */
async function recordingFetch(url, init) {
  const record = exchangeOf.getStore();
  const exchange = { startMs: performance.now(), headersMs: null, status: null, retryAfterMs: null, proxyAttempts: null, backend: null, error: null };
  record?.exchanges.push(exchange);
  try {
    const response = await fetch(url, init);
    exchange.headersMs = performance.now();
    exchange.status = response.status;
    exchange.retryAfterMs = response.headers.get('retry-after-ms');
    exchange.proxyAttempts = response.headers.get('x-proxy-attempts');
    exchange.backend = response.headers.get('x-proxy-backend');
    return response;
  } catch (error) {
    exchange.error = error?.cause?.code ?? error?.name ?? 'fetch failed';
    throw error;
  }
}

export function clientFor(url) {
  return new AzureOpenAI({ endpoint: url, apiKey: 'bench', apiVersion: ApiVersion, deployment: Deployment, fetch: recordingFetch });
}

const filler = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore ';
function promptOf(tokens) {
  const chars = tokens * CharactersPerToken;
  return filler.repeat(Math.ceil(chars / filler.length)).slice(0, chars);
}

/**
 * The seeded arrivals of one run: when (ms from the start), how large, streamed or not. Poisson gaps and uniform sizes,
 * drawn until the run's estimated tokens reach exactly `load` x the combined quota over `durationS`, and then the time
 * axis stretched or shrunk to `durationS`: the seed shapes the bursts, not the load (a 120 s Poisson draw alone is
 * often 3-7% off, which near the quota decides everything).
 */
export function arrivals({ seed, load, combinedTpm, durationS, streamShare }) {
  const random = mulberry32(seed);
  const meanGapMs = 1000 / ((load * combinedTpm) / 60 / MeanEstimatedTokens);
  const budget = (load * combinedTpm * durationS) / 60;
  const list = [];
  let tokens = 0;
  let at = exponential(random, meanGapMs);
  for (;;) {
    const arrival = {
      id: list.length,
      atMs: at,
      promptTokens: uniformInt(random, PromptTokens[0], PromptTokens[1]),
      maxTokens: uniformInt(random, MaxTokens[0], MaxTokens[1]),
      stream: random() < streamShare,
    };
    tokens += arrival.promptTokens + arrival.maxTokens;
    if (tokens > budget) break;
    list.push(arrival);
    at += exponential(random, meanGapMs);
  }
  // `at` is now when the first arrival past the budget would have come: that instant becomes the run's end.
  const scale = (durationS * 1000) / at;
  for (const arrival of list) arrival.atMs *= scale;
  return { perSecond: list.length / durationS, list };
}

/** Sends one request through `client` and fills `record` (status, exchanges, latency). */
async function send(client, arrival, record, options = {}) {
  const body = {
    model: Deployment,
    messages: [{ role: 'user', content: promptOf(arrival.promptTokens) }],
    max_tokens: arrival.maxTokens,
  };
  record.startMs = performance.now();
  await exchangeOf.run(record, async () => {
    try {
      if (arrival.stream) {
        const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, options);
        let usage = null;
        for await (const chunk of stream) usage = chunk.usage ?? usage;
        record.status = usage ? 200 : 'incomplete stream';
      } else {
        const completion = await client.chat.completions.create(body, options);
        record.status = completion.usage ? 200 : 'no usage';
      }
    } catch (error) {
      record.status = error?.status ?? error?.constructor?.name ?? 'error';
    }
  });
  record.endMs = performance.now();
}

/**
 * Open loop: every arrival is sent at its time whatever the earlier ones are doing, alternately through each client.
 * Resolves when every request has ended (served, or failed after the client's retries) or `drainTimeoutS` after the
 * last arrival. `lagMs` of a record is how late it was sent (a busy machine shows here first).
 */
export async function runOpenLoop({ clients, plan, drainTimeoutS }) {
  const records = [];
  const pending = [];
  const t0 = performance.now();
  for (const arrival of plan) {
    const due = t0 + arrival.atMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const record = { ...arrival, instance: arrival.id % clients.length, lagMs: performance.now() - due, exchanges: [], status: null };
    records.push(record);
    pending.push(send(clients[record.instance], arrival, record));
  }
  const arrivalsEndMs = performance.now();
  const drained = await Promise.race([Promise.all(pending).then(() => true), sleep(drainTimeoutS * 1000, false, { ref: false })]);
  return { t0, arrivalsEndMs, endMs: performance.now(), drained, records };
}

/** `count` requests at once through one client, without the client's retries: what the proxy itself answers. */
export async function runBurst({ client, count, seed }) {
  const random = mulberry32(seed);
  const records = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: count }, (_, id) => {
    const arrival = { id, atMs: 0, promptTokens: uniformInt(random, PromptTokens[0], PromptTokens[1]), maxTokens: uniformInt(random, MaxTokens[0], MaxTokens[1]), stream: false };
    const record = { ...arrival, instance: 0, lagMs: 0, exchanges: [], status: null };
    records.push(record);
    return send(client, arrival, record, { maxRetries: 0 });
  }));
  return { t0, endMs: performance.now(), records };
}
