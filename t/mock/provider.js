#!/usr/bin/env node
// llmgw mock LLM provider: OpenAI-compatible, Anthropic Messages and Gemini wire formats.
// Plain Node.js (>= 20), no dependencies. Listens on 127.0.0.1 only.
//
//   node t/mock/provider.js [--port N] [--port-file FILE] [--fixtures DIR]
//
// Behaviour is chosen by the model name: echo (default), inspect, slow-MS, hang, drop, bighead-N (echo
// with an N-byte response header),
// error-CODE[-html], fixture-NAME, flaky-N-KEY, ratelimit-N-S-KEY (first N requests: 429
// asking for S seconds), big-N, tools, max-tokens, stream-error, cached-R-W (Anthropic,
// Gemini: echo whose usage reports R cache-read and W cache-write input tokens; Gemini has no
// cache-write count). Gemini fixtures: fixture-NAME looks in googleai/ then vertexai/;
// fixture-googleai.NAME / fixture-vertexai.NAME pick the folder.
// Control endpoints: GET /__mock/stats (requests, by_model, by_path, aborted, connections:
// TCP connections accepted since the last reset), POST /__mock/reset, GET /__mock/last (the
// last request: method, path, query, headers, parsed body and its raw text).
// Besides chat/completions, embeddings, images and models it serves /v1/messages and
// /v1/messages/count_tokens (Anthropic), /v1/responses (the OpenAI Responses API, for
// responses=native providers) and Gemini's models/{model}:generateContent.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

// ---------------------------------------------------------------- CLI
function parseArgs(argv) {
  const o = {
    port: 0,
    portFile: null,
    fixtures: process.env.LLMGW_FIXTURES || path.join(__dirname, '..', '..', '..', 'shared', 'fixtures'),
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const val = () => (v !== undefined ? v : argv[++i]);
    switch (a) {
      case '--port': o.port = parseInt(val(), 10) || 0; break;
      case '--port-file': o.portFile = val(); break;
      case '--fixtures': o.fixtures = val(); break;
      case '-h': case '--help':
        process.stdout.write('usage: node provider.js [--port N] [--port-file FILE] [--fixtures DIR]\n');
        process.exit(0);
        break;
      default:
        process.stderr.write(`mock provider: unknown argument ${a}\n`);
        process.exit(2);
    }
  }
  return o;
}
const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------- state
let stats, flaky, lastRequest = null, idSeq = 0;
function resetState() {
  stats = { requests: 0, by_model: {}, by_path: {}, aborted: 0, connections: 0 };
  flaky = new Map();
}
resetState();

// ---------------------------------------------------------------- helpers
const nowSec = () => Math.floor(Date.now() / 1000);
const newId = (prefix) => `${prefix}${Date.now().toString(36)}${(++idSeq).toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const ceilTok = (chars) => Math.max(1, Math.ceil(chars / 4));

// Split text into ~4-character pieces (by code point, so surrogate pairs stay whole).
// Very long texts get bigger pieces so a stream never has more than ~1024 content chunks.
function pieces(text) {
  const cps = Array.from(text);
  const size = Math.max(4, Math.ceil(cps.length / 1024));
  const out = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
  return out;
}

// Split an SSE body into events, keeping the separators, so each write is one event.
function splitEvents(buf) {
  const text = buf.toString('utf8');
  const out = [];
  const re = /\r?\n\r?\n/g;
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    out.push(text.slice(last, m.index + m[0].length));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// An input holding "[vec:X,Y,...]" is embedded as that vector, so a test
// chooses the similarities it needs (t/semantic_cache.t); any other input
// gets 8 numbers from its SHA-256.
function embedding(str) {
  const m = /\[vec:([-+0-9.eE, ]+)\]/.exec(String(str));
  if (m) {
    const v = m[1].split(',').map((x) => Number(x.trim()));
    if (v.length && v.every((x) => Number.isFinite(x))) return v;
  }
  const h = crypto.createHash('sha256').update(String(str)).digest();
  const v = [];
  for (let i = 0; i < 8; i++) v.push(Math.round((h.readUInt32BE(i * 4) / 0x100000000 * 2 - 1) * 1e6) / 1e6);
  return v;
}

function safeName(name) {
  return /^[A-Za-z0-9_.-]+$/.test(name) && !name.includes('..') ? name : null;
}

function readFixture(...rel) {
  try { return fs.readFileSync(path.join(opts.fixtures, ...rel)); } catch { return null; }
}

// Per-request context: tracks timers and aborts so nothing is written after the client left.
function makeCtx(req, res) {
  const ctx = { req, res, aborted: false, ended: false, dropped: false, sleeps: new Set(), stream: false };
  res.on('close', () => {
    if (!ctx.ended && !ctx.dropped) {
      ctx.aborted = true;
      stats.aborted++;
    }
    for (const s of ctx.sleeps) { clearTimeout(s.t); s.resolve(); }
    ctx.sleeps.clear();
  });
  ctx.sleep = (ms) => new Promise((resolve) => {
    if (ctx.aborted || !(ms > 0)) return resolve();
    const s = { resolve };
    s.t = setTimeout(() => { ctx.sleeps.delete(s); resolve(); }, ms);
    ctx.sleeps.add(s);
  });
  ctx.end = (data) => { if (ctx.aborted) return; ctx.ended = true; res.end(data); };
  ctx.json = (status, obj, headers = {}) => {
    if (ctx.aborted) return;
    const body = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, reason(status), { 'content-type': 'application/json', 'content-length': body.length, ...ctx.extra, ...headers });
    ctx.end(body);
  };
  ctx.raw = (status, body, ctype, headers = {}) => {
    if (ctx.aborted) return;
    body = Buffer.isBuffer(body) ? body : Buffer.from(body);
    res.writeHead(status, reason(status), { 'content-type': ctype, 'content-length': body.length, ...headers });
    ctx.end(body);
  };
  ctx.sseHead = (headers = {}) => {
    ctx.stream = true;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...ctx.extra,
      ...headers,
    });
    res.flushHeaders();
  };
  // Write events one by one (one res.write each), sleeping `delay` ms before each.
  ctx.emit = async (events, delay = 0) => {
    for (const ev of events) {
      if (delay > 0) await ctx.sleep(delay);
      if (ctx.aborted) return false;
      res.write(ev);
    }
    return !ctx.aborted;
  };
  // Write events, then kill the connection without finishing the response.
  ctx.dropAfter = (events) => {
    ctx.dropped = true;
    for (const ev of events) res.write(ev);
    res.write('', () => setTimeout(() => req.socket.destroy(), 10));
  };
  ctx.dropNow = () => { ctx.dropped = true; req.socket.destroy(); };
  return ctx;
}

// Model behaviour prefixes shared by all formats.
function classify(model) {
  model = String(model || '');
  let m;
  if (model === 'hang') return { kind: 'hang' };
  if (model === 'drop') return { kind: 'drop' };
  if (model === 'inspect') return { kind: 'inspect' };
  if (model === 'tools') return { kind: 'tools' };
  if (model === 'max-tokens') return { kind: 'max-tokens' };
  if (model === 'stream-error') return { kind: 'stream-error' };
  if (model === 'thinking') return { kind: 'thinking' };
  if (model === 'logprobs') return { kind: 'logprobs' };
  if (model === 'json') return { kind: 'json' };
  if ((m = /^huge-event-(\d+)$/.exec(model))) return { kind: 'huge-event', n: Number(m[1]) };
  if ((m = /^slow-(\d+)$/.exec(model))) return { kind: 'echo', delay: parseInt(m[1], 10) };
  // bighead-N: echo, with an x-mock-pad response header of N bytes
  if ((m = /^bighead-(\d+)$/.exec(model))) return { kind: 'echo', pad: parseInt(m[1], 10) };
  if ((m = /^error-(\d{3})(-html)?$/.exec(model))) return { kind: 'error', code: parseInt(m[1], 10), html: !!m[2] };
  if ((m = /^fixture-(.+)$/.exec(model))) return { kind: 'fixture', name: m[1] };
  if ((m = /^flaky-(\d+)-.+$/.exec(model))) return { kind: 'flaky', n: parseInt(m[1], 10) };
  if ((m = /^ratelimit-(\d+)-(\d+)-.+$/.exec(model))) {
    return { kind: 'ratelimit', n: parseInt(m[1], 10), secs: parseInt(m[2], 10) };
  }
  if ((m = /^big-(\d+)$/.exec(model))) return { kind: 'big', n: parseInt(m[1], 10) };
  if ((m = /^cached-(\d+)-(\d+)$/.exec(model))) {
    return { kind: 'echo', cacheRead: parseInt(m[1], 10), cacheWrite: parseInt(m[2], 10) };
  }
  return { kind: 'echo' };
}

// Flaky: returns true when this request must fail (first N per exact model name).
function flakyFails(model, n) {
  const c = (flaky.get(model) || 0) + 1;
  flaky.set(model, c);
  return c <= n;
}

// Reason phrase for codes node does not know (e.g. Anthropic's 529).
const reason = (status) => http.STATUS_CODES[status] || (status === 529 ? 'Overloaded' : 'Unknown');

const HTML_ERROR = (code) =>
  `<!DOCTYPE html>\n<html><head><title>${code} Error</title></head>` +
  `<body><h1>Error ${code}</h1><p>mock upstream failure</p></body></html>\n`;

// ---------------------------------------------------------------- OpenAI
function oaiErrorBody(code, message) {
  let type = 'invalid_request_error', c = null;
  if (code === 401) type = 'authentication_error';
  else if (code === 403) type = 'permission_error';
  else if (code === 429) { type = 'rate_limit_error'; c = 'rate_limit_exceeded'; }
  else if (code >= 500) type = 'server_error';
  return { error: { message: message || `mock error ${code}`, type, param: null, code: c } };
}
function oaiError(ctx, code, message, headers = {}) {
  if (code === 429 || code === 503) headers = { 'retry-after': '1', ...headers };
  ctx.json(code, oaiErrorBody(code, message), headers);
}

function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.filter((p) => p && (p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string')
      .map((p) => p.text).join('');
  }
  return '';
}

function oaiLastUser(messages) {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i] && messages[i].role === 'user') return contentText(messages[i].content);
  }
  return '';
}

function oaiPromptChars(messages) {
  if (!Array.isArray(messages)) return 0;
  return messages.reduce((n, m) => n + (m ? contentText(m.content).length : 0), 0);
}

async function oaiChat(ctx, body, info) {
  const model = body.model;
  const beh = classify(model);
  const stream = body.stream === true;
  let text;
  switch (beh.kind) {
    case 'inspect': text = JSON.stringify(info); break;
    case 'big': text = 'x'.repeat(beh.n); break;
    case 'fixture': {
      const name = safeName(beh.name);
      const buf = name && readFixture('openai', `${name}.sse`);
      if (!buf) return oaiError(ctx, 404, `fixture openai/${beh.name}.sse not found`);
      ctx.sseHead();
      if (await ctx.emit(splitEvents(buf))) ctx.end();
      return;
    }
    default: text = oaiLastUser(body.messages);
  }
  const delay = beh.delay || 0;
  const id = newId('chatcmpl-mock');
  const created = nowSec();
  const usage = {
    prompt_tokens: ceilTok(oaiPromptChars(body.messages)),
    completion_tokens: ceilTok(text.length),
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;

  if (!stream) {
    if (beh.kind === 'drop') return ctx.dropNow();
    await ctx.sleep(delay);
    return ctx.json(200, {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage,
      system_fingerprint: 'fp_mock',
    }, { 'x-request-id': id });
  }

  const chunk = (delta, finish, extra) => 'data: ' + JSON.stringify({
    id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_mock',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...extra,
  }) + '\n\n';
  const events = [chunk({ role: 'assistant', content: '' }, null)];
  for (const p of pieces(text)) events.push(chunk({ content: p }, null));
  ctx.sseHead({ 'x-request-id': id });
  if (beh.kind === 'drop') return ctx.dropAfter(events.slice(0, 2));
  if (beh.kind === 'huge-event') {            // one event of N bytes of content
    const big = chunk({ content: 'x'.repeat(Math.min(beh.n, 64 * 1024 * 1024)) }, null);
    if (await ctx.emit([events[0], big, 'data: [DONE]\n\n'], delay)) ctx.end();
    return;
  }
  if (beh.kind === 'stream-error') {          // an error event, then a clean close
    const err = 'data: ' + JSON.stringify({ error: { message: 'The server had an error',
      type: 'server_error', param: null, code: null } }) + '\n\n';
    if (await ctx.emit([...events.slice(0, 2), err], delay)) ctx.end();
    return;
  }
  events.push(chunk({}, 'stop'));
  if (body.stream_options && body.stream_options.include_usage) {
    events.push('data: ' + JSON.stringify({
      id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_mock', choices: [], usage,
    }) + '\n\n');
  }
  events.push('data: [DONE]\n\n');
  if (await ctx.emit(events, delay)) ctx.end();
}

function embedInputs(input) {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input)) {
    if (input.length && input.every((x) => typeof x === 'number')) return [JSON.stringify(input)];
    return input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  }
  return [JSON.stringify(input ?? '')];
}

function oaiEmbeddings(ctx, body) {
  const inputs = embedInputs(body.input);
  const b64 = body.encoding_format === 'base64';
  const data = inputs.map((s, index) => {
    const v = embedding(s);
    return {
      object: 'embedding', index,
      embedding: b64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
    };
  });
  const pt = inputs.reduce((n, s) => n + ceilTok(s.length), 0);
  ctx.json(200, { object: 'list', data, model: body.model, usage: { prompt_tokens: pt, total_tokens: pt } });
}

function oaiImages(ctx, body) {
  const n = Math.max(1, Math.min(10, parseInt(body.n, 10) || 1));
  const data = [];
  for (let i = 1; i <= n; i++) data.push({ url: `https://example.invalid/img/${i}.png`, revised_prompt: body.prompt });
  ctx.json(200, { created: nowSec(), data });
}

function oaiModels(ctx) {
  const created = 1700000000;
  ctx.json(200, {
    object: 'list',
    data: ['echo', 'inspect'].map((id) => ({ id, object: 'model', created, owned_by: 'mock' })),
  });
}

async function handleOpenAI(ctx, endpoint, info, rawBody) {
  const { req } = ctx;
  if (endpoint === 'models') {
    if (req.method !== 'GET') return oaiError(ctx, 405, `method ${req.method} not allowed`);
    return oaiModels(ctx);
  }
  if (req.method !== 'POST') return oaiError(ctx, 405, `method ${req.method} not allowed`);
  const ct = String(req.headers['content-type'] || '').toLowerCase();
  if (!ct.startsWith('application/json')) return oaiError(ctx, 400, 'Content-Type must be application/json');
  const body = info.body;
  if (info.bodyInvalid || !body || typeof body !== 'object' || Array.isArray(body)) {
    return oaiError(ctx, 400, 'We could not parse the JSON body of your request.');
  }
  countModel(body.model);
  const beh = classify(body.model);
  if (await common(ctx, beh, body.model, body.stream === true, 'openai')) return;
  if (endpoint === 'chat/completions') return oaiChat(ctx, body, info);
  if (beh.kind === 'drop') return ctx.dropNow();
  await ctx.sleep(beh.delay || 0);
  if (endpoint === 'embeddings') return oaiEmbeddings(ctx, body);
  if (endpoint === 'images/generations') return oaiImages(ctx, body);
}

// ---------------------------------------------------------------- shared behaviours
// Handles hang / error / flaky / non-stream drop / slow non-chat. Returns true if handled.
async function common(ctx, beh, model, stream, fmt) {
  const err = { openai: oaiError, anthropic: antError, gemini: gemError }[fmt];
  if (beh.pad) ctx.extra = { 'x-mock-pad': 'p'.repeat(beh.pad) };
  if (beh.kind === 'hang') { ctx.hanging = true; return true; }
  if (beh.kind === 'error') {
    if (beh.html) { ctx.raw(beh.code, HTML_ERROR(beh.code), 'text/html; charset=utf-8'); return true; }
    err(ctx, beh.code);
    return true;
  }
  if (beh.kind === 'flaky') {
    if (flakyFails(String(model), beh.n)) {
      err(ctx, 503, 'mock flaky failure', { 'retry-after': '0' });
      return true;
    }
  }
  // ratelimit-N-S-KEY: the first N requests get the format's 429 asking for S
  // seconds (retry-after header; Gemini: RetryInfo only), then echo.
  if (beh.kind === 'ratelimit') {
    if (flakyFails(String(model), beh.n)) {
      err(ctx, 429, 'mock rate limit', { 'retry-after': String(beh.secs) }, beh.secs);
      return true;
    }
  }
  return false;
}

const MOCK_THOUGHT = 'Let me think about it.';
// A signature shaped like Anthropic's (base64 with '+', '/' and '='):
// relayed byte for byte, it must come back unchanged.
const MOCK_SIGNATURE = 'EqQBCkgIARABGAIiQL+/mock/Sig+nature==0123456789abcdefABCDEF/+=';

// ---------------------------------------------------------------- Anthropic
function antErrorType(code) {
  return ({
    400: 'invalid_request_error', 401: 'authentication_error', 402: 'billing_error', 403: 'permission_error',
    404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error',
    504: 'timeout_error', 529: 'overloaded_error',
  })[code] || (code >= 500 ? 'api_error' : 'invalid_request_error');
}
function antError(ctx, code, message, headers = {}) {
  if (code === 429) headers = { 'retry-after': '7', ...headers };
  ctx.json(code, { type: 'error', error: { type: antErrorType(code), message: message || `mock error ${code}` } },
    { 'request-id': newId('req_mock'), ...headers });
}

function antText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.filter((b) => b && b.type === 'text' && typeof b.text === 'string').map((b) => b.text).join('');
  }
  return '';
}
function antLastUser(messages) {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i] && messages[i].role === 'user') return antText(messages[i].content);
  }
  return '';
}
function antPromptChars(body) {
  let n = antText(body.system).length;
  if (Array.isArray(body.messages)) for (const m of body.messages) if (m) n += antText(m.content).length;
  return n;
}

async function handleAnthropic(ctx, info) {
  const { req } = ctx;
  if (req.method !== 'POST') return antError(ctx, 405, `method ${req.method} not allowed`);
  if (!req.headers['x-api-key']) return antError(ctx, 401, 'x-api-key header is required');
  if (!req.headers['anthropic-version']) return antError(ctx, 400, 'anthropic-version: header is required');
  const body = info.body;
  if (info.bodyInvalid || !body || typeof body !== 'object' || Array.isArray(body)) {
    return antError(ctx, 400, 'There was an issue with your request body: invalid JSON');
  }
  countModel(body.model);
  if (body.max_tokens === undefined || body.max_tokens === null) return antError(ctx, 400, 'max_tokens: Field required');
  const model = body.model;
  const beh = classify(model);
  const stream = body.stream === true;
  if (await common(ctx, beh, model, stream, 'anthropic')) return;

  if (beh.kind === 'fixture') {
    const name = safeName(beh.name);
    const buf = name && readFixture('anthropic', `${name}.txt`);
    if (!buf) return antError(ctx, 404, `fixture anthropic/${beh.name}.txt not found`);
    ctx.sseHead({ 'request-id': newId('req_mock') });
    if (await ctx.emit(splitEvents(buf))) ctx.end();
    return;
  }
  if (beh.kind === 'stream-error' && !stream) return antError(ctx, 529, 'Overloaded');

  let text, stopReason = 'end_turn', tool = null;
  if (beh.kind === 'inspect') text = JSON.stringify(info);
  else if (beh.kind === 'big') text = 'x'.repeat(beh.n);
  else text = antLastUser(body.messages);
  if (beh.kind === 'max-tokens') stopReason = 'max_tokens';
  if (beh.kind === 'tools' && Array.isArray(body.tools) && body.tools.length) {
    text = 'Let me check.';
    tool = { type: 'tool_use', id: 'toolu_mock1', name: body.tools[0].name, input: { location: 'Paris' } };
    stopReason = 'tool_use';
  }
  const delay = beh.delay || 0;
  const id = newId('msg_mock');
  const inputTokens = ceilTok(antPromptChars(body));
  const outputTokens = ceilTok(text.length + (tool ? JSON.stringify(tool.input).length : 0));
  const reqId = newId('req_mock');
  const cacheRead = beh.cacheRead || 0, cacheWrite = beh.cacheWrite || 0;

  if (!stream) {
    if (beh.kind === 'drop') return ctx.dropNow();
    await ctx.sleep(delay);
    if (beh.kind === 'json') {
      const forced = body.tool_choice && body.tool_choice.type === 'tool' ? body.tool_choice.name : 'none';
      return ctx.json(200, {
        id, type: 'message', role: 'assistant', model,
        content: [{ type: 'tool_use', id: 'toolu_json1', name: forced, input: { answer: text } }],
        stop_reason: 'tool_use', stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: outputTokens },
      }, { 'request-id': reqId });
    }
    const content = [{ type: 'text', text }];
    if (beh.kind === 'thinking') content.unshift({ type: 'thinking', thinking: MOCK_THOUGHT, signature: MOCK_SIGNATURE });
    if (tool) content.push(tool);
    return ctx.json(200, {
      id, type: 'message', role: 'assistant', model, content,
      stop_reason: stopReason, stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens, cache_read_input_tokens: cacheRead, cache_creation_input_tokens: cacheWrite },
    }, { 'request-id': reqId });
  }

  const ev = (name, obj) => `event: ${name}\ndata: ${JSON.stringify(obj)}\n\n`;
  const events = [
    ev('message_start', { type: 'message_start', message: {
      id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 1, cache_read_input_tokens: cacheRead, cache_creation_input_tokens: cacheWrite },
    } }),
    ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ev('ping', { type: 'ping' }),
  ];
  const deltas = pieces(text).map((p) => ev('content_block_delta',
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }));
  ctx.sseHead({ 'request-id': reqId });
  if (beh.kind === 'json') {                 // one tool_use block of the forced tool
    const forced = body.tool_choice && body.tool_choice.type === 'tool' ? body.tool_choice.name : 'none';
    const js = JSON.stringify({ answer: text });
    const k = Math.ceil(js.length / 3);
    const evs = [events[0], ev('content_block_start', { type: 'content_block_start', index: 0,
      content_block: { type: 'tool_use', id: 'toolu_json1', name: forced, input: {} } })];
    for (let i = 0; i < js.length; i += k) {
      evs.push(ev('content_block_delta', { type: 'content_block_delta', index: 0,
        delta: { type: 'input_json_delta', partial_json: js.slice(i, i + k) } }));
    }
    evs.push(ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: outputTokens } }),
      ev('message_stop', { type: 'message_stop' }));
    if (await ctx.emit(evs, delay)) ctx.end();
    return;
  }
  if (beh.kind === 'thinking') {             // a thinking block, then the text block
    const evs = [events[0],
      ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } }),
      ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: MOCK_THOUGHT } }),
      ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: MOCK_SIGNATURE } }),
      ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
      ev('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
      ...pieces(text).map((p) => ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: p } })),
      ev('content_block_stop', { type: 'content_block_stop', index: 1 }),
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } }),
      ev('message_stop', { type: 'message_stop' })];
    if (await ctx.emit(evs, delay)) ctx.end();
    return;
  }
  if (beh.kind === 'drop') return ctx.dropAfter([...events, ...deltas.slice(0, 1)]);
  if (beh.kind === 'stream-error') {
    const evs = [events[0], events[1], ev('content_block_delta',
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } }),
    ev('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })];
    if (await ctx.emit(evs, delay)) ctx.end();
    return;
  }
  events.push(...deltas);
  events.push(ev('content_block_stop', { type: 'content_block_stop', index: 0 }));
  if (tool) {
    events.push(ev('content_block_start', { type: 'content_block_start', index: 1,
      content_block: { type: 'tool_use', id: tool.id, name: tool.name, input: {} } }));
    const js = JSON.stringify(tool.input);
    const k = Math.ceil(js.length / 3);
    for (let i = 0; i < js.length; i += k) {
      events.push(ev('content_block_delta', { type: 'content_block_delta', index: 1,
        delta: { type: 'input_json_delta', partial_json: js.slice(i, i + k) } }));
    }
    events.push(ev('content_block_stop', { type: 'content_block_stop', index: 1 }));
  }
  events.push(ev('message_delta', { type: 'message_delta',
    delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } }));
  events.push(ev('message_stop', { type: 'message_stop' }));
  if (await ctx.emit(events, delay)) ctx.end();
}

// ---------------------------------------------------------------- Gemini
function gemStatus(code) {
  return ({
    400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
    409: 'ABORTED', 429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL', 501: 'NOT_IMPLEMENTED',
    503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
  })[code] || (code >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
}
function gemError(ctx, code, message, headers = {}, retrySecs = 3) {
  const error = { code, message: message || `mock error ${code}`, status: gemStatus(code) };
  if (code === 429) {
    error.details = [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retrySecs}s` }];
    const { 'retry-after': _ignored, ...rest } = headers;   // Google sends no retry-after
    headers = rest;
  }
  ctx.json(code, { error }, headers);
}

function gemPartsText(content) {
  if (!content || !Array.isArray(content.parts)) return '';
  return content.parts.filter((p) => p && typeof p.text === 'string').map((p) => p.text).join('');
}
function gemLastUser(contents) {
  if (!Array.isArray(contents)) return '';
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i];
    if (c && (c.role === 'user' || c.role === undefined)) return gemPartsText(c);
  }
  return '';
}
function gemPromptChars(body) {
  let n = gemPartsText(body.systemInstruction || body.system_instruction);
  n = n.length;
  if (Array.isArray(body.contents)) for (const c of body.contents) n += gemPartsText(c).length;
  return n;
}

function findGeminiFixture(name, ext) {
  let dirs = ['googleai', 'vertexai'];
  const d = /^(googleai|vertexai)\.(.+)$/.exec(name);
  if (d) { dirs = [d[1]]; name = d[2]; }
  const alt = name.startsWith('streaming-') ? 'unary-' + name.slice(10)
    : name.startsWith('unary-') ? 'streaming-' + name.slice(6) : null;
  for (const dir of dirs) {
    for (const n of [name, alt]) {
      if (!n) continue;
      const buf = readFixture('gemini', dir, `${n}.${ext}`);
      if (buf) return buf;
    }
  }
  return null;
}

async function handleGemini(ctx, model, method, info) {
  const { req } = ctx;
  if (req.method !== 'POST') return gemError(ctx, 405, `method ${req.method} not allowed`);
  if (!req.headers['x-goog-api-key']) {
    return gemError(ctx, 403, 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.');
  }
  const body = info.body;
  if (info.bodyInvalid || !body || typeof body !== 'object' || Array.isArray(body)) {
    return gemError(ctx, 400, 'Invalid JSON payload received.');
  }
  countModel(model);
  const beh = classify(model);
  const isStream = method === 'streamGenerateContent';
  const sse = isStream && info.query.alt === 'sse';
  if (await common(ctx, beh, model, isStream, 'gemini')) return;

  if (method === 'embedContent' || method === 'batchEmbedContents') {
    if (beh.kind === 'drop') return ctx.dropNow();
    await ctx.sleep(beh.delay || 0);
  }
  if (method === 'embedContent') {
    return ctx.json(200, { embedding: { values: embedding(gemPartsText(body.content)) } });
  }
  if (method === 'batchEmbedContents') {
    const reqs = Array.isArray(body.requests) ? body.requests : [];
    return ctx.json(200, { embeddings: reqs.map((r) => ({ values: embedding(gemPartsText(r && r.content)) })) });
  }

  if (beh.kind === 'fixture') {
    const name = safeName(beh.name);
    if (isStream) {
      const buf = name && findGeminiFixture(name, 'txt');
      if (!buf) return gemError(ctx, 404, `fixture gemini/googleai/${beh.name}.txt not found`);
      if (sse) {
        ctx.sseHead();
        if (await ctx.emit(splitEvents(buf))) ctx.end();
      } else {
        // JSON-array streaming (no alt=sse): convert the recorded data: lines.
        const objs = buf.toString('utf8').split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim());
        ctx.stream = true;
        ctx.res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
        if (await ctx.emit(objs.map((o, i) => (i === 0 ? '[' : ',\r\n') + o).concat([objs.length ? ']' : '[]']))) ctx.end();
      }
      return;
    }
    const buf = name && findGeminiFixture(name, 'json');
    if (!buf) return gemError(ctx, 404, `fixture gemini/googleai/${beh.name}.json not found`);
    let status = 200;
    try {
      const j = JSON.parse(buf.toString('utf8'));
      if (j && j.error && Number.isInteger(j.error.code)) status = j.error.code;
    } catch { /* send as is */ }
    return ctx.raw(status, buf, 'application/json; charset=UTF-8');
  }

  let parts;
  let text;
  if (beh.kind === 'tools' && Array.isArray(body.tools) && body.tools[0] &&
      Array.isArray(body.tools[0].functionDeclarations || body.tools[0].function_declarations)) {
    const decls = body.tools[0].functionDeclarations || body.tools[0].function_declarations;
    const fc = { name: decls[0] && decls[0].name, args: { location: 'Paris' } };
    parts = [{ functionCall: fc }];
    text = JSON.stringify(fc);
  } else {
    if (beh.kind === 'inspect') text = JSON.stringify(info);
    else if (beh.kind === 'big') text = 'x'.repeat(beh.n);
    else text = gemLastUser(body.contents);
    if (beh.kind === 'thinking') parts = [{ text: MOCK_THOUGHT, thought: true }, { text }];
  }
  const delay = beh.delay || 0;
  const finishReason = beh.kind === 'max-tokens' ? 'MAX_TOKENS' : 'STOP';
  const usageMetadata = { promptTokenCount: ceilTok(gemPromptChars(body)), candidatesTokenCount: ceilTok(text.length) };
  usageMetadata.totalTokenCount = usageMetadata.promptTokenCount + usageMetadata.candidatesTokenCount;
  if (beh.cacheRead) usageMetadata.cachedContentTokenCount = beh.cacheRead;
  const responseId = newId('mock');

  if (!isStream) {
    if (beh.kind === 'drop') return ctx.dropNow();
    await ctx.sleep(delay);
    const cand = { content: { parts: parts || [{ text }], role: 'model' }, finishReason, index: 0 };
    if (beh.kind === 'logprobs') {
      cand.logprobsResult = {
        topCandidates: [{ candidates: [{ token: text, logProbability: -0.25 }, { token: 'other', logProbability: -2 }] }],
        chosenCandidates: [{ token: text, logProbability: -0.25 }],
      };
    }
    return ctx.json(200, { candidates: [cand], usageMetadata, modelVersion: model, responseId });
  }

  const objs = [];
  if (parts) {
    objs.push({ candidates: [{ content: { parts, role: 'model' }, finishReason, index: 0 }], usageMetadata });
  } else {
    const ps = pieces(text);
    if (!ps.length) ps.push('');
    ps.forEach((p, i) => {
      const cand = { content: { parts: [{ text: p }], role: 'model' }, index: 0 };
      const o = { candidates: [cand] };
      if (i === ps.length - 1) { cand.finishReason = finishReason; o.usageMetadata = usageMetadata; }
      objs.push(o);
    });
  }
  for (const o of objs) { o.modelVersion = model; o.responseId = responseId; }
  let events;
  if (sse) {
    ctx.sseHead();
    events = objs.map((o) => `data: ${JSON.stringify(o)}\r\n\r\n`);
  } else {
    ctx.stream = true;
    ctx.res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    ctx.res.flushHeaders();
    events = objs.map((o, i) => (i === 0 ? '[' : ',\r\n') + JSON.stringify(o));
  }
  if (beh.kind === 'drop') return ctx.dropAfter(events.slice(0, 1));
  if (!sse) events.push(']');
  if (await ctx.emit(events, delay)) ctx.end();
}

// ---------------------------------------------------------------- hostile answers (issue 9)
// Answers that are not answers of their API, in each wire format, for t/upstream_invalid.t.
// The model name picks one (OpenAI, Anthropic and Gemini routes alike):
//   bad-truncated      200 JSON cut in the middle (its Content-Length matches what is sent)
//   bad-empty-object   200 {}                    bad-array   200 [1,2,3]
//   bad-openai-shape   200 an OpenAI chat.completion (wrong on the Anthropic and Gemini routes)
//   bad-cl-conflict    a valid answer with two different Content-Length headers
//   bad-cl-te          a valid answer with Content-Length and Transfer-Encoding: chunked
//   bad-cl-short       a valid answer shorter than its Content-Length, then close
//   bad-html-stream    200 text/html (to a stream request too)
//   bad-json-stream    200 application/json with a valid non-stream answer (to a stream request too)
//   bad-trunc-stream   a stream cut before its terminal event (no finish_reason / finishReason /
//                      message_stop), then a clean close
//   bad-done-nofinish  OpenAI stream: [DONE] but no finish_reason
//   bad-finish-nodone  OpenAI stream: finish_reason, then a close without [DONE]
//   bad-retry-after    429 with retry-after: 999999 (Gemini: RetryInfo 999999s too)
function hostileValid(fmt, model) {
  if (fmt === 'anthropic') {
    return { id: newId('msg_mock'), type: 'message', role: 'assistant', model,
      content: [{ type: 'text', text: 'hostile' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 1 } };
  }
  if (fmt === 'gemini') {
    return { candidates: [{ content: { parts: [{ text: 'hostile' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 }, modelVersion: model };
  }
  return { id: newId('chatcmpl-mock'), object: 'chat.completion', created: nowSec(), model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'hostile', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
}

// Writes a whole HTTP response by hand (framing node would refuse), then closes.
function hostileRaw(ctx, head, body) {
  ctx.dropped = true;
  const sock = ctx.req.socket;
  sock.write(`HTTP/1.1 200 OK\r\n${head.map((h) => h + '\r\n').join('')}Connection: close\r\n\r\n`);
  sock.end(body);
}

async function hostileAnswer(ctx, fmt, model, stream) {
  if (!/^bad-/.test(String(model))) return false;
  countModel(model);
  const valid = Buffer.from(JSON.stringify(hostileValid(fmt, model)));
  const chunk = (delta, finish) => 'data: ' + JSON.stringify({ id: 'chatcmpl-bad', object: 'chat.completion.chunk',
    created: nowSec(), model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }) + '\n\n';
  switch (model) {
    case 'bad-truncated':
      ctx.raw(200, valid.subarray(0, Math.floor(valid.length / 2)), 'application/json');
      return true;
    case 'bad-empty-object': ctx.raw(200, '{}', 'application/json'); return true;
    case 'bad-array': ctx.raw(200, '[1,2,3]', 'application/json'); return true;
    case 'bad-openai-shape':
      ctx.raw(200, JSON.stringify(hostileValid('openai', model)), 'application/json');
      return true;
    case 'bad-cl-conflict':
      hostileRaw(ctx, ['Content-Type: application/json', `Content-Length: ${valid.length}`,
        `Content-Length: ${valid.length + 7}`], valid);
      return true;
    case 'bad-cl-te':
      hostileRaw(ctx, ['Content-Type: application/json', `Content-Length: ${valid.length}`,
        'Transfer-Encoding: chunked'], `${valid.length.toString(16)}\r\n${valid}\r\n0\r\n\r\n`);
      return true;
    case 'bad-cl-short':
      hostileRaw(ctx, ['Content-Type: application/json', `Content-Length: ${valid.length + 100}`], valid);
      return true;
    case 'bad-html-stream':
      ctx.raw(200, '<!DOCTYPE html>\n<html><body><h1>Welcome</h1></body></html>\n', 'text/html; charset=utf-8');
      return true;
    case 'bad-json-stream': ctx.raw(200, valid, 'application/json'); return true;
    case 'bad-retry-after':
      if (fmt === 'gemini') gemError(ctx, 429, 'mock rate limit', { 'retry-after': '999999' }, 999999);
      else if (fmt === 'anthropic') antError(ctx, 429, 'mock rate limit', { 'retry-after': '999999' });
      else oaiError(ctx, 429, 'mock rate limit', { 'retry-after': '999999' });
      return true;
    default: break;
  }
  if (!stream) { ctx.raw(200, valid, 'application/json'); return true; }
  let events;
  if (fmt === 'anthropic') {
    const ev = (name, obj) => `event: ${name}\ndata: ${JSON.stringify(obj)}\n\n`;
    events = [
      ev('message_start', { type: 'message_start', message: { id: 'msg_bad', type: 'message', role: 'assistant',
        model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } } }),
      ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hel' } }),
    ];
  } else if (fmt === 'gemini') {
    events = [`data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: 'hel' }], role: 'model' }, index: 0 }],
      modelVersion: model })}\r\n\r\n`];
  } else if (model === 'bad-done-nofinish') {
    events = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'hel' }, null), 'data: [DONE]\n\n'];
  } else if (model === 'bad-finish-nodone') {
    events = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'hello' }, null), chunk({}, 'stop')];
  } else {
    events = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'hel' }, null)];
  }
  ctx.sseHead();
  if (await ctx.emit(events)) ctx.end();
  return true;
}
// ---------------------------------------------------------------- end of hostile answers

// ---------------------------------------------------------------- faulty upstreams (issue 17)
// Upstreams that misbehave at the transport level, OpenAI route (t/faults.t):
//   fault-reset        stream: the head and one chunk, then a TCP reset; else a reset at once
//   fault-stall        stream: the head and one chunk, then silence; else the head and half
//                      the body, then silence (until the gateway leaves)
//   fault-drip-MS      a valid answer (stream: every event up to [DONE]) written one byte
//                      every MS ms
//   fault-halfclose    the head and one chunk (stream) or half the body, then FIN (the
//                      socket stays open for reading)
// /__mock/stats fault_open: fault answers whose response is not closed yet (a gateway
// worker still holding one shows there).
let faultOpen = 0;
async function faultAnswer(ctx, model, stream) {
  const m = /^fault-(reset|stall|halfclose|drip-(\d+))$/.exec(String(model || ''));
  if (!m) return false;
  countModel(model);
  faultOpen++;
  ctx.res.once('close', () => { faultOpen--; });
  const sock = ctx.req.socket;
  const chunk = (delta, finish) => 'data: ' + JSON.stringify({ id: 'chatcmpl-fault', object: 'chat.completion.chunk',
    created: nowSec(), model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }) + '\n\n';
  const valid = Buffer.from(JSON.stringify(hostileValid('openai', model)));
  const events = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'drip' }, null),
    chunk({}, 'stop'), 'data: [DONE]\n\n'];
  ctx.dropped = true;                     // never counted as aborted
  if (m[1] === 'reset') {
    if (stream) { ctx.sseHead(); ctx.res.write(events[0]); }
    setTimeout(() => (sock.resetAndDestroy ? sock.resetAndDestroy() : sock.destroy()), stream ? 50 : 0);
    return true;
  }
  if (m[1] === 'stall' || m[1] === 'halfclose') {
    if (stream) { ctx.sseHead(); ctx.res.write(events[0]); }
    else {
      ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': valid.length });
      ctx.res.write(valid.subarray(0, Math.floor(valid.length / 2)));
    }
    if (m[1] === 'halfclose') setTimeout(() => sock.end(), 50);
    return true;
  }
  // drip
  const ms = parseInt(m[2], 10);
  const body = stream ? Buffer.from(events.join('')) : valid;
  if (stream) ctx.sseHead();
  else ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  ctx.res.flushHeaders();
  for (let i = 0; i < body.length; i++) {
    await new Promise((r) => setTimeout(r, ms));
    if (sock.destroyed || ctx.res.writableEnded) return true;
    ctx.res.write(body.subarray(i, i + 1));
  }
  ctx.res.end();
  return true;
}
// ---------------------------------------------------------------- end of faulty upstreams

// ---------------------------------------------------------------- control + routing
function countModel(model) {
  if (model === undefined || model === null || model === '') return;
  const k = String(model);
  stats.by_model[k] = (stats.by_model[k] || 0) + 1;
}

function handleControl(ctx, pathname) {
  const { req } = ctx;
  if (pathname === '/__mock/stats' && req.method === 'GET') return ctx.json(200, { ...stats, fault_open: faultOpen });
  if (pathname === '/__mock/reset' && (req.method === 'POST' || req.method === 'GET')) {
    resetState();
    lastRequest = null;
    return ctx.json(200, { ok: true });
  }
  if (pathname === '/__mock/last' && req.method === 'GET') {
    return ctx.json(200, lastRequest && { ...lastRequest, raw: lastRequest.raw });
  }
  return ctx.json(404, { error: { message: `unknown mock control endpoint ${pathname}`, type: 'not_found' } });
}

// ---------------------------------------------------------------- Anthropic count_tokens
function handleCountTokens(ctx, info) {
  const { req } = ctx;
  if (req.method !== 'POST') return antError(ctx, 405, `method ${req.method} not allowed`);
  if (!req.headers['x-api-key']) return antError(ctx, 401, 'x-api-key header is required');
  const body = info.body;
  if (info.bodyInvalid || !body || typeof body !== 'object') return antError(ctx, 400, 'invalid JSON');
  countModel(body.model);
  ctx.json(200, { input_tokens: ceilTok(antPromptChars(body)) });
}

// ---------------------------------------------------------------- OpenAI Responses (native)
// The text of the last user input of a Responses request.
function respLastUser(input) {
  if (typeof input === 'string') return input;
  if (!Array.isArray(input)) return '';
  for (let i = input.length - 1; i >= 0; i--) {
    const it = input[i];
    if (it && it.role === 'user') {
      if (typeof it.content === 'string') return it.content;
      if (Array.isArray(it.content)) return it.content.filter((p) => p && typeof p.text === 'string').map((p) => p.text).join('');
    }
  }
  return '';
}

async function handleResponses(ctx, info) {
  const { req } = ctx;
  if (req.method !== 'POST') return oaiError(ctx, 405, `method ${req.method} not allowed`);
  const body = info.body;
  if (info.bodyInvalid || !body || typeof body !== 'object' || Array.isArray(body)) {
    return oaiError(ctx, 400, 'We could not parse the JSON body of your request.');
  }
  countModel(body.model);
  const beh = classify(body.model);
  const stream = body.stream === true;
  if (await common(ctx, beh, body.model, stream, 'openai')) return;
  const text = beh.kind === 'inspect' ? JSON.stringify(info) : respLastUser(body.input);
  const id = newId('resp_mock'), msgId = newId('msg_mock');
  const usage = { input_tokens: ceilTok(JSON.stringify(body.input || '').length), input_tokens_details: { cached_tokens: 0 },
    output_tokens: ceilTok(text.length), output_tokens_details: { reasoning_tokens: 0 } };
  usage.total_tokens = usage.input_tokens + usage.output_tokens;
  const item = { id: msgId, type: 'message', status: 'completed', role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }] };
  const resp = (status, output, u) => ({ id, object: 'response', created_at: nowSec(), status, model: body.model,
    output, usage: u, error: null, incomplete_details: null, instructions: body.instructions || null,
    previous_response_id: body.previous_response_id || null, metadata: body.metadata || {} });
  if (!stream) {
    if (beh.kind === 'drop') return ctx.dropNow();
    await ctx.sleep(beh.delay || 0);
    return ctx.json(200, resp('completed', [item], usage));
  }
  let seq = 0;
  const ev = (type, obj) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...obj })}\n\n`;
  const events = [
    ev('response.created', { response: resp('in_progress', [], null) }),
    ev('response.in_progress', { response: resp('in_progress', [], null) }),
    ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }),
    ev('response.content_part.added', { item_id: msgId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
    ...pieces(text).map((p) => ev('response.output_text.delta', { item_id: msgId, output_index: 0, content_index: 0, delta: p })),
  ];
  ctx.sseHead({});
  if (beh.kind === 'drop') return ctx.dropAfter(events);
  events.push(
    ev('response.output_text.done', { item_id: msgId, output_index: 0, content_index: 0, text }),
    ev('response.content_part.done', { item_id: msgId, output_index: 0, content_index: 0, part: item.content[0] }),
    ev('response.output_item.done', { output_index: 0, item }),
    ev('response.completed', { response: resp('completed', [item], usage) }));
  if (await ctx.emit(events, beh.delay || 0)) ctx.end();
}

async function route(req, res, rawBody) {
  const ctx = makeCtx(req, res);
  const url = new URL(req.url, 'http://127.0.0.1');
  const pathname = url.pathname;
  if (pathname.startsWith('/__mock/')) return handleControl(ctx, pathname);

  let body = null, bodyInvalid = false;
  if (rawBody.length) {
    try { body = JSON.parse(rawBody.toString('utf8')); } catch { body = rawBody.toString('utf8'); bodyInvalid = true; }
  }
  const info = {
    method: req.method, path: pathname, query: Object.fromEntries(url.searchParams),
    headers: req.headers, body,
  };
  lastRequest = info;
  stats.requests++;
  stats.by_path[pathname] = (stats.by_path[pathname] || 0) + 1;
  Object.defineProperty(info, 'bodyInvalid', { value: bodyInvalid, enumerable: false });
  // the bytes as they came, for GET /__mock/last only (not in `inspect`)
  Object.defineProperty(info, 'raw', { value: rawBody.toString('utf8'), enumerable: false });

  let m;
  if ((m = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(pathname))
      && await hostileAnswer(ctx, 'gemini', decodeURIComponent(m[1]), m[2] === 'streamGenerateContent')) return;
  if (body && typeof body === 'object' && !/\/v1\/messages$/.test(pathname)
      && await faultAnswer(ctx, body.model, body.stream === true)) return;
  if (body && typeof body === 'object' && await hostileAnswer(ctx,
      /\/v1\/messages$/.test(pathname) ? 'anthropic' : 'openai', body.model, body.stream === true)) return;
  if (/\/v1\/messages$/.test(pathname)) return handleAnthropic(ctx, info);
  if (/\/v1\/messages\/count_tokens$/.test(pathname)) return handleCountTokens(ctx, info);
  if (/\/v1\/responses$/.test(pathname)) return handleResponses(ctx, info);
  if ((m = /\/models\/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/.exec(pathname))) {
    return handleGemini(ctx, decodeURIComponent(m[1]), m[2], info);
  }
  if ((m = /\/v1\/(chat\/completions|embeddings|images\/generations|models)$/.exec(pathname))) {
    return handleOpenAI(ctx, m[1], info, rawBody);
  }
  ctx.json(404, { error: { message: `Unknown request URL: ${req.method} ${pathname}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } });
}

const MAX_BODY = 64 * 1024 * 1024;
const server = http.createServer({ keepAlive: true, noDelay: true }, (req, res) => {
  const chunks = [];
  let size = 0, tooBig = false;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) { tooBig = true; return; }
    chunks.push(c);
  });
  req.on('end', () => {
    if (tooBig) {
      const b = JSON.stringify({ error: { message: 'request body too large', type: 'invalid_request_error', param: null, code: null } });
      res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      return res.end(b);
    }
    Promise.resolve(route(req, res, Buffer.concat(chunks))).catch((e) => {
      process.stderr.write(`mock provider: handler error: ${e && e.stack || e}\n`);
      if (!res.headersSent) {
        const b = JSON.stringify({ error: { message: 'mock internal error', type: 'server_error', param: null, code: null } });
        res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
        res.end(b);
      } else {
        res.destroy();
      }
    });
  });
  req.on('error', () => {});
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.requestTimeout = 0;
server.on('connection', (s) => { stats.connections++; s.setNoDelay(true); });
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

server.listen(opts.port, '127.0.0.1', () => {
  const port = server.address().port;
  if (opts.portFile) {
    const tmp = `${opts.portFile}.tmp`;
    fs.writeFileSync(tmp, `${port}\n`);
    fs.renameSync(tmp, opts.portFile);
  }
  process.stdout.write(`mock provider listening on 127.0.0.1:${port}\n`);
});
server.on('error', (e) => {
  process.stderr.write(`mock provider: ${e.message}\n`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
