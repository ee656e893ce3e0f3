#!/usr/bin/env node
// llmgw bench: streaming client.
//   node stream-client.js URL BODYFILE [--n 20] [--stagger MS] [--header 'K: V']...
// Sends N streaming POSTs (one every --stagger ms, so they overlap little) and
// prints one JSON line: median/p90 time to the first `data:` line (ms), median
// time from first to last data line (ms), chunks per stream, errors.
// --concurrent sends all N at once (the 1,000-streams scenario); --sequential
// sends them one after the other on one keep-alive connection. --ramp MS
// spreads the starts of --concurrent evenly over MS milliseconds (10,000
// connects at once only measure the accept queues). --alternate URL2
// --out2 FILE (with --sequential): one request to URL, one to URL2, and so
// on, each on its own kept-alive connection, so that both see the same
// load; URL2's line goes to FILE.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const args = process.argv.slice(2);
const url = new URL(args[0]);
const body = fs.readFileSync(args[1]);
let n = 20, stagger = 100, concurrent = false, sequential = false, timeoutMs = 60000, ramp = 0;
let url2 = null, out2 = null;
const headers = { 'content-type': 'application/json', 'content-length': body.length };
for (let i = 2; i < args.length; i++) {
  if (args[i] === '--n') n = parseInt(args[++i], 10);
  else if (args[i] === '--stagger') stagger = parseInt(args[++i], 10);
  else if (args[i] === '--concurrent') concurrent = true;
  else if (args[i] === '--sequential') sequential = true;
  else if (args[i] === '--ramp') ramp = parseInt(args[++i], 10);
  else if (args[i] === '--alternate') url2 = new URL(args[++i]);
  else if (args[i] === '--out2') out2 = args[++i];
  else if (args[i] === '--timeout') timeoutMs = parseInt(args[++i], 10) * 1000;
  else if (args[i] === '--header') {
    const h = args[++i]; const c = h.indexOf(':');
    headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
  }
}
// --sequential: one request after the other on one kept-alive connection, so
// the first-chunk time has no connect and no other stream in it.
let agent;
function one(u = url, ag = agent) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const r = { ttfb: null, first: null, last: null, chunks: 0, done: false, error: null, status: 0 };
    let buf = '';
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search,
      method: 'POST', headers, agent: ag }, (res) => {
      r.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let k;
        while ((k = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, k).replace(/\r$/, '');
          buf = buf.slice(k + 1);
          if (!line.startsWith('data:')) continue;
          const now = Number(process.hrtime.bigint() - t0) / 1e6;
          if (r.first === null) { r.first = now; r.ttfb = now; }
          r.last = now;
          const p = line.slice(5).trim();
          // the end: OpenAI's [DONE], Anthropic's message_stop
          if (p === '[DONE]' || p.startsWith('{"type":"message_stop"')) r.done = true;
          else {
            r.chunks++;
            if (p.includes('"error"')) r.error = r.error || 'error event';
          }
        }
      });
      res.on('end', () => resolve(r));
      res.on('error', (e) => { r.error = String(e); resolve(r); });
    });
    req.setNoDelay(true);
    req.setTimeout(timeoutMs, () => { r.error = 'timeout'; req.destroy(); });
    req.on('error', (e) => { r.error = r.error || String(e.code || e); resolve(r); });
    req.end(body);
  });
}
const sleep = (ms) => new Promise((s) => setTimeout(s, ms));
const med = (a) => { if (!a.length) return null; const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const pct = (a, p) => { if (!a.length) return null; const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]; };
function summary(rs, t0) {
  const ok = rs.filter((r) => r.status === 200 && r.done && !r.error);
  const errs = {};
  for (const r of rs) if (!(r.status === 200 && r.done && !r.error)) {
    const k = r.error || (r.status !== 200 ? 'status ' + r.status : 'no [DONE]');
    errs[k] = (errs[k] || 0) + 1;
  }
  const ttfb = ok.map((r) => r.ttfb), spread = ok.map((r) => r.last - r.first);
  return JSON.stringify({
    n: rs.length, ok: ok.length, errors: rs.length - ok.length, error_kinds: errs,
    ttfb_ms_p50: med(ttfb), ttfb_ms_p90: pct(ttfb, 0.9),
    spread_ms_p50: med(spread), spread_ms_min: ok.length ? Math.min(...spread) : null,
    chunks_min: ok.length ? Math.min(...ok.map((r) => r.chunks)) : null,
    chunks_total: ok.reduce((a, r) => a + r.chunks, 0),
    wall_s: (Date.now() - t0) / 1000,
  });
}
(async () => {
  agent = sequential ? new http.Agent({ keepAlive: true, maxSockets: 1 })
    : new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const agent2 = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ps = [], ps2 = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    if (sequential) {
      ps.push(await one());
      if (url2) ps2.push(await one(url2, agent2));
    }
    else ps.push(one());
    if (!concurrent && stagger > 0) await sleep(stagger);
    else if (concurrent && ramp > 0 && i % 100 === 99) await sleep(ramp / (n / 100));
  }
  console.log(summary(await Promise.all(ps), t0));
  if (url2 && out2) fs.writeFileSync(out2, summary(ps2, t0) + '\n');
})();
