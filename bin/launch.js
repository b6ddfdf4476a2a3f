'use strict';
// Runs a wiremesh command on the project's own Node 24 runtime (node_modules/node) when an older
// system node started it: wg-quick, for one, puts its own directory first in PATH, so
// `#!/usr/bin/env node` finds the distribution's node.
const { spawn } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const REQUIRED_MAJOR = 24;

module.exports = function launch(run) {
  const major = Number(process.versions.node.split('.')[0]);
  const projectNode = join(__dirname, '..', 'node_modules', 'node', 'bin', 'node');
  if (major >= REQUIRED_MAJOR || !existsSync(projectNode) || process.env.WIREMESH_RELAUNCHED === '1') {
    run();
    return;
  }
  const child = spawn(projectNode, process.argv.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, WIREMESH_RELAUNCHED: '1' },
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
};
