// Azure OpenAI's quota for one standard deployment, as Microsoft's quota documentation describes it: a request's tokens
// are estimated when it arrives (prompt characters / 4 plus max_tokens), and the TPM and RPM limits are enforced over
// short windows (10 s or 1 s) that each hold their share of the per-minute limits. RPM is 6 per 1,000 TPM.
// Pure apart from the counters it keeps: every function takes `now` (milliseconds since the epoch).

/** What a request is charged when it names neither max_tokens nor max_completion_tokens (an assumption: Azure does
 * not document it; 4,096 is the completion limit of many chat models). */
export const DefaultMaxTokens = 4096;

export const RequestsPerMinutePerThousandTokens = 6;

const CharactersPerToken = 4;

/** Prompt characters of a chat body: every message's text content (a string, or the text parts of a content list). */
export function promptCharacters(body) {
  let chars = 0;
  for (const message of Array.isArray(body?.messages) ? body.messages : []) {
    const content = message?.content;
    if (typeof content === 'string') {
      chars += content.length;
    } else if (Array.isArray(content)) {
      for (const part of content) {
        if (typeof part?.text === 'string') chars += part.text.length;
      }
    }
  }
  return chars;
}

/** The completion limit a body asks for: max_tokens, else max_completion_tokens, else DefaultMaxTokens. */
export function maxTokensOf(body) {
  for (const value of [body?.max_tokens, body?.max_completion_tokens]) {
    if (Number.isInteger(value) && value >= 0) return value;
  }
  return DefaultMaxTokens;
}

/** The tokens a request is charged at admission. */
export function estimateTokens(body) {
  return Math.ceil(promptCharacters(body) / CharactersPerToken) + maxTokensOf(body);
}

/**
 * One deployment's windows. `offsetMs` shifts this backend's window boundaries (staggered windows); windows are counted
 * from the epoch so that backends in different processes with the same offset are aligned.
 */
export class QuotaWindows {
  constructor({ tpm, windowMs, offsetMs = 0 }) {
    this.windowMs = windowMs;
    this.offsetMs = offsetMs;
    // At least one of each, so that a small quota over short windows still serves something.
    this.tokenLimit = Math.max(1, Math.floor((tpm * windowMs) / 60_000));
    this.requestLimit = Math.max(1, Math.floor((tpm / 1000) * RequestsPerMinutePerThousandTokens * windowMs / 60_000));
    this.index = -1;
    this.tokens = 0;
    this.requests = 0;
  }

  windowIndex(now) {
    return Math.floor((now - this.offsetMs) / this.windowMs);
  }

  windowStart(index) {
    return index * this.windowMs + this.offsetMs;
  }

  #roll(now) {
    const index = this.windowIndex(now);
    if (index !== this.index) {
      this.index = index;
      this.tokens = 0;
      this.requests = 0;
    }
  }

  /**
   * Admits (and charges) a request estimated at `tokens`, or refuses it. `remaining*` are what is left in the current
   * window after this decision; `retryAfterMs` (refusals only) is the time to the window's end.
   */
  admit(tokens, now) {
    this.#roll(now);
    const admitted = this.tokens + tokens <= this.tokenLimit && this.requests + 1 <= this.requestLimit;
    if (admitted) {
      this.tokens += tokens;
      this.requests += 1;
    }
    return {
      admitted,
      window: this.index,
      remainingTokens: this.tokenLimit - this.tokens,
      remainingRequests: this.requestLimit - this.requests,
      retryAfterMs: admitted ? 0 : this.windowStart(this.index + 1) - now,
    };
  }

  /** Uses up the current window (the burst scenario's "every backend is throttled"); returns when it ends. */
  spend(now) {
    this.#roll(now);
    this.tokens = this.tokenLimit;
    this.requests = this.requestLimit;
    return this.windowStart(this.index + 1);
  }
}
