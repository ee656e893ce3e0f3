// The official openai SDK against mod_llmgw_quota. Run by t/quota_sdk.t with
// LLMGW_BASE_URL=http://127.0.0.1:PORT/q/v1. Prints "1..N", then one
// "ok - name" or "not ok - name: reason" line per check.
import OpenAI from 'openai';
import { assert } from './checks.mjs';

const baseURL = process.env.LLMGW_BASE_URL;
if (!baseURL) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const mk = (apiKey) => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const msgs = (text) => [{ role: 'user', content: text }];

function eq(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
async function caught(fn) {
  try { await fn(); } catch (e) { return e; }
  throw new Error('no error thrown');
}

const checks = [
  ['AuthenticationError for an unknown key', async () => {
    const e = await caught(() => mk('sk-q-wrong').chat.completions.create({ model: 'mock/echo', messages: msgs('x') }));
    assert(e instanceof OpenAI.AuthenticationError, `got ${e.constructor.name} (${e.status}: ${e.message})`);
    eq(e.status, 401, 'status');
    eq(e.code, 'invalid_api_key', 'code');
    eq(e.type, 'authentication_error', 'type');
    assert(UUID.test(e.requestID || ''), `requestID ${e.requestID}`);
  }],
  ['success with a gateway key exposes the rate-limit headers', async () => {
    const { data, response } = await mk('sk-q-sdk-ok').chat.completions
      .create({ model: 'mock/echo', messages: msgs('quota sdk') }).withResponse();
    eq(data.choices[0].message.content, 'quota sdk', 'content');
    eq(response.headers.get('x-ratelimit-limit-requests'), '1000', 'x-ratelimit-limit-requests');
    assert(/^\d+$/.test(response.headers.get('x-ratelimit-remaining-requests') || ''), 'remaining-requests');
    assert(/^\d+(m\d+)?s$|^\d+m\d+s$/.test(response.headers.get('x-ratelimit-reset-requests') || ''), 'reset-requests');
    eq(response.headers.get('x-quota-limit'), '1000', 'x-quota-limit');
  }],
  ['streaming with a gateway key', async () => {
    const s = await mk('sk-q-sdk-ok').chat.completions.create({ model: 'mock/echo', messages: msgs('stream quota'), stream: true });
    let text = '';
    for await (const c of s) text += (c.choices[0] && c.choices[0].delta.content) || '';
    eq(text, 'stream quota', 'text');
  }],
  ['RateLimitError past rpm, with retry-after and details', async () => {
    const c = mk('sk-q-sdk');
    await c.chat.completions.create({ model: 'mock/echo', messages: msgs('one') });
    const e = await caught(() => c.chat.completions.create({ model: 'mock/echo', messages: msgs('two') }));
    assert(e instanceof OpenAI.RateLimitError, `got ${e.constructor.name} (${e.status}: ${e.message})`);
    eq(e.status, 429, 'status');
    eq(e.code, 'rate_limit_exceeded', 'code');
    eq(e.type, 'rate_limit_error', 'type');
    const ra = Number(e.headers.get('retry-after'));
    assert(ra >= 1 && ra <= 60, `retry-after ${ra}`);
    eq(e.error.details.window, 'minute', 'details.window');
    eq(e.error.details.limit, 1, 'details.limit');
    eq(e.headers.get('x-ratelimit-remaining-requests'), '0', 'remaining 0');
  }],
  ['402 quota_exceeded is an APIError with status 402', async () => {
    const c = mk('sk-q-sdk-month');
    await c.chat.completions.create({ model: 'mock/echo', messages: msgs('one') });
    const e = await caught(() => c.chat.completions.create({ model: 'mock/echo', messages: msgs('two') }));
    assert(e instanceof OpenAI.APIError, `got ${e.constructor.name}`);
    assert(!(e instanceof OpenAI.RateLimitError), 'not a RateLimitError');
    eq(e.status, 402, 'status');
    eq(e.code, 'quota_exceeded', 'code');
    eq(e.type, 'insufficient_quota', 'type');
  }],
];

console.log(`1..${checks.length}`);
let failed = 0;
for (const [name, fn] of checks) {
  try { await fn(); console.log(`ok - ${name}`); }
  catch (e) { failed++; console.log(`not ok - ${name}: ${String(e && e.message || e).replace(/\n/g, ' ')}`); }
}
process.exit(failed ? 1 : 0);
