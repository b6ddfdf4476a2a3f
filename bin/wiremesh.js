#!/usr/bin/env node
'use strict';
// The TypeScript build (`npm run build`, run by `prepare` on `npm install`) writes dist/.
require('./launch')(() => require('../dist/cli/wiremesh.js').runAsProcess());
