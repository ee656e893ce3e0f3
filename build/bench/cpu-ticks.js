#!/usr/bin/env node
// llmgw bench: CPU time used so far by an httpd instance (or any process tree).
//   node cpu-ticks.js PIDFILE[:self]
// Prints the clock ticks (1/100 s on Linux) of user + system time of the
// process read from PIDFILE (its own utime+stime, and cutime+cstime: the
// children that already exited and were reaped) plus utime+stime (and
// cutime+cstime) of each of its living children. The bench samples it before
// and after a setup's own run: the difference is that setup's CPU time.
'use strict';
const fs = require('node:fs');
const [spec] = process.argv.slice(2);
const [pidfile] = spec.split(':');
let root;
try { root = parseInt(fs.readFileSync(pidfile, 'utf8'), 10); } catch (e) { console.log('0'); process.exit(0); }
const fields = (pid) => {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ');
  } catch (e) { return null; }
};
// fields after the comm: [0] state, [1] ppid, [11] utime, [12] stime,
// [13] cutime, [14] cstime
const cpu = (f) => (+f[11]) + (+f[12]) + (+f[13]) + (+f[14]);
let total = 0;
const rf = fields(root);
if (rf) total += cpu(rf);
for (const d of fs.readdirSync('/proc')) {
  if (!/^\d+$/.test(d) || +d === root) continue;
  const f = fields(d);
  if (f && +f[1] === root) total += cpu(f);
}
console.log(String(total));
