'use strict';
// Runs a wiremesh command on the project's own Node 24 runtime (node_modules/node) when an older
// system node started it: wg-quick, for one, puts its own directory first in PATH, so
// `#!/usr/bin/env node` finds the distribution's node. (bin/wiremesh-agent.js avoids this process
// altogether when executed directly: its first line execs the project's Node from /bin/sh.)
const { spawn } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { constants } = require('node:os');

const REQUIRED_MAJOR = 24;
const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];

module.exports = function launch(run) {
  const major = Number(process.versions.node.split('.')[0]);
  const projectNode = join(__dirname, '..', 'node_modules', 'node', 'bin', 'node');
  if (major >= REQUIRED_MAJOR || !existsSync(projectNode) || process.env.WIREMESH_RELAUNCHED === '1') {
    run();
    return;
  }
  // The child leads its own process group, so a signal sent to the launcher's group (a terminal's
  // Ctrl-C, `kill -- -PGID`) reaches it once, through the forwarding below, not twice. A supervisor
  // that signals every process it started (systemd's KillMode=control-group) still reaches both;
  // the agent takes a repeated stop signal as the same request.
  const child = spawn(projectNode, process.argv.slice(1), {
    stdio: 'inherit',
    detached: true,
    env: { ...process.env, WIREMESH_RELAUNCHED: '1' },
  });
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  child.on('error', (error) => {
    process.stderr.write(`wiremesh: cannot start ${projectNode}: ${error.message}\n`);
    process.exit(1);
  });
  // The launcher ends as the child did, so whoever started it sees the child's own status: its exit
  // code, or death by the same signal (re-raised with the default action restored).
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    for (const forwarded of FORWARDED_SIGNALS) process.off(forwarded, forward);
    process.kill(process.pid, signal);
    // For a signal Node ignores by default (SIGPIPE), the shell's convention instead.
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100);
  });
};
