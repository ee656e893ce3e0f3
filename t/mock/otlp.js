#!/usr/bin/env node
// A small OTLP/HTTP (JSON) trace receiver for t/otlp.t. Listens on 127.0.0.1
// only and records what it receives.
//
//   node t/mock/otlp.js --port-file FILE
//
// POST /v1/traces            records the body's spans, answers {} (or never
//                            answers while the mode is "hang")
// GET  /__otlp/spans         {"posts":N,"spans":[{...span, "resource":{attributes}}]}
// POST /__otlp/mode?hang=1   hang (1) or answer (0)
// POST /__otlp/reset         forgets everything
'use strict';
const http = require('node:http');
const fs = require('node:fs');

let portFile = null;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port-file') portFile = process.argv[++i];
}
let spans = [], posts = 0, hang = false, bad = 0;
const held = [];

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'POST' && url.pathname === '/v1/traces') {
      if (hang) { held.push(res); return; }
      posts++;
      try {
        if (!/^application\/json/.test(req.headers['content-type'] || '')) throw new Error('type');
        const doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const rs of doc.resourceSpans || []) {
          for (const ss of rs.scopeSpans || []) {
            for (const sp of ss.spans || []) {
              spans.push({ ...sp, resource: (rs.resource || {}).attributes || [], scope: ss.scope || {} });
            }
          }
        }
      } catch (e) {
        bad++;
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"bad request"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/__otlp/spans') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ posts, bad, spans }));
      return;
    }
    if (req.method === 'POST' && url.pathname === '/__otlp/mode') {
      hang = url.searchParams.get('hang') === '1';
      if (!hang) while (held.length) held.pop().destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hang }));
      return;
    }
    if (req.method === 'POST' && url.pathname === '/__otlp/reset') {
      spans = []; posts = 0; bad = 0;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    res.writeHead(404);
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  if (portFile) fs.writeFileSync(portFile, String(port));
  process.stdout.write(`otlp receiver on 127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
