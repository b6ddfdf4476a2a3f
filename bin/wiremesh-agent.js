#!/bin/sh
':' //; n="$(dirname "$(readlink -f "$0")")/../node_modules/node/bin/node"; [ -x "$n" ] && GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}" exec "$n" --invocation-count-for-maglev=4000 --invocation-count-for-maglev-osr=1000 --invocation-count-for-turbofan=30000 --invocation-count-for-osr=5000 "$0" "$@"; exec node "$0" "$@"
'use strict';
// `wiremesh-agent`: the on-host gateway daemon, built into dist/bundle/ (one file) by `npm install`.
// Executed directly (systemd's ExecStart, the bootstrap), /bin/sh reads the line above and replaces
// itself with the project's Node 24, so no launcher process stays in between; for JavaScript that
// line is a string and a comment. Its V8 flags (for Node 24's V8) raise the call counts after which a function is
// optimized tenfold: start-up code then stays in the interpreter, and the optimizing compilers are
// paged in only once packets flow (~2 MB less idle RSS; bench/memory.ts, bench/dataplane.ts).
// GLIBC_TUNABLES fixes malloc's mmap threshold at glibc's default of 128 KiB (the operator's own
// tunables, appended, still win). Left dynamic, Node reading the ~0.6 MB agent bundle frees a 1 MiB
// buffer, which raises the threshold to 1 MiB: every later allocation below that then comes from the
// brk heap, where calloc clears reused chunks and fragments stay resident (~2.5 MiB idle RSS).
// Started as `node bin/wiremesh-agent.js`, ./launch picks the runtime, and Node's defaults apply.
require('./launch')(() => require('../dist/bundle/wiremesh-agent.js').main(process.argv.slice(2)).then((code) => process.exit(code)));
