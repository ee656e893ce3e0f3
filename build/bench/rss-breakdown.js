#!/usr/bin/env node
// llmgw bench: where the RSS of an httpd instance is, from /proc/PID/smaps.
//   node rss-breakdown.js PIDFILE STACKSIZE [--keep-max FILE]
// Sums the Rss of every child of the pid read from PIDFILE by kind of
// mapping and prints one JSON object (kB): stack_kb (the thread stacks:
// private writable anonymous mappings of STACKSIZE bytes, less the guard
// page), heap_kb ([heap] and malloc's per-thread arenas: other anonymous
// writable mappings), shm_kb (shared mappings), file_kb (text and data of
// the binaries), threads, procs, and stack_touched_max_kb (the most any one
// stack has touched).
'use strict';
const fs = require('node:fs');
const [pidfile, stackArg, opt, keepFile] = process.argv.slice(2);
const stack = parseInt(stackArg || '8388608', 10);
const root = parseInt(fs.readFileSync(pidfile, 'utf8'), 10);
const r = { procs: 0, threads: 0, stack_kb: 0, stacks: 0, stack_touched_max_kb: 0, heap_kb: 0, shm_kb: 0, file_kb: 0 };
for (const d of fs.readdirSync('/proc')) {
  if (!/^\d+$/.test(d)) continue;
  let st;
  try { st = fs.readFileSync(`/proc/${d}/stat`, 'utf8'); } catch (e) { continue; }
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  if (+f[1] !== root) continue;
  r.procs++; r.threads += +f[17];
  let sm;
  try { sm = fs.readFileSync(`/proc/${d}/smaps`, 'utf8'); } catch (e) { continue; }
  let kind = null;
  for (const line of sm.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) {
      const size = parseInt(m[2], 16) - parseInt(m[1], 16), perms = m[3], path = m[5];
      if (perms[3] === 's') kind = 'shm';
      else if (path && !path.startsWith('[')) kind = 'file';
      else if (perms[1] === 'w' && (path === '' || path === '[stack]')
               && size >= stack - 65536 && size <= stack) kind = 'stack';
      else kind = 'heap';
      continue;
    }
    const rs = /^Rss:\s+(\d+) kB/.exec(line);
    if (rs && kind) {
      const kb = +rs[1];
      r[kind + '_kb'] += kb;
      if (kind === 'stack') { r.stacks++; if (kb > r.stack_touched_max_kb) r.stack_touched_max_kb = kb; }
      kind = null;
    }
  }
}
if (opt === '--keep-max') {
  let old = null;
  try { old = JSON.parse(fs.readFileSync(keepFile, 'utf8')); } catch (e) { /* none yet */ }
  if (!old || r.stack_kb + r.heap_kb > old.stack_kb + old.heap_kb) fs.writeFileSync(keepFile, JSON.stringify(r) + '\n');
}
else console.log(JSON.stringify(r));
