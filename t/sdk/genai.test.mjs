// Google's official SDK (@google/genai) against the gateway's Gemini routes
// (models/{model}:generateContent and :streamGenerateContent, relayed to a
// gemini provider), base URL http://host/gem, its API key sent as
// x-goog-api-key: generateContent, generateContentStream, function calls,
// and errors as the SDK's ApiError. Run by t/sdk_genai.t.
// Prints "1..N", then one "ok - name" or "not ok - name: reason" per check.
import { GoogleGenAI, ApiError } from '@google/genai';

const base = process.env.LLMGW_BASE_URL;
if (!base) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const origin = new URL(base).origin;
const ai = new GoogleGenAI({ apiKey: 'sk-client-gateway-key',
  httpOptions: { baseUrl: `${origin}/gem`, apiVersion: 'v1beta' } });

function assert(cond, what) { if (!cond) throw new Error(what); }
function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

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

console.log(`1..${checks.length}`);
let failed = 0;
for (const [name, fn] of checks) {
  try {
    await Promise.race([
      fn(),
      new Promise((_, rej) => setTimeout(() => rej(new Error('check timed out after 30 s')), 30000).unref()),
    ]);
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${String(e && e.message || e).replace(/\s+/g, ' ')}`);
  }
}
process.exit(failed ? 1 : 0);
