// The official Anthropic SDK (@anthropic-ai/sdk) against the gateway's
// Messages API: relayed to an anthropic provider (base URL /ant: thinking
// blocks and their signatures come back byte-identical and go back upstream
// unchanged), and translated to OpenAI-format and Gemini providers (base URL
// /, model "mockgem/..."): messages.create, messages.stream with
// finalMessage(), tool use, countTokens, errors as the SDK's error classes.
// Run by t/sdk_anthropic.t with LLMGW_BASE_URL=http://127.0.0.1:PORT/v1.
// Prints "1..N", then one "ok - name" or "not ok - name: reason" per check.
import Anthropic from '@anthropic-ai/sdk';
import { assert, eq, runChecks } from './checks.mjs';

const base = process.env.LLMGW_BASE_URL;
if (!base) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const origin = new URL(base).origin;
const SIG = 'EqQBCkgIARABGAIiQL+/mock/Sig+nature==0123456789abcdefABCDEF/+=';
const native = new Anthropic({ baseURL: `${origin}/ant`, apiKey: 'sk-client-gateway-key', maxRetries: 0 });
const viaChat = new Anthropic({ baseURL: origin, apiKey: 'sk-client-gateway-key', maxRetries: 0 });
const tools = [{ name: 'get_weather', description: 'Current weather of a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } }];

const user = (text) => [{ role: 'user', content: text }];
const textOf = (msg) => msg.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

async function streamed(client, params) {
  const s = client.messages.stream(params);
  let text = '';
  s.on('text', (t) => { text += t; });
  const msg = await s.finalMessage();
  return { text, msg };
}

async function expectError(fn, status, type) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof Anthropic.APIError, `not an APIError: ${e}`);
    eq(e.status, status, 'status');
    eq(e.error && e.error.error && e.error.error.type, type, 'error.type');
    return e;
  }
  throw new Error('no error thrown');
}

const checks = [
  ['native: messages.create', async () => {
    const m = await native.messages.create({ model: 'echo', max_tokens: 64, messages: user('hello native') });
    eq(textOf(m), 'hello native', 'text');
    eq(m.stop_reason, 'end_turn', 'stop_reason');
    assert(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, `usage ${JSON.stringify(m.usage)}`);
  }],
  ['native: thinking signature byte-identical, and sent back unchanged', async () => {
    const m = await native.messages.create({ model: 'thinking', max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 }, messages: user('think') });
    eq(m.content[0].type, 'thinking', 'first block');
    eq(m.content[0].signature, SIG, 'signature');
    const next = await native.messages.create({ model: 'inspect', max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [...user('think'), { role: 'assistant', content: m.content }, ...user('again')] });
    const seen = JSON.parse(textOf(next));
    eq(seen.body.messages[1].content[0].signature, SIG, 'signature upstream');
    eq(seen.body.messages[1].content[0].thinking, m.content[0].thinking, 'thinking upstream');
  }],
  ['native: messages.stream + finalMessage with thinking', async () => {
    const { text, msg } = await streamed(native, { model: 'thinking', max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 }, messages: user('stream native') });
    eq(text, 'stream native', 'streamed text');
    eq(msg.content[0].type, 'thinking', 'thinking block');
    eq(msg.content[0].signature, SIG, 'signature');
    eq(msg.stop_reason, 'end_turn', 'stop_reason');
  }],
  ['native: tool use streamed', async () => {
    const { msg } = await streamed(native, { model: 'tools', max_tokens: 256, tools, messages: user('weather?') });
    eq(msg.stop_reason, 'tool_use', 'stop_reason');
    const tu = msg.content.find((b) => b.type === 'tool_use');
    eq(tu && tu.input, { location: 'Paris' }, 'tool input');
  }],
  ['native: countTokens', async () => {
    const r = await native.messages.countTokens({ model: 'echo', messages: user('count me please') });
    assert(r.input_tokens > 0, `input_tokens ${r.input_tokens}`);
  }],
  ['native: 429 is a RateLimitError', async () => {
    const e = await expectError(() => native.messages.create({ model: 'error-429', max_tokens: 8,
      messages: user('x') }), 429, 'rate_limit_error');
    assert(e instanceof Anthropic.RateLimitError, 'RateLimitError');
  }],
  ['native: error event mid-stream', async () => {
    let err = null;
    try { await streamed(native, { model: 'stream-error', max_tokens: 8, messages: user('x') }); }
    catch (e) { err = e; }
    assert(err && /Overloaded|overloaded/.test(String(err.message) + JSON.stringify(err.error || {})), `error: ${err}`);
  }],
  ['translated to openai: messages.create', async () => {
    const m = await viaChat.messages.create({ model: 'echo', max_tokens: 64, system: 'be brief',
      messages: user('hello chat') });
    eq(m.type, 'message', 'type');
    eq(m.role, 'assistant', 'role');
    eq(textOf(m), 'hello chat', 'text');
    eq(m.stop_reason, 'end_turn', 'stop_reason');
    assert(/^msg_/.test(m.id), `id ${m.id}`);
    assert(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, `usage ${JSON.stringify(m.usage)}`);
  }],
  ['translated to openai: system and turns reach the chat request', async () => {
    const m = await viaChat.messages.create({ model: 'inspect', max_tokens: 64, system: 'be brief',
      messages: [...user('one'), { role: 'assistant', content: 'two' }, ...user('three')] });
    const seen = JSON.parse(textOf(m));
    eq(seen.path, '/v1/chat/completions', 'upstream path');
    eq(seen.body.messages.map((x) => x.role), ['system', 'user', 'assistant', 'user'], 'roles');
    eq(seen.body.max_completion_tokens ?? seen.body.max_tokens, 64, 'max tokens');
  }],
  ['translated to openai: messages.stream + finalMessage', async () => {
    const { text, msg } = await streamed(viaChat, { model: 'echo', max_tokens: 64, messages: user('stream chat') });
    eq(text, 'stream chat', 'streamed text');
    eq(textOf(msg), 'stream chat', 'final text');
    eq(msg.stop_reason, 'end_turn', 'stop_reason');
    assert(msg.usage.output_tokens > 0, `usage ${JSON.stringify(msg.usage)}`);
  }],
  ['translated to gemini: messages.create and stream', async () => {
    const m = await viaChat.messages.create({ model: 'mockgem/echo', max_tokens: 64, messages: user('hello gem') });
    eq(textOf(m), 'hello gem', 'text');
    const { text } = await streamed(viaChat, { model: 'mockgem/echo', max_tokens: 64, messages: user('gem stream') });
    eq(text, 'gem stream', 'streamed text');
  }],
  ['translated to gemini: tool use streamed (input_json_delta)', async () => {
    const { msg } = await streamed(viaChat, { model: 'mockgem/tools', max_tokens: 256, tools, messages: user('weather?') });
    eq(msg.stop_reason, 'tool_use', 'stop_reason');
    const tu = msg.content.find((b) => b.type === 'tool_use');
    eq(tu && tu.name, 'get_weather', 'tool name');
    eq(tu && tu.input, { location: 'Paris' }, 'tool input');
  }],
  ['translated to openai: 429 in Anthropic shape', async () => {
    await expectError(() => viaChat.messages.create({ model: 'error-429', max_tokens: 8,
      messages: user('x') }), 429, 'rate_limit_error');
  }],
  ['translated: a parameter without translation is a 400', async () => {
    await expectError(() => viaChat.messages.create({ model: 'echo', max_tokens: 8,
      messages: user('x'), mcp_servers: [{ type: 'url', url: 'https://example.invalid', name: 'x' }] }),
    400, 'invalid_request_error');
  }],
];

await runChecks(checks);
