// Google's official SDK (@google/genai) against the gateway's Gemini routes
// (models/{model}:generateContent and :streamGenerateContent, relayed to a
// gemini provider), base URL http://host/gem, its API key sent as
// x-goog-api-key: generateContent, generateContentStream, function calls,
// and errors as the SDK's ApiError. Run by t/sdk_genai.t.
// Prints "1..N", then one "ok - name" or "not ok - name: reason" per check.
import { GoogleGenAI, ApiError } from '@google/genai';
import { assert, eq, runChecks } from './checks.mjs';

const base = process.env.LLMGW_BASE_URL;
if (!base) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const origin = new URL(base).origin;
const ai = new GoogleGenAI({ apiKey: 'sk-client-gateway-key',
  httpOptions: { baseUrl: `${origin}/gem`, apiVersion: 'v1beta' } });


const checks = [
  ['generateContent', async () => {
    const r = await ai.models.generateContent({ model: 'echo', contents: 'hello google' });
    eq(r.text, 'hello google', 'text');
    assert(r.usageMetadata && r.usageMetadata.promptTokenCount > 0, `usage ${JSON.stringify(r.usageMetadata)}`);
  }],
  ['generateContentStream', async () => {
    const s = await ai.models.generateContentStream({ model: 'echo', contents: 'stream google' });
    let text = '', last = null;
    for await (const c of s) { text += c.text ?? ''; last = c; }
    eq(text, 'stream google', 'text');
    assert(last && last.candidates[0].finishReason, 'finishReason on the last chunk');
  }],
  ['a function call', async () => {
    const r = await ai.models.generateContent({ model: 'tools', contents: 'weather in Paris?',
      config: { tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'weather',
        parameters: { type: 'OBJECT', properties: { location: { type: 'STRING' } } } }] }] } });
    const calls = r.functionCalls || [];
    eq(calls.length, 1, 'one call');
    eq(calls[0].name, 'get_weather', 'name');
    eq(calls[0].args, { location: 'Paris' }, 'args');
  }],
  ['a 429 is an ApiError with status 429', async () => {
    try {
      await ai.models.generateContent({ model: 'error-429', contents: 'x' });
    } catch (e) {
      assert(e instanceof ApiError, `not an ApiError: ${e}`);
      eq(e.status, 429, 'status');
      return;
    }
    throw new Error('no error thrown');
  }],
];

await runChecks(checks);
