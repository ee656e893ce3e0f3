#!/usr/bin/env node
// llmgw bench: prints N free TCP ports on 127.0.0.1, one per line.
'use strict';
const net = require('node:net');
const n = parseInt(process.argv[2] || '1', 10);
const ss = [];
let left = n;
for (let i = 0; i < n; i++) {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    ss.push(s);
    if (--left === 0) {
      console.log(ss.map((x) => x.address().port).join('\n'));
      ss.forEach((x) => x.close());
    }
  });
}
