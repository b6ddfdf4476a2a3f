#!/usr/bin/env node
'use strict';
// `wiremesh-agent`: the on-host gateway daemon, built into dist/ by `npm install`.
require('./launch')(() => require('../dist/agent/cli/wiremesh-agent.js').main(process.argv.slice(2)).then((code) => process.exit(code)));
