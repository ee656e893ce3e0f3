#!/usr/bin/env node
// llmgw bench: time to the first SSE `data:` line, several targets interleaved
// request by request (so machine load hits them alike).
//   node ttfb-compare.js BODYFILE N NAME=URL[|Header: v|Header: v] ...
// Each target has its own kept-alive connection; the N rounds send one stream
// to each target in turn, waiting for each to end. Prints one JSON object:
// {NAME: {ok, errors, ttfb_ms_p50, ttfb_ms_p90, error}}.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const [bodyFile, nStr, ...specs] = process.argv.slice(2);
const body = fs.readFileSync(bodyFile);
const n = parseInt(nStr, 10);
const targets = specs.map((s) => {
  const eq = s.indexOf('=');
  const [url, ...hs] = s.slice(eq + 1).split('|');
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  for (const h of hs) { const c = h.indexOf(':'); headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim(); }
  return { name: s.slice(0, eq), url: new URL(url), headers,
    agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), ttfb: [], errors: 0, error: null };
});
function one(t) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let first = null, done = false, buf = '', bad = null;
    const req = http.request({ host: t.url.hostname, port: t.url.port, path: t.url.pathname,
      method: 'POST', headers: t.headers, agent: t.agent }, (res) => {
      if (res.statusCode !== 200) bad = 'status ' + res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (d) => {
        if (first === null && d.includes('data:')) first = Number(process.hrtime.bigint() - t0) / 1e6;
        buf += d;
        if (buf.includes('data: [DONE]')) done = true;
        if (buf.length > 65536) buf = buf.slice(-64);
      });
      res.on('end', () => resolve({ first, ok: !bad && done, error: bad || (done ? null : 'no [DONE]') }));
    });
    req.setNoDelay(true);
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ first: null, ok: false, error: String(e.code || e.message) }));
    req.end(body);
  });
}
const pct = (a, p) => { if (!a.length) return null; const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]; };
(async () => {
  for (const t of targets) await one(t); // warm: open the connections
  for (let i = 0; i < n; i++) {
    for (const t of targets) {
      const r = await one(t);
      if (r.ok) t.ttfb.push(r.first); else { t.errors++; t.error = r.error; }
    }
  }
  const out = {};
  for (const t of targets) out[t.name] = { ok: t.ttfb.length, errors: t.errors, error: t.error,
    ttfb_ms_p50: pct(t.ttfb, 0.5), ttfb_ms_p90: pct(t.ttfb, 0.9) };
  console.log(JSON.stringify(out));
  process.exit(0);
})();
