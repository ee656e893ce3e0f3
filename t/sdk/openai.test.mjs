// The official openai SDK against llmgw. Run by t/sdk_openai.t with
// LLMGW_BASE_URL=http://127.0.0.1:PORT/v1. Prints "1..N", then one
// "ok - name" or "not ok - name: reason" line per check.
import OpenAI from 'openai';
import { assert, runChecks } from './checks.mjs';

const baseURL = process.env.LLMGW_BASE_URL;
if (!baseURL) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const client = new OpenAI({ baseURL, apiKey: 'sk-client-gateway-key', maxRetries: 0, timeout: 20000 });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const msgs = (text) => [{ role: 'user', content: text }];

function eq(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// Expects the call to reject with an instance of cls (and status).
async function rejects(fn, cls, status, extra) {
  let err;
  try { await fn(); } catch (e) { err = e; }
  assert(err, `no error thrown (expected ${cls.name})`);
  assert(err instanceof cls, `got ${err.constructor.name} (${err.status}: ${err.message}), want ${cls.name}`);
  if (status) eq(err.status, status, 'status');
  assert(err.error && typeof err.error === 'object', 'err.error is the envelope error object');
  assert(typeof err.message === 'string' && err.message.length > 0, 'message');
  assert(UUID.test(err.requestID || ''), `err.requestID (x-request-id) is a UUID: ${err.requestID}`);
  if (extra) extra(err);
}

const checks = [
  ['chat non-stream', async () => {
    const r = await client.chat.completions.create({ model: 'mock/echo', messages: msgs('hello sdk') });
    eq(r.object, 'chat.completion', 'object');
    eq(r.choices[0].message.content, 'hello sdk', 'content');
    eq(r.choices[0].finish_reason, 'stop', 'finish_reason');
    assert(r.usage && r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0, 'usage');
  }],
  ['chat non-stream response headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'fast', messages: msgs('headers') }).withResponse();
    eq(data.choices[0].message.content, 'headers', 'content');
    assert(UUID.test(response.headers.get('x-request-id') || ''), 'x-request-id UUID');
    eq(response.headers.get('x-llmgw'), 'route=mock:echo; cache=none; attempts=1', 'x-llmgw');
    eq(response.headers.get('x-provider'), 'mock', 'x-provider');
  }],
  ['chat stream', async () => {
    const s = await client.chat.completions.create({ model: 'mock/echo', messages: msgs('stream me please'), stream: true });
    let text = '', finish = null, role = null, n = 0;
    for await (const c of s) {
      n++;
      const ch = c.choices[0];
      if (!ch) continue;
      if (ch.delta.role && role === null) role = ch.delta.role;
      text += ch.delta.content || '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    assert(n >= 3, `chunks: ${n}`);
    eq(role, 'assistant', 'role');
    eq(text, 'stream me please', 'text');
    eq(finish, 'stop', 'finish_reason');
  }],
  ['chat stream include_usage', async () => {
    const s = await client.chat.completions.create({
      model: 'mock/echo', messages: msgs('usage please'), stream: true, stream_options: { include_usage: true } });
    let usage = null, text = '';
    for await (const c of s) {
      if (c.usage) usage = c.usage;
      if (c.choices[0]) text += c.choices[0].delta.content || '';
    }
    eq(text, 'usage please', 'text');
    assert(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0, `usage chunk: ${JSON.stringify(usage)}`);
  }],
  ['chat.completions.stream finalChatCompletion', async () => {
    const runner = client.chat.completions.stream({ model: 'mock/echo', messages: msgs('final answer') });
    const final = await runner.finalChatCompletion();
    eq(final.choices[0].message.content, 'final answer', 'content');
    eq(final.choices[0].finish_reason, 'stop', 'finish_reason');
  }],
  ['chat.completions.stream fixture with tool calls', async () => {
    const runner = client.chat.completions.stream({ model: 'mock/fixture-test_parse_pydantic_tool', messages: msgs('x') });
    const final = await runner.finalChatCompletion();
    const tc = final.choices[0].message.tool_calls;
    assert(Array.isArray(tc) && tc.length === 1, 'one tool call');
    eq(tc[0].function.name, 'GetWeatherArgs', 'tool name');
    assert(JSON.parse(tc[0].function.arguments).city, 'arguments JSON with city');
    eq(final.choices[0].finish_reason, 'tool_calls', 'finish_reason');
  }],
  ['stream error mid-stream surfaces as an error', async () => {
    const s = await client.chat.completions.create({ model: 'mock/drop', messages: msgs('will be cut'), stream: true });
    let err = null;
    try { for await (const _ of s) { /* drain */ } } catch (e) { err = e; }
    assert(err, 'iteration ended without an error');
  }],
  ['error 400 -> BadRequestError', () => rejects(
    () => client.chat.completions.create({ model: 'mock/error-400', messages: msgs('x') }),
    OpenAI.BadRequestError, 400, (e) => assert(/mock error 400/.test(e.message), `message: ${e.message}`))],
  ['unknown provider -> BadRequestError', async () => {
    let err;
    try { await client.chat.completions.create({ model: 'nope/x', messages: msgs('x') }); } catch (e) { err = e; }
    assert(err, 'no error');
    // SPEC: 400, or 404 model_not_found
    const ok = err instanceof OpenAI.BadRequestError
      || (err instanceof OpenAI.NotFoundError && err.code === 'model_not_found');
    assert(ok, `got ${err.constructor.name} ${err.status} code ${err.code}`);
  }],
  ['missing messages -> BadRequestError', () => rejects(
    () => client.chat.completions.create({ model: 'mock/echo' }), OpenAI.BadRequestError, 400,
    (e) => eq(e.type, 'invalid_request_error', 'type'))],
  ['error 401 -> AuthenticationError', () => rejects(
    () => client.chat.completions.create({ model: 'mock/error-401', messages: msgs('x') }),
    OpenAI.AuthenticationError, 401)],
  ['error 404 -> NotFoundError', () => rejects(
    () => client.chat.completions.create({ model: 'mock/error-404', messages: msgs('x') }),
    OpenAI.NotFoundError, 404)],
  ['error 429 -> RateLimitError', () => rejects(
    () => client.chat.completions.create({ model: 'mock/error-429', messages: msgs('x') }),
    OpenAI.RateLimitError, 429, (e) => {
      eq(e.type, 'rate_limit_error', 'type');
      assert(e.headers && e.headers.get('retry-after'), 'retry-after header');
    })],
  ['upstream 500 -> InternalServerError 502', () => rejects(
    () => client.chat.completions.create({ model: 'mock/error-500', messages: msgs('x') }),
    OpenAI.InternalServerError, 502, (e) => eq(e.type, 'provider_error', 'type'))],
  ['upstream hang -> InternalServerError 504', () => rejects(
    () => client.chat.completions.create({ model: 'mock/hang', messages: msgs('x') }),
    OpenAI.InternalServerError, 504, (e) => eq(e.type, 'timeout_error', 'type'))],
  ['error stream request -> RateLimitError', () => rejects(
    () => client.chat.completions.create({ model: 'mock/error-429', messages: msgs('x'), stream: true }),
    OpenAI.RateLimitError, 429)],
  ['embeddings.create (SDK default base64)', async () => {
    const r = await client.embeddings.create({ model: 'mock/x', input: ['one', 'two'] });
    eq(r.data.length, 2, 'two embeddings');
    assert(Array.isArray(r.data[0].embedding) && r.data[0].embedding.length > 0, 'vector');
    assert(r.data[0].embedding.every((x) => typeof x === 'number' && Number.isFinite(x)), 'numbers');
  }],
  ['embeddings.create float', async () => {
    const r = await client.embeddings.create({ model: 'mock/x', input: 'one', encoding_format: 'float' });
    assert(r.data[0].embedding.length > 0, 'vector');
  }],
  ['models.list', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert(ids.includes('mock/echo') && ids.includes('mock/inspect'), `ids: ${ids.join(',')}`);
  }],
  ['models.retrieve with a provider/model id (%2F in the path)', async () => {
    const m = await client.models.retrieve('mock/echo');
    eq(m.id, 'mock/echo', 'id');
    eq(m.object, 'model', 'object');
    eq(m.owned_by, 'mock', 'owned_by');
  }],
  ['models.retrieve of an unknown model -> NotFoundError', () => rejects(
    () => client.models.retrieve('mock/no-such-model'), OpenAI.NotFoundError, 404,
    (e) => eq(e.code, 'model_not_found', 'code'))],
  ['images.generate', async () => {
    const r = await client.images.generate({ model: 'mock/x', prompt: 'a cat' });
    assert(r.data && r.data[0] && /^https:/.test(r.data[0].url), 'url');
  }],
];

await runChecks(checks);
