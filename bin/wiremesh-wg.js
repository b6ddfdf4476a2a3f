#!/usr/bin/env node
'use strict';
// `wiremesh-wg`: the userspace WireGuard device, built into dist/ by `npm install`.
require('./launch')(() => require('../dist/agent/cli/wiremesh-wg.js').main(process.argv.slice(2)));
