// The Responses API through the official openai SDK (responses.create,
// responses.stream, retrieve, delete, previous_response_id, function tools
// and function_call_output, text.format json_schema, reasoning) on every
// provider type, and the Vercel AI SDK's default OpenAI model (which calls
// POST /responses since v5). Run by t/sdk_responses.t.
// Prints "1..N", then one "ok - name" or "not ok - name: reason" per check.
import OpenAI from 'openai';
import { generateText, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';
import { assert, eq, runChecks } from './checks.mjs';

const base = process.env.LLMGW_BASE_URL;
if (!base) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const origin = new URL(base).origin;
const client = new OpenAI({ baseURL: base, apiKey: 'sk-client-gateway-key', maxRetries: 0 });
const nativeClient = new OpenAI({ baseURL: `${origin}/native/v1`, apiKey: 'sk-client-gateway-key', maxRetries: 0 });
const aiDefault = createOpenAI({ baseURL: base, apiKey: 'sk-client-gateway-key' });
const weather = { type: 'function', name: 'get_weather', description: 'Current weather of a city',
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } };
const MOCK_THOUGHT = 'Let me think about it.';


async function streamAll(params, c = client) {
  const events = [];
  const s = await c.responses.create({ ...params, stream: true });
  for await (const ev of s) events.push(ev);
  return events;
}

const checks = [];
for (const model of ['echo', 'mockant/echo', 'mockgem/echo']) {
  checks.push([`responses.create via ${model}`, async () => {
    const r = await client.responses.create({ model, input: `hello ${model}`, instructions: 'be brief' });
    eq(r.object, 'response', 'object');
    eq(r.status, 'completed', 'status');
    eq(r.output_text, `hello ${model}`, 'output_text');
    assert(/^resp_/.test(r.id), `id ${r.id}`);
    assert(r.usage.input_tokens > 0 && r.usage.output_tokens > 0, `usage ${JSON.stringify(r.usage)}`);
    eq(r.instructions, 'be brief', 'instructions echoed');
  }]);
  checks.push([`responses.stream via ${model}: events with sequence numbers, finalResponse`, async () => {
    const events = await streamAll({ model, input: `stream ${model}` });
    eq(events[0].type, 'response.created', 'first event');
    eq(events[events.length - 1].type, 'response.completed', 'last event');
    events.forEach((e, i) => eq(e.sequence_number, i, `sequence_number of event ${i}`));
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    eq(text, `stream ${model}`, 'deltas');
    const s = client.responses.stream({ model, input: `again ${model}` });
    const final = await s.finalResponse();
    eq(final.output_text, `again ${model}`, 'finalResponse');
  }]);
}

checks.push(
  ['previous_response_id continues the conversation; retrieve and delete', async () => {
    const first = await client.responses.create({ model: 'echo', input: 'remember the number 42' });
    const second = await client.responses.create({ model: 'inspect', input: 'what number?',
      previous_response_id: first.id });
    const seen = JSON.parse(second.output_text);
    const contents = seen.body.messages.map((m) => JSON.stringify(m.content));
    assert(contents.some((c) => c.includes('remember the number 42')), `history missing: ${contents}`);
    assert(contents.some((c) => c.includes('what number?')), 'new input missing');
    eq(seen.body.messages.map((m) => m.role), ['user', 'assistant', 'user'], 'roles');
    const got = await client.responses.retrieve(first.id);
    eq(got.id, first.id, 'retrieve');
    await client.responses.delete(first.id);
    let status = 0;
    try { await client.responses.retrieve(first.id); } catch (e) { status = e.status; }
    eq(status, 404, 'retrieve after delete');
  }],
  ['store: false is not kept', async () => {
    const r = await client.responses.create({ model: 'echo', input: 'forget me', store: false });
    let status = 0;
    try { await client.responses.retrieve(r.id); } catch (e) { status = e.status; }
    eq(status, 404, 'retrieve');
  }],
  ['function tools and function_call_output (via anthropic)', async () => {
    const r = await client.responses.create({ model: 'mockant/tools', input: 'weather in Paris?', tools: [weather] });
    const call = r.output.find((o) => o.type === 'function_call');
    assert(call, `no function_call in ${JSON.stringify(r.output)}`);
    eq(call.name, 'get_weather', 'name');
    eq(JSON.parse(call.arguments), { location: 'Paris' }, 'arguments');
    const next = await client.responses.create({ model: 'inspect', previous_response_id: r.id, tools: [weather],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp":21}' }] });
    const seen = JSON.parse(next.output_text);
    const toolMsg = seen.body.messages.find((m) => m.role === 'tool');
    eq(toolMsg && toolMsg.tool_call_id, call.call_id, 'tool message call id');
    const asst = seen.body.messages.find((m) => m.role === 'assistant' && m.tool_calls);
    eq(asst && asst.tool_calls[0].function.name, 'get_weather', 'assistant tool call in history');
  }],
  ['function call arguments streamed (via gemini)', async () => {
    const events = await streamAll({ model: 'mockgem/tools', input: 'weather in Paris?', tools: [weather] });
    const done = events.find((e) => e.type === 'response.function_call_arguments.done');
    assert(done, `no arguments.done in ${events.map((e) => e.type)}`);
    eq(JSON.parse(done.arguments), { location: 'Paris' }, 'arguments');
    eq(events[events.length - 1].type, 'response.completed', 'completed');
  }],
  ['text.format json_schema (via anthropic)', async () => {
    const r = await client.responses.create({ model: 'mockant/json', input: 'say hi',
      text: { format: { type: 'json_schema', name: 'answer', strict: true,
        schema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false } } } });
    eq(JSON.parse(r.output_text), { answer: 'say hi' }, 'parsed output');
  }],
  ['reasoning (via anthropic thinking)', async () => {
    const r = await client.responses.create({ model: 'mockant/thinking', input: 'think', reasoning: { effort: 'low' } });
    const rs = r.output.find((o) => o.type === 'reasoning');
    assert(rs, `no reasoning item in ${JSON.stringify(r.output)}`);
    eq(rs.summary.map((s) => s.text).join(''), MOCK_THOUGHT, 'summary');
    eq(r.output_text, 'think', 'text');
  }],
  ['a 429 is a RateLimitError', async () => {
    try { await client.responses.create({ model: 'error-429', input: 'x' }); }
    catch (e) { assert(e instanceof OpenAI.RateLimitError, `not a RateLimitError: ${e}`); return; }
    throw new Error('no error thrown');
  }],
  ['native relay (responses=native): create and stream', async () => {
    const r = await nativeClient.responses.create({ model: 'echo', input: 'native hi' });
    eq(r.output_text, 'native hi', 'output_text');
    const s = nativeClient.responses.stream({ model: 'echo', input: 'native stream' });
    eq((await s.finalResponse()).output_text, 'native stream', 'finalResponse');
  }],
  ['AI SDK default model (Responses API): generateText', async () => {
    const r = await generateText({ model: aiDefault('mockant/echo'), prompt: 'ai default', maxRetries: 0 });
    eq(r.text, 'ai default', 'text');
    eq(r.finishReason, 'stop', 'finishReason');
  }],
  ['AI SDK default model: streamText', async () => {
    const errors = [];
    const r = streamText({ model: aiDefault('echo'), prompt: 'ai stream', maxRetries: 0,
      onError: ({ error }) => errors.push(error) });
    eq(await r.text, 'ai stream', 'text');
    eq(errors.length, 0, 'errors');
  }],
  ['AI SDK default model: tool call', async () => {
    const r = await generateText({ model: aiDefault('mockgem/tools'), prompt: 'weather?', maxRetries: 0,
      tools: { get_weather: tool({ description: 'weather', inputSchema: z.object({ location: z.string() }) }) } });
    eq(r.finishReason, 'tool-calls', 'finishReason');
    eq(r.toolCalls.map((c) => [c.toolName, c.input]), [['get_weather', { location: 'Paris' }]], 'tool calls');
  }],
);

await runChecks(checks);
