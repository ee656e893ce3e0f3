// The official openai SDK over translated providers (issue 3): streams from
// the Anthropic and Gemini mocks and from recorded fixtures through
// `chat.completions.stream(...).finalChatCompletion()` (which rejects a
// stream without role, finish_reason or complete tool-call deltas), strict
// tools auto-parsed, usage chunks, the mid-stream error event and native
// errors as SDK error classes. Run by t/sdk_translate.t with
// LLMGW_BASE_URL=http://127.0.0.1:PORT/v1. Prints "1..N", then one
// "ok - name" or "not ok - name: reason" line per check.
import OpenAI from 'openai';
import { assert, eq, runChecks } from './checks.mjs';

const baseURL = process.env.LLMGW_BASE_URL;
if (!baseURL) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const client = new OpenAI({ baseURL, apiKey: 'sk-client-gateway-key', maxRetries: 0, timeout: 20000 });
const msgs = (text) => [{ role: 'user', content: text }];
const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'Current weather of a city', strict: true,
    parameters: { type: 'object', properties: { location: { type: 'string' } },
                  required: ['location'], additionalProperties: false },
  },
};


async function final(model, extra = {}) {
  const runner = client.chat.completions.stream({ model, messages: msgs(extra.text ?? 'weather in Paris?'), ...extra.body });
  return runner.finalChatCompletion();
}

// A tool-call answer: one call, its id, name and arguments, finish tool_calls.
function toolAnswer(fc, { id, name = 'get_weather', args, text, parsed }) {
  const ch = fc.choices[0];
  eq(ch.finish_reason, 'tool_calls', 'finish_reason');
  const tc = ch.message.tool_calls;
  assert(Array.isArray(tc) && tc.length === 1, `one tool call: ${JSON.stringify(tc)}`);
  if (id instanceof RegExp) assert(id.test(tc[0].id), `id ${tc[0].id}`);
  else eq(tc[0].id, id, 'tool call id');
  eq(tc[0].type, 'function', 'type');
  eq(tc[0].function.name, name, 'name');
  eq(JSON.parse(tc[0].function.arguments), args, 'arguments');
  if (parsed) eq(tc[0].function.parsed_arguments, args, 'parsed_arguments (strict tool)');
  if (text !== undefined) eq(ch.message.content, text, 'content');
}

async function rejects(fn, cls, status, extra) {
  let err;
  try { await fn(); } catch (e) { err = e; }
  assert(err, `no error thrown (expected ${cls.name})`);
  assert(err instanceof cls, `got ${err.constructor.name} (${err.status}: ${err.message}), want ${cls.name}`);
  if (status) eq(err.status, status, 'status');
  if (extra) extra(err);
}

async function drainError(model) {
  const s = await client.chat.completions.create({ model, messages: msgs('x'), stream: true });
  let err = null, text = '';
  try { for await (const c of s) text += c.choices[0]?.delta?.content ?? ''; } catch (e) { err = e; }
  return { err, text };
}

const checks = [
  ['anthropic tools: stream().finalChatCompletion()', async () => {
    const fc = await final('mockant/tools', { body: { tools: [WEATHER] } });
    toolAnswer(fc, { id: 'toolu_mock1', args: { location: 'Paris' }, text: 'Let me check.', parsed: true });
  }],
  ['gemini tools: stream().finalChatCompletion()', async () => {
    const fc = await final('mockgem/tools', { body: { tools: [WEATHER] } });
    toolAnswer(fc, { id: /^\S{6,}$/, args: { location: 'Paris' }, parsed: true });
  }],
  ['anthropic tools non-stream: chat.completions.parse with a strict tool', async () => {
    const r = await client.chat.completions.parse({ model: 'mockant/tools', messages: msgs('weather?'), tools: [WEATHER] });
    toolAnswer(r, { id: 'toolu_mock1', args: { location: 'Paris' }, parsed: true });
  }],
  ['gemini tools non-stream: chat.completions.parse with a strict tool', async () => {
    const r = await client.chat.completions.parse({ model: 'mockgem/tools', messages: msgs('weather?'), tools: [WEATHER] });
    toolAnswer(r, { id: /^\S{6,}$/, args: { location: 'Paris' }, parsed: true });
  }],
  ['anthropic text: finalChatCompletion', async () => {
    const fc = await final('mockant/echo', { text: 'plain anthropic text' });
    eq(fc.choices[0].message.content, 'plain anthropic text', 'content');
    eq(fc.choices[0].message.role, 'assistant', 'role');
    eq(fc.choices[0].finish_reason, 'stop', 'finish_reason');
  }],
  ['gemini text: finalChatCompletion', async () => {
    const fc = await final('mockgem/echo', { text: 'plain gemini text' });
    eq(fc.choices[0].message.content, 'plain gemini text', 'content');
    eq(fc.choices[0].finish_reason, 'stop', 'finish_reason');
  }],
  ['anthropic max_tokens: finish_reason length', async () => {
    const fc = await final('mockant/max-tokens', { text: 'cut' });
    eq(fc.choices[0].finish_reason, 'length', 'finish_reason');
  }],
  ['fixture anthropic tool_use_response: finalChatCompletion', async () => {
    const fc = await final('mockant/fixture-tool_use_response');
    toolAnswer(fc, { id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn', args: { location: 'Paris' },
                     text: "I'll check the current weather in Paris for you." });
  }],
  ['fixture anthropic basic_response: finalChatCompletion', async () => {
    const fc = await final('mockant/fixture-basic_response');
    eq(fc.choices[0].message.content, 'Hello there!', 'content');
    eq(fc.choices[0].finish_reason, 'stop', 'finish_reason');
  }],
  ['fixture anthropic incomplete_partial_json_response: length, partial arguments', async () => {
    const fc = await final('mockant/fixture-incomplete_partial_json_response');
    eq(fc.choices[0].finish_reason, 'length', 'finish_reason');
    const tc = fc.choices[0].message.tool_calls;
    assert(tc && tc.length === 1 && tc[0].id === 'toolu_01EKqbqmZrGRXy18eN7m9kvY', `tool call: ${JSON.stringify(tc)}`);
    assert(tc[0].function.arguments.startsWith('{"filename": "taxes.txt"'), `arguments: ${tc[0].function.arguments.slice(0, 60)}`);
  }],
  ['fixture gemini function-call-short: finalChatCompletion', async () => {
    const fc = await final('mockgem/fixture-vertexai.streaming-success-function-call-short');
    const tc = fc.choices[0].message.tool_calls;
    assert(tc && tc.length >= 1 && tc[0].id && tc[0].function.name, `tool calls: ${JSON.stringify(tc)}`);
    JSON.parse(tc[0].function.arguments);
    eq(fc.choices[0].finish_reason, 'tool_calls', 'finish_reason');
  }],
  ['fixture gemini thinking + function call: finalChatCompletion', async () => {
    const fc = await final('mockgem/fixture-googleai.streaming-success-thinking-function-call-thought-summary-signature');
    const tc = fc.choices[0].message.tool_calls;
    assert(tc && tc.length === 1 && tc[0].id && tc[0].function.name, `tool calls: ${JSON.stringify(tc)}`);
    JSON.parse(tc[0].function.arguments);
    eq(fc.choices[0].finish_reason, 'tool_calls', 'finish_reason');
  }],
  ['fixture gemini basic-reply-long: finalChatCompletion', async () => {
    const fc = await final('mockgem/fixture-googleai.streaming-success-basic-reply-long');
    assert(fc.choices[0].message.content.length > 500, 'long content');
    eq(fc.choices[0].finish_reason, 'stop', 'finish_reason');
  }],
  ['fixture gemini blocked prompt: content_filter', async () => {
    const fc = await final('mockgem/fixture-googleai.streaming-failure-prompt-blocked-safety');
    eq(fc.choices[0].finish_reason, 'content_filter', 'finish_reason');
  }],
  ['anthropic stream include_usage: usage chunk', async () => {
    const s = await client.chat.completions.create({ model: 'mockant/cached-7-0', messages: msgs('usage from anthropic'),
      stream: true, stream_options: { include_usage: true } });
    let usage = null, text = '';
    for await (const c of s) { if (c.usage) usage = c.usage; text += c.choices[0]?.delta?.content ?? ''; }
    eq(text, 'usage from anthropic', 'text');
    assert(usage && usage.prompt_tokens > 7 && usage.completion_tokens > 0, `usage ${JSON.stringify(usage)}`);
    eq(usage.prompt_tokens_details?.cached_tokens, 7, 'cached_tokens');
  }],
  ['gemini stream include_usage: usage chunk', async () => {
    const s = await client.chat.completions.create({ model: 'mockgem/echo', messages: msgs('usage from gemini'),
      stream: true, stream_options: { include_usage: true } });
    let usage = null;
    for await (const c of s) if (c.usage) usage = c.usage;
    assert(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0
           && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens, `usage ${JSON.stringify(usage)}`);
  }],
  ['anthropic error event mid-stream: the SDK throws the envelope', async () => {
    const { err, text } = await drainError('mockant/stream-error');
    assert(err, 'iteration ended without an error');
    eq(text, 'Hel', 'text before the error');
    assert(err.error && err.error.type === 'provider_error', `err.error: ${JSON.stringify(err.error)}`);
    assert(/Overloaded/.test(err.message), `message: ${err.message}`);
  }],
  ['gemini error mid-stream (fixture): the SDK throws', async () => {
    const { err, text } = await drainError('mockgem/fixture-vertexai.streaming-failure-error-mid-stream');
    assert(err, 'iteration ended without an error');
    eq(text, 'First Second ', 'text before the error');
  }],
  ['anthropic 429 -> RateLimitError, retry-after 7', () => rejects(
    () => client.chat.completions.create({ model: 'mockant/error-429', messages: msgs('x') }),
    OpenAI.RateLimitError, 429, (e) => eq(e.headers.get('retry-after'), '7', 'retry-after'))],
  ['gemini 429 -> RateLimitError, retry-after 3 (RetryInfo)', () => rejects(
    () => client.chat.completions.create({ model: 'mockgem/error-429', messages: msgs('x') }),
    OpenAI.RateLimitError, 429, (e) => eq(e.headers.get('retry-after'), '3', 'retry-after'))],
  ['anthropic 401 -> AuthenticationError', () => rejects(
    () => client.chat.completions.create({ model: 'mockant/error-401', messages: msgs('x') }),
    OpenAI.AuthenticationError, 401)],
  ['gemini 403 -> PermissionDeniedError', () => rejects(
    () => client.chat.completions.create({ model: 'mockgem/error-403', messages: msgs('x') }),
    OpenAI.PermissionDeniedError, 403)],
  ['anthropic 529 -> InternalServerError 502 provider_error', () => rejects(
    () => client.chat.completions.create({ model: 'mockant/error-529', messages: msgs('x') }),
    OpenAI.InternalServerError, 502, (e) => eq(e.type, 'provider_error', 'type'))],
  ['gemini 404 stream request -> NotFoundError', () => rejects(
    () => client.chat.completions.create({ model: 'mockgem/error-404', messages: msgs('x'), stream: true }),
    OpenAI.NotFoundError, 404)],
];

await runChecks(checks);
