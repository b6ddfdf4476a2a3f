#!/bin/sh
':' //; n="$(dirname "$(readlink -f "$0")")/../node_modules/node/bin/node"; [ -x "$n" ] && exec "$n" --invocation-count-for-maglev=4000 --invocation-count-for-maglev-osr=1000 --invocation-count-for-turbofan=30000 --invocation-count-for-osr=5000 "$0" "$@"; exec node "$0" "$@"
'use strict';
// `wiremesh-agent`: the on-host gateway daemon, built into dist/bundle/ (one file) by `npm install`.
// Executed directly (systemd's ExecStart, the bootstrap), /bin/sh reads the line above and replaces
// itself with the project's Node 24, so no launcher process stays in between; for JavaScript that
// line is a string and a comment. Its V8 flags (for Node 24's V8) raise the call counts after which a function is
// optimized tenfold: start-up code then stays in the interpreter, and the optimizing compilers are
// paged in only once packets flow (~2 MB less idle RSS; bench/memory.ts, bench/dataplane.ts).
// Started as `node bin/wiremesh-agent.js`, ./launch picks the runtime, and Node's defaults apply.
require('./launch')(() => require('../dist/bundle/wiremesh-agent.js').main(process.argv.slice(2)).then((code) => process.exit(code)));
