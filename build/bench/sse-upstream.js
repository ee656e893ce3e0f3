#!/usr/bin/env node
// llmgw bench: streaming upstream (OpenAI chat.completion.chunk SSE).
// Any POST answers a stream of N content chunks, one every MS milliseconds;
// the first event (role) is written at once so time-to-first-chunk measures
// the proxies, not this server. N and MS come from the model name
// "stream-N-MS" (default 64 chunks, 20 ms apart).
//   node sse-upstream.js --port N [--port-file F]
'use strict';
const http = require('node:http');
const fs = require('node:fs');
let port = 0, portFile = null;
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i++) {
  if (a[i] === '--port') port = parseInt(a[++i], 10);
  else if (a[i] === '--port-file') portFile = a[++i];
}
let seq = 0;
const server = http.createServer((req, res) => {
  const body = [];
  req.on('data', (c) => body.push(c));
  req.on('end', () => {
    let n = 64, ms = 20, model = 'bench';
    try {
      const j = JSON.parse(Buffer.concat(body).toString('utf8'));
      model = String(j.model || model);
      const m = /stream-(\d+)-(\d+)$/.exec(model);
      if (m) { n = parseInt(m[1], 10); ms = parseInt(m[2], 10); }
    } catch (e) { /* default stream */ }
    req.socket.setNoDelay(true);
    const id = 'chatcmpl-bench' + (++seq);
    const created = Math.floor(Date.now() / 1000);
    const ev = (delta, finish) => 'data: ' + JSON.stringify({
      id, object: 'chat.completion.chunk', created, model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    }) + '\n\n';
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (/\/messages$/.test(req.url)) return anthropic(res, n, ms, model);
    const g = /\/models\/([^/:?]+):streamGenerateContent/.exec(req.url);
    if (g) {
      const gm = /stream-(\d+)-(\d+)$/.exec(decodeURIComponent(g[1]));
      if (gm) { n = parseInt(gm[1], 10); ms = parseInt(gm[2], 10); }
      return gemini(res, n, ms, decodeURIComponent(g[1]));
    }
    res.write(ev({ role: 'assistant', content: '' }, null));
    let i = 0, timer = null;
    const tick = () => {
      if (res.destroyed) return;
      if (i < n) {
        res.write(ev({ content: 'tok' + (i % 10) }, null));
        i++;
        timer = setTimeout(tick, ms);
        return;
      }
      res.write(ev({}, 'stop'));
      res.end('data: [DONE]\n\n');
    };
    timer = setTimeout(tick, ms);
    res.on('close', () => clearTimeout(timer));
  });
});
// POST .../messages: the same stream in the Anthropic Messages format
// (message_start, content_block_start, N text deltas, stop events).
function anthropic(res, n, ms, model) {
  const ev = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
  res.write(ev('message_start', { message: { id: 'msg_bench' + (++seq), type: 'message', role: 'assistant',
    model, content: [], stop_reason: null, stop_sequence: null,
    usage: { input_tokens: 25, output_tokens: 1 } } }) +
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
  let i = 0, timer = null;
  const tick = () => {
    if (res.destroyed) return;
    if (i < n) {
      res.write(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'tok' + (i % 10) } }));
      i++;
      timer = setTimeout(tick, ms);
      return;
    }
    res.end(ev('content_block_stop', { index: 0 }) +
      ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: n } }) +
      ev('message_stop', {}));
  };
  timer = setTimeout(tick, ms);
  res.on('close', () => clearTimeout(timer));
}
// POST .../models/M:streamGenerateContent?alt=sse: the same stream in
// Gemini's format (N GenerateContentResponse events, the last with its
// finishReason; the model named in the path: stream-N-MS).
function gemini(res, n, ms, model) {
  const ev = (o) => 'data: ' + JSON.stringify(o) + '\r\n\r\n';
  const usage = (c) => ({ promptTokenCount: 25, candidatesTokenCount: c, totalTokenCount: 25 + c,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: 25 }] });
  const chunk = (i, last) => ev({
    candidates: [{ content: { parts: [{ text: 'tok' + (i % 10) }], role: 'model' },
      ...(last ? { finishReason: 'STOP' } : {}), index: 0 }],
    usageMetadata: usage(i + 1), modelVersion: model, responseId: 'bench' + seq });
  ++seq;
  let i = 0, timer = null;
  const tick = () => {
    if (res.destroyed) return;
    if (i < n) {
      res.write(chunk(i, i === n - 1));
      i++;
      if (i === n) return res.end();
      timer = setTimeout(tick, ms);
    }
  };
  tick();
  res.on('close', () => clearTimeout(timer));
}
server.keepAliveTimeout = 120000;
server.headersTimeout = 130000;
server.requestTimeout = 0;
server.maxConnections = 100000;
// a deep accept queue: the 10,000-streams scenario connects in a burst (the
// kernel caps it at net.core.somaxconn)
server.listen(port, '127.0.0.1', 65535, () => {
  if (portFile) fs.writeFileSync(portFile, String(server.address().port));
});
