#!/usr/bin/env node
// llmgw bench: prints the table and the ratios from the raw results.
//   node summarize.js DIR
// DIR/results.tsv: "setup<TAB>round<TAB>metric<TAB>value" lines;
// DIR/status.tsv: "setup<TAB>ok|n/a|FAIL<TAB>reason"; DIR/rss.json (rss-sampler);
// DIR/meta.tsv: "key<TAB>value".
'use strict';
const fs = require('node:fs');
const dir = process.argv[2];
const read = (f) => { try { return fs.readFileSync(`${dir}/${f}`, 'utf8'); } catch (e) { return ''; } };
const lines = (f) => read(f).split('\n').filter(Boolean).map((l) => l.split('\t'));
const meta = Object.fromEntries(lines('meta.tsv'));
const SETUPS = JSON.parse(meta.setups || '[]'); // [[id, label, rssName]]
const AA = meta.aa || '';
const status = {};
for (const [s, st, why] of lines('status.tsv')) status[s] = { st, why: why || '' };
const vals = {}, byRound = {}; // byRound[s][m][round] = value
for (const [s, r, m, v] of lines('results.tsv')) {
  (vals[s] = vals[s] || {})[m] = vals[s][m] || [];
  vals[s][m].push(parseFloat(v));
  ((byRound[s] = byRound[s] || {})[m] = byRound[s][m] || {})[r] = parseFloat(v);
}
let rss = {};
try { rss = JSON.parse(read('rss.json') || '{}'); } catch (e) { /* none */ }
const median = (a) => {
  if (!a || !a.length) return null;
  const s = [...a].sort((x, y) => x - y), k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
};
const M = (s, m) => median((vals[s] || {})[m]);
const sum = (s, m) => ((vals[s] || {})[m] || []).reduce((a, b) => a + b, 0);
const f0 = (x) => (x == null ? '-' : Math.round(x).toString());
const f1 = (x) => (x == null ? '-' : x.toFixed(1));
const f2 = (x) => (x == null ? '-' : x.toFixed(2));
const us = (x) => (x == null ? '-' : x >= 10000 ? (x / 1000).toFixed(1) + 'ms' : Math.round(x) + 'us');
const sgn = (x, fmt) => (x == null ? '-' : (x >= 0 ? '+' : '') + fmt(x));

const direct = 'a';
const p50a = M(direct, 'p50_us'), ttfbA = M(direct, 'ttfb_ms');
const hdr = ['setup', 'req/s c' + (meta.conc || '?'), 'CPU/req', 'p50 c1', 'p99 c1', '+p50', 'TTFB', '+TTFB', 'spread', 'peak RSS', 'errors'];
const rows = [];
for (const [id, label, rssName] of SETUPS) {
  const st = status[id] || { st: 'n/a', why: 'not run' };
  if (st.st !== 'ok') {
    rows.push([`(${id}) ${label}`, st.st + (st.why ? ': ' + st.why : '')]);
    continue;
  }
  const p50 = M(id, 'p50_us'), ttfb = M(id, 'ttfb_ms');
  const r = rss[rssName];
  const errs = sum(id, 'errors') + sum(id, 'stream_errors');
  rows.push([`(${id}) ${label}`, f0(M(id, 'rps')), M(id, 'cpu_us') == null ? '' : f1(M(id, 'cpu_us')) + 'us', us(p50), us(M(id, 'p99_us')),
    id === direct ? '' : sgn(p50 != null && p50a != null ? p50 - p50a : null, (x) => Math.round(x) + 'us'),
    ttfb == null ? ((vals[id] || {}).stream_failed ? 'failed' : '') : f2(ttfb) + 'ms',
    ttfb == null || id === direct ? '' : sgn(ttfbA != null ? ttfb - ttfbA : null, (x) => x.toFixed(2) + 'ms'),
    M(id, 'spread_ms') == null ? '' : f0(M(id, 'spread_ms')) + 'ms',
    r ? f1(r.peak_kb / 1024) + ' MB' : '', String(errs)]);
}
const width = hdr.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length > 2).map((r) => String(r[i] ?? '').length)));
const line = (r) => r.length <= 2 ? r[0].padEnd(width[0]) + '  ' + r[1]
  : r.map((c, i) => (i === 0 ? String(c).padEnd(width[i]) : String(c).padStart(width[i]))).join('  ');
console.log('');
console.log(`llmgw bench: ${meta.machine || ''}`);
console.log(`rounds=${meta.rounds} (medians), wrk -t2 -c${meta.conc} ${meta.dur}s per setup per round in ${meta.slice}s slices${meta.pin ? ', ' + meta.pin : ''}; ` +
  `latency wrk -t1 -c1 --latency ${meta.dur1}s; 1 KB POST; stream = ${meta.stream_desc || ''}`);
console.log('');
console.log(line(hdr));
console.log(width.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
console.log('');
console.log('req/s, CPU/req: per round every setup runs c' + meta.conc + ' in ' + (meta.slice || '?') + ' s slices, all setups interleaved (A B C .. C B A ..), ' + meta.dur + ' s each;');
console.log('CPU/req = run time (ns, /proc/*/task/*/schedstat) of the setup\'s processes (httpd parent and children; Portkey: node)');
console.log('from the start of each of its slices to when they are idle again, over its slices, / its requests (d e i j k l share');
console.log('one httpd: each measured around its own slices). Ratios: per round (the setups interleaved in it), then the median over rounds.');
console.log('+p50: added median latency over (a) at one connection; TTFB: time to the first SSE `data:` line');
console.log('(per round the median of ' + (meta.stream_n || '?') + ' short streams per setup, setups interleaved request by request; then the median');
console.log('over rounds); spread: first-to-last data line of a');
console.log('64-chunk stream sent 20 ms apart, shortest of 3 (batched if much below 1260 ms); errors: non-2xx + socket errors + failed streams;');
console.log('peak RSS: sum over the httpd children of that instance (Portkey: its node process), sampled every 250 ms.');
console.log('');
const ok = (s) => status[s] && status[s].st === 'ok';
// a ratio is paired: a/b of each round (the setups ran interleaved in it),
// then the median over the rounds
const ratio = (a, b, m) => {
  if (!ok(a) || !ok(b)) return null;
  const ra = (byRound[a] || {})[m] || {}, rb = (byRound[b] || {})[m] || {};
  return median(Object.keys(ra).filter((r) => ra[r] && rb[r]).map((r) => ra[r] / rb[r]));
};
// a difference likewise: a - b of each round, then the median
const diff = (a, b, m) => {
  if (!ok(a) || !ok(b)) return null;
  const ra = (byRound[a] || {})[m] || {}, rb = (byRound[b] || {})[m] || {};
  return median(Object.keys(ra).filter((r) => ra[r] != null && rb[r] != null).map((r) => ra[r] - rb[r]));
};
const checks = [];
const chk = (name, v, fmt, target, pass) => checks.push([name, v == null ? 'n/a' : fmt(v), target, v == null ? 'n/a' : pass(v) ? 'PASS' : 'MISS']);
chk('miss path (d) / mod_proxy (c), CPU/req', ratio('d', 'c', 'cpu_us'), (x) => f2(x) + 'x', '<= 1.0x', (x) => x <= 1.0);
if (AA) chk(`A/A: (${AA}) measured again as (aa) / (${AA}), CPU/req`, ratio('aa', AA, 'cpu_us'), (x) => f2(x) + 'x', '1.00x +-3%', (x) => Math.abs(x - 1) <= 0.03);
chk('miss path (d) / mod_proxy (c), req/s', ratio('d', 'c', 'rps'), (x) => f2(x) + 'x', '>= 1.0x', (x) => x >= 1.0);
chk('anthropic (e) / miss path (d), CPU/req', ratio('e', 'd', 'cpu_us'), (x) => f2(x) + 'x', '<= 1.15x', (x) => x <= 1.15);
chk('gemini (l) / miss path (d), CPU/req', ratio('l', 'd', 'cpu_us'), (x) => f2(x) + 'x', '<= 1.15x', (x) => x <= 1.15);
chk('messages -> openai (i) / miss path (d), CPU/req', ratio('i', 'd', 'cpu_us'), (x) => f2(x) + 'x', '<= 1.15x', (x) => x <= 1.15);
chk('responses -> openai (j) / miss path (d), CPU/req', ratio('j', 'd', 'cpu_us'), (x) => f2(x) + 'x', '<= 1.15x', (x) => x <= 1.15);
chk('messages relayed (k) / miss path (d), CPU/req', ratio('k', 'd', 'cpu_us'), (x) => f2(x) + 'x', '(info)', () => true);
chk('cache hit shm (f1) / static (b), CPU/req', ratio('f1', 'b', 'cpu_us'), (x) => f2(x) + 'x', '(info)', () => true);
chk('cache hit memcached (f2) / static (b), CPU/req', ratio('f2', 'b', 'cpu_us'), (x) => f2(x) + 'x', '(info)', () => true);
chk('quota on (g) / miss path (d), CPU/req', ratio('g', 'd', 'cpu_us'), (x) => f2(x) + 'x', '(info)', () => true);
chk('managed key (m) - LLMGWKey (g), CPU/req', ok('m') && ok('g') ? M('m', 'cpu_us') - M('g', 'cpu_us') : null, (x) => f1(x) + 'us', '(info)', () => true);
chk('stream CPU/chunk, relayed: (d) / mod_proxy (c)', ratio('d', 'c', 'stream_cpu_oai'), (x) => f2(x) + 'x', '<= 1.1x', (x) => x <= 1.1);
chk('stream CPU/chunk, Anthropic->OpenAI (d) / mod_proxy relaying it (c)', ratio('d', 'c', 'stream_cpu_ant'), (x) => f2(x) + 'x', '<= 1.1x', (x) => x <= 1.1);
chk('miss path (d) / Portkey (h), req/s', ratio('d', 'h', 'rps'), (x) => f1(x) + 'x', '>= 15x', (x) => x >= 15);
chk('anthropic (e) / miss path (d), req/s', ratio('e', 'd', 'rps'), (x) => f2(x) + 'x', '(info)', () => true);
chk('cache hit shm (f1) / static (b), req/s', ratio('f1', 'b', 'rps'), (x) => f2(x) + 'x', '>= 1.0x', (x) => x >= 1.0);
// a hit is at least one get: 0 means the count failed (memcached unreachable)
chk('memcached commands per cache hit (f2)', ok('f2') ? M('f2', 'store_ops') : null, (x) => f2(x), '<= 1', (x) => x > 0 && x <= 1.0);
chk('cache hit memcached (f2) / static (b), req/s', ratio('f2', 'b', 'rps'), (x) => f2(x) + 'x', '>= 0.8x', (x) => x >= 0.8);
chk('dead OTLP collector (o) / miss path (d), req/s', ratio('o', 'd', 'rps'), (x) => f2(x) + 'x', '>= 0.95x', (x) => x >= 0.95);
chk('added p50, dead OTLP collector (o) - miss (d)', diff('o', 'd', 'p50_us'), (x) => Math.round(x) + 'us', '<= 5us', (x) => x <= 5);
chk('quota on (g) / miss path (d), req/s', ratio('g', 'd', 'rps'), (x) => f2(x) + 'x', '(info)', () => true);
chk('messages -> openai (i) / miss path (d), req/s', ratio('i', 'd', 'rps'), (x) => f2(x) + 'x', '(info)', () => true);
chk('responses -> openai (j) / miss path (d), req/s', ratio('j', 'd', 'rps'), (x) => f2(x) + 'x', '(info)', () => true);
chk('messages relayed (k) / miss path (d), req/s', ratio('k', 'd', 'rps'), (x) => f2(x) + 'x', '(info)', () => true);
chk('messages -> openai (i) / chat -> anthropic (e), req/s', ratio('i', 'e', 'rps'), (x) => f2(x) + 'x', '(info)', () => true);
chk('added p50, miss path (d) - direct (a)', diff('d', 'a', 'p50_us'), (x) => Math.round(x) + 'us', '<= 100us', (x) => x <= 100);
chk('added p50 at c1, miss path (d) - mod_proxy (c)', diff('d', 'c', 'p50_us'), (x) => Math.round(x) + 'us', '<= 10us', (x) => x <= 10);
chk('added p50, mod_proxy (c) - direct (a)', diff('c', 'a', 'p50_us'), (x) => Math.round(x) + 'us', '(info)', () => true);
chk('stream first chunk added, (d) - (a)', ok('d') && ok('a') && M('d', 'ttfb_ms') != null ? M('d', 'ttfb_ms') - ttfbA : null, (x) => x.toFixed(2) + 'ms', '<= 1ms', (x) => x <= 1);
chk('stream spread (d), first to last chunk', ok('d') ? M('d', 'spread_ms') : null, (x) => Math.round(x) + 'ms', '>= 1000ms (not batched)', (x) => x >= 1000);
const sc = (s, k) => M(s, 'stream_cpu_' + k);
if (sc('c', 'oai') != null || sc('d', 'oai') != null) {
  console.log(`stream CPU per relayed chunk (${meta.stream_cpu_n || '?'} concurrent 64-chunk streams per batch, CPU of the instance / (streams x 64)):`);
  console.log(`  OpenAI-format stream relayed:      mod_proxy_http (c) ${f2(sc('c', 'oai'))}us   gateway (d) ${f2(sc('d', 'oai'))}us`);
  console.log(`  Anthropic-format upstream:         mod_proxy_http (c) ${f2(sc('c', 'ant'))}us (relays it)   gateway (d) ${f2(sc('d', 'ant'))}us (translates to OpenAI)`);
  console.log('');
}
// per-round dispersion of CPU/req and of the CPU/req ratios: what one round says
const rounds = (s, m) => Object.entries((byRound[s] || {})[m] || {}).sort((x, y) => x[0] - y[0]);
const spread = (a) => { const m = median(a); return m ? (Math.max(...a) - Math.min(...a)) / m * 100 : null; };
const disp = [];
for (const [id] of SETUPS) {
  const rs = rounds(id, 'cpu_us');
  if (ok(id) && rs.length > 1) disp.push(`  (${id}) CPU/req per round: ${rs.map(([, v]) => f1(v)).join(' / ')} us, (max-min)/median ${f1(spread(rs.map(([, v]) => v)))}%`);
}
for (const [a, b] of [[AA ? 'aa' : '', AA], ['d', 'c'], ['e', 'd'], ['l', 'd'], ['i', 'd'], ['j', 'd']]) {
  if (!a || !ok(a) || !ok(b)) continue;
  const ra = Object.fromEntries(rounds(a, 'cpu_us')), rb = Object.fromEntries(rounds(b, 'cpu_us'));
  const q = Object.keys(ra).filter((r) => rb[r]).sort((x, y) => x - y).map((r) => ra[r] / rb[r]);
  if (q.length > 1) disp.push(`  (${a})/(${b}) CPU/req per round: ${q.map(f2).join(' / ')}, (max-min)/median ${f1(spread(q))}%`);
}
if (disp.length) { console.log('per-round dispersion:'); for (const l of disp) console.log(l); console.log(''); }
const cw = [0, 1, 2, 3].map((i) => Math.max(...checks.map((c) => c[i].length)));
console.log('ratios and targets:');
for (const c of checks) console.log('  ' + c.map((x, i) => (i === 0 ? x.padEnd(cw[i]) : x.padStart(cw[i]))).join('  '));
console.log('');
