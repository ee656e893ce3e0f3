#!/usr/bin/env node
// llmgw bench: samples RSS from /proc every --interval ms and keeps the peak.
//   node rss-sampler.js --out FILE [--interval 250] [--series] NAME=PIDFILE[:self] ...
// For each target, the RSS (VmRSS) of every descendant of the pid read from
// PIDFILE is summed (httpd: the children that serve requests); with ":self"
// the process itself is counted too (Portkey's node). The pid file is re-read
// each tick, so targets may start later. FILE gets one JSON object
// {name: {peak_kb, last_kb, procs}} rewritten on every tick; with --series
// each target also keeps series: [[epoch ms, kB], ...] (the streams scenario
// reads the idle and plateau RSS from it).
'use strict';
const fs = require('node:fs');
const args = process.argv.slice(2);
let out = null, interval = 250, series = false;
const targets = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = args[++i];
  else if (args[i] === '--interval') interval = parseInt(args[++i], 10);
  else if (args[i] === '--series') series = true;
  else {
    const [name, rest] = args[i].split('=');
    const [pidfile, mode] = rest.split(':');
    targets.push({ name, pidfile, self: mode === 'self' });
  }
}
const state = {};
for (const t of targets) {
  state[t.name] = { peak_kb: 0, last_kb: 0, procs: 0 };
  if (series) state[t.name].series = [];
}
function tick() {
  const ppid = new Map(), rss = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      ppid.set(+d, +f[1]);
      rss.set(+d, (+f[21]) * 4); // rss in pages -> kB (4 kB pages)
    } catch (e) { /* gone */ }
  }
  const kids = new Map();
  for (const [p, pp] of ppid) { if (!kids.has(pp)) kids.set(pp, []); kids.get(pp).push(p); }
  for (const t of targets) {
    let root;
    try { root = parseInt(fs.readFileSync(t.pidfile, 'utf8'), 10); } catch (e) { continue; }
    if (!rss.has(root)) continue;
    let sum = t.self ? rss.get(root) : 0, n = t.self ? 1 : 0;
    const stack = [...(kids.get(root) || [])];
    while (stack.length) {
      const p = stack.pop();
      sum += rss.get(p) || 0; n++;
      stack.push(...(kids.get(p) || []));
    }
    const s = state[t.name];
    s.last_kb = sum; s.procs = n;
    if (sum > s.peak_kb) s.peak_kb = sum;
    if (series) s.series.push([Date.now(), sum]);
  }
  if (out) fs.writeFileSync(out + '.tmp', JSON.stringify(state)), fs.renameSync(out + '.tmp', out);
}
tick();
setInterval(tick, interval);
process.on('SIGTERM', () => { tick(); process.exit(0); });
