// The official openai SDK's embeddings.create with its defaults (it asks for
// encoding_format "base64" and decodes little-endian float32) against a
// gemini-type provider: the real values come back, not zeros. Run by
// t/sdk_embeddings.t with LLMGW_BASE_URL=http://127.0.0.1:PORT/v1. Prints
// "1..N", then one "ok - name" or "not ok - name: reason" line per check.
import OpenAI from 'openai';
import crypto from 'node:crypto';
import { assert } from './checks.mjs';

const baseURL = process.env.LLMGW_BASE_URL;
if (!baseURL) { console.log('not ok - setup: LLMGW_BASE_URL is not set'); process.exit(1); }
const client = new OpenAI({ baseURL, apiKey: 'sk-client-gateway-key', maxRetries: 0, timeout: 20000 });


// The mock provider's embedding of a text (t/mock/provider.js embedding()).
function mockEmbedding(str) {
  const h = crypto.createHash('sha256').update(String(str)).digest();
  const v = [];
  for (let i = 0; i < 8; i++) v.push(Math.round((h.readUInt32BE(i * 4) / 0x100000000 * 2 - 1) * 1e6) / 1e6);
  return v;
}

// Same vector as float32 values (what base64 carries).
function sameAsFloat32(got, want, what) {
  assert(Array.isArray(got), `${what}: not an array: ${JSON.stringify(got)}`);
  assert(got.length === want.length, `${what}: length ${got.length}, want ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    assert(got[i] === Math.fround(want[i]), `${what}[${i}]: got ${got[i]}, want ${Math.fround(want[i])}`);
  }
  assert(got.some((x) => x !== 0), `${what}: all zeros`);
}

const checks = [
  ['gemini embeddings.create with the SDK defaults (base64)', async () => {
    const r = await client.embeddings.create({ model: 'mockgem/text-embedding-004', input: ['one', 'two'] });
    assert(r.data.length === 2, 'two embeddings');
    sameAsFloat32(r.data[0].embedding, mockEmbedding('one'), 'one');
    sameAsFloat32(r.data[1].embedding, mockEmbedding('two'), 'two');
  }],
  ['gemini embeddings.create, one string input', async () => {
    const r = await client.embeddings.create({ model: 'mockgem/text-embedding-004', input: 'hello world' });
    sameAsFloat32(r.data[0].embedding, mockEmbedding('hello world'), 'hello world');
  }],
  ['gemini embeddings.create float', async () => {
    const r = await client.embeddings.create({ model: 'mockgem/text-embedding-004', input: 'x', encoding_format: 'float' });
    const want = mockEmbedding('x');
    assert(r.data[0].embedding.length === want.length, 'length');
    r.data[0].embedding.forEach((v, i) => assert(v === want[i], `float [${i}]: ${v} vs ${want[i]}`));
  }],
  ['gemini embeddings raw base64 is little-endian float32', async () => {
    const { data: raw } = await client.embeddings
      .create({ model: 'mockgem/text-embedding-004', input: 'raw', encoding_format: 'base64' }).withResponse();
    const b64 = raw.data[0].embedding;
    assert(typeof b64 === 'string', `a base64 string: ${JSON.stringify(b64)}`);
    const buf = Buffer.from(b64, 'base64');
    const got = [];
    for (let i = 0; i < buf.length; i += 4) got.push(buf.readFloatLE(i));
    sameAsFloat32(got, mockEmbedding('raw'), 'raw');
  }],
  ['openai-type embeddings.create with the SDK defaults', async () => {
    const r = await client.embeddings.create({ model: 'mock/x', input: 'same' });
    sameAsFloat32(r.data[0].embedding, mockEmbedding('same'), 'same');
  }],
];

console.log(`1..${checks.length}`);
let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${String(e && e.message || e).replace(/\n/g, ' ')}`);
  }
}
process.exit(failed ? 1 : 0);
