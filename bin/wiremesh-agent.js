#!/bin/sh
':' //; n="$(dirname "$(readlink -f "$0")")/../node_modules/node/bin/node"; [ -x "$n" ] || n=node; exec "$n" "$0" "$@"
'use strict';
// `wiremesh-agent`: the on-host gateway daemon, built into dist/ by `npm install`. Executed
// directly (systemd's ExecStart, the bootstrap), /bin/sh reads the line above and replaces itself
// with the project's Node 24, so no launcher process stays in between; for JavaScript that line is
// a string and a comment. Started as `node bin/wiremesh-agent.js`, ./launch picks the runtime.
require('./launch')(() => require('../dist/agent/cli/wiremesh-agent.js').main(process.argv.slice(2)).then((code) => process.exit(code)));
