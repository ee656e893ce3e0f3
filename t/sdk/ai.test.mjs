// The Vercel AI SDK (`ai` + `@ai-sdk/openai`, the chat-completions model,
// which validates every chunk against its schema) against translated
// providers: generateText and streamText with a tool must end with finish
// reason `tool-calls` and a parsed tool call; plain text ends with `stop`.
// Run by t/sdk_ai.t with LLMGW_BASE_URL=http://127.0.0.1:PORT/v1. Prints
// "1..N", then one "ok - name" or "not ok - name: reason" line per check.
import { generateText, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';
import { assert, eq, runChecks } from './checks.mjs';

const baseURL = process.env.LLMGW_BASE_URL;
if (!baseURL) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const provider = createOpenAI({ baseURL, apiKey: 'sk-client-gateway-key' });
const model = (id) => provider.chat(id);
const tools = {
  get_weather: tool({
    description: 'Current weather of a city',
    inputSchema: z.object({ location: z.string() }),
  }),
};


// Runs streamText to the end; returns what a UI would have seen.
async function stream(id, opts) {
  const errors = [];
  const result = streamText({ model: model(id), maxRetries: 0, onError: ({ error }) => errors.push(error), ...opts });
  const parts = [];
  for await (const p of result.fullStream) parts.push(p);
  const streamErrors = parts.filter((p) => p.type === 'error').map((p) => p.error);
  return {
    parts, errors: [...errors, ...streamErrors],
    text: await result.text, finishReason: await result.finishReason,
    toolCalls: await result.toolCalls, usage: await result.usage,
  };
}

function noErrors(r) {
  assert(r.errors.length === 0, `stream errors: ${r.errors.map((e) => String(e && e.message || e)).join('; ')}`);
}

function weatherCall(calls, id) {
  assert(Array.isArray(calls) && calls.length === 1, `one tool call: ${JSON.stringify(calls)}`);
  eq(calls[0].toolName, 'get_weather', 'toolName');
  eq(calls[0].input, { location: 'Paris' }, 'parsed input');
  if (id instanceof RegExp) assert(id.test(calls[0].toolCallId), `toolCallId ${calls[0].toolCallId}`);
  else eq(calls[0].toolCallId, id, 'toolCallId');
}

const checks = [
  ['generateText + tool via anthropic: tool-calls', async () => {
    const r = await generateText({ model: model('mockant/tools'), prompt: 'weather in Paris?', tools, maxRetries: 0 });
    eq(r.finishReason, 'tool-calls', 'finishReason');
    weatherCall(r.toolCalls, 'toolu_mock1');
    eq(r.text, 'Let me check.', 'text');
    assert(r.usage.inputTokens > 0 && r.usage.outputTokens > 0, `usage ${JSON.stringify(r.usage)}`);
  }],
  ['generateText + tool via gemini: tool-calls', async () => {
    const r = await generateText({ model: model('mockgem/tools'), prompt: 'weather in Paris?', tools, maxRetries: 0 });
    eq(r.finishReason, 'tool-calls', 'finishReason');
    weatherCall(r.toolCalls, /^\S{6,}$/);
  }],
  ['streamText + tool via anthropic: ends with tool-calls', async () => {
    const r = await stream('mockant/tools', { prompt: 'weather in Paris?', tools });
    noErrors(r);
    eq(r.finishReason, 'tool-calls', 'finishReason');
    weatherCall(r.toolCalls, 'toolu_mock1');
    eq(r.text, 'Let me check.', 'text');
    assert(r.parts.some((p) => p.type === 'tool-input-delta'), 'tool input streamed in deltas');
    assert(r.usage.inputTokens > 0 && r.usage.outputTokens > 0, `usage ${JSON.stringify(r.usage)}`);
  }],
  ['streamText + tool via gemini: ends with tool-calls', async () => {
    const r = await stream('mockgem/tools', { prompt: 'weather in Paris?', tools });
    noErrors(r);
    eq(r.finishReason, 'tool-calls', 'finishReason');
    weatherCall(r.toolCalls, /^\S{6,}$/);
  }],
  ['streamText text via anthropic: stop', async () => {
    const r = await stream('mockant/echo', { prompt: 'hello from the ai sdk' });
    noErrors(r);
    eq(r.text, 'hello from the ai sdk', 'text');
    eq(r.finishReason, 'stop', 'finishReason');
    assert(r.usage.inputTokens > 0 && r.usage.outputTokens > 0, `usage ${JSON.stringify(r.usage)}`);
  }],
  ['streamText text via gemini: stop', async () => {
    const r = await stream('mockgem/echo', { prompt: 'hello gemini from the ai sdk' });
    noErrors(r);
    eq(r.text, 'hello gemini from the ai sdk', 'text');
    eq(r.finishReason, 'stop', 'finishReason');
  }],
  ['generateText text via anthropic: stop', async () => {
    const r = await generateText({ model: model('mockant/echo'), prompt: 'non-stream text', maxRetries: 0 });
    eq(r.text, 'non-stream text', 'text');
    eq(r.finishReason, 'stop', 'finishReason');
  }],
  ['streamText via anthropic max_tokens: length', async () => {
    const r = await stream('mockant/max-tokens', { prompt: 'cut me' });
    noErrors(r);
    eq(r.finishReason, 'length', 'finishReason');
  }],
  ['streamText fixture anthropic tool_use_response: tool-calls', async () => {
    const r = await stream('mockant/fixture-tool_use_response', { prompt: 'x', tools });
    noErrors(r);
    eq(r.finishReason, 'tool-calls', 'finishReason');
    weatherCall(r.toolCalls, 'toolu_01NRLabsLyVHZPKxbKvkfSMn');
  }],
  ['streamText fixture gemini thinking + function call: tool-calls', async () => {
    const now = { now: tool({ description: 'the time', inputSchema: z.object({}) }) };
    const r = await stream('mockgem/fixture-googleai.streaming-success-thinking-function-call-thought-summary-signature',
                           { prompt: 'x', tools: now });
    noErrors(r);
    eq(r.finishReason, 'tool-calls', 'finishReason');
    assert(r.toolCalls.length === 1 && r.toolCalls[0].toolName === 'now', `tool calls ${JSON.stringify(r.toolCalls)}`);
    eq(r.toolCalls[0].input, {}, 'input');
  }],
  ['streamText fixture gemini function-call-short: tool-calls', async () => {
    const t = { getTemperature: tool({ description: 't', inputSchema: z.object({ city: z.string() }) }) };
    const r = await stream('mockgem/fixture-vertexai.streaming-success-function-call-short', { prompt: 'x', tools: t });
    noErrors(r);
    eq(r.finishReason, 'tool-calls', 'finishReason');
    eq(r.toolCalls.map((c) => [c.toolName, c.input]), [['getTemperature', { city: 'San Jose' }]], 'tool calls');
  }],
  ['streamText anthropic error event mid-stream: an error part', async () => {
    const r = await stream('mockant/stream-error', { prompt: 'x' });
    assert(r.errors.length > 0, 'no error surfaced');
    assert(r.errors.some((e) => /Overloaded/.test(JSON.stringify(e) + String(e && e.message))),
           `error: ${r.errors.map((e) => JSON.stringify(e)).join('; ')}`);
    eq(r.finishReason, 'error', 'finishReason');
  }],
];

await runChecks(checks);
