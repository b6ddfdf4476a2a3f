/**
 * Memory benchmark: the resident set (VmRSS) of an idle wiremesh-agent (userspace plane, key in a
 * file, metrics and health listeners on) with 1 peer and with 10,000 peers, beside wireguard-go
 * holding the same peers, in the same run. The goal for the agent is <= 60 MiB idle with 1 peer.
 * One more row per count drives wireguard-go instead and counts the agent process alone: the
 * module graph of the kernel plane (no protocol engine, no batch buffers), which cloud VMs run and
 * which needs a kernel module this bench cannot count on.
 *
 * Each process runs in its own network namespace (lab/netns.ts, names starting with "bm"); peers
 * have no endpoint, so nothing is sent and the process is idle. RSS is the median of five samples
 * taken 500 ms apart after a 3 s settle. When the system node is older than 24, one more row starts
 * the agent through it, so bin/launch.js relaunches and its own process is counted too.
 * Root, wireguard-go and wg are needed; otherwise the suite says why and is skipped.
 *
 * Environment knob: WIREMESH_BENCH_MEMORY=0 skips the suite.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../agent/package-root';
import { Lab, hasCommand, isRoot, waitForExit } from '../lab/netns';

const AGENT = join(packageRoot(), 'bin', 'wiremesh-agent.js');
const SYSTEM_NODE = '/usr/bin/node';
const PEER_COUNTS = [1, 10_000] as const;
const GOAL_MIB = 60;
const SETTLE_MS = 3000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** VmRSS of `pid` and, unless `alone`, of its descendants, in MiB. */
function treeRssMiB(pid: number, alone = false): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
  const children = alone ? '' : readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  const below = children === '' ? 0 : children.split(' ').reduce((sum, child) => sum + treeRssMiB(Number(child)), 0);
  return kib / 1024 + below;
}

async function idleRssMiB(pid: number, alone = false): Promise<number> {
  await sleep(SETTLE_MS);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(treeRssMiB(pid, alone));
    await sleep(500);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

/** Public keys are any 32 bytes; the peers never connect. Allowed IPs: one /32 each in 10.0.0.0/8. */
function peers(count: number): { publicKey: string; allowedIp: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    publicKey: randomBytes(32).toString('base64'),
    allowedIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`,
  }));
}

async function waitFor(
  what: string,
  condition: () => boolean,
  child: ChildProcess,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (child.exitCode !== null) throw new Error(`${what}: the process exited (${child.exitCode})`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await sleep(100);
  }
}

interface Row {
  what: string;
  peers: number;
  mib: number;
}

type AgentPlane = 'userspace' | 'wireguard-go';

async function measureAgent(
  lab: Lab,
  dir: string,
  count: number,
  throughSystemNode: boolean,
  plane: AgentPlane = 'userspace',
): Promise<number> {
  const ns = lab.namespace('a');
  const keyPath = join(dir, 'agent.key');
  writeFileSync(keyPath, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  chmodSync(keyPath, 0o600);
  const configPath = join(dir, `agent-${count}.yaml`);
  writeFileSync(
    configPath,
    [
      `interface: { name: ${lab.name('wm')}, addresses: [198.19.97.1/24], listenPort: 0 }`,
      `privateKey: { source: file, path: ${keyPath} }`,
      `dataPlane: ${plane}`,
      'forwarding: false',
      'metrics: {}',
      'health: { listen: "127.0.0.1:9587" }',
      // One aggregate route rather than 10,000 `ip route` calls.
      'routes: [10.0.0.0/8]',
      'peers:',
      ...peers(count).map(
        (peer, i) => `  - { name: p${i}, publicKey: "${peer.publicKey}", allowedIps: [${peer.allowedIp}] }`,
      ),
      '',
    ].join('\n'),
  );
  const command = throughSystemNode ? [SYSTEM_NODE, AGENT] : [AGENT];
  const child = lab.spawn(ns, command[0]!, [...command.slice(1), 'run', '--config', configPath], {
    WIREMESH_LOG_LEVEL: 'warn',
    WIREMESH_RELAUNCHED: '',
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Ready when /healthz answers (the last thing start() brings up); stderr stays quiet at warn.
  const probe = "fetch('http://127.0.0.1:9587/healthz').then(() => process.exit(0), () => process.exit(1))";
  await waitFor(
    `the agent with ${count} peers`,
    () => {
      try {
        lab.run(ns, process.execPath, ['-e', probe]);
        return true;
      } catch {
        return false;
      }
    },
    child,
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${stderr}`);
  });
  // On the wireguard-go plane the agent alone: its wireguard-go child is the reference's row.
  const mib = await idleRssMiB(child.pid!, plane === 'wireguard-go');
  child.kill('SIGTERM');
  await waitForExit(child, 20_000);
  return mib;
}

async function measureWireguardGo(lab: Lab, dir: string, count: number): Promise<number> {
  const ns = lab.namespace('g');
  const iface = lab.name('wg');
  const child = await lab.wireguard(ns, 'wireguard-go', iface);
  const config = [
    `[Interface]\nPrivateKey = ${randomBytes(32).toString('base64')}\n`,
    ...peers(count).map((peer) => `[Peer]\nPublicKey = ${peer.publicKey}\nAllowedIPs = ${peer.allowedIp}\n`),
  ].join('\n');
  const file = join(dir, `wg-${count}.conf`);
  writeFileSync(file, config, { mode: 0o600 });
  lab.wg(ns, ['setconf', iface, file]);
  lab.run(ns, 'ip', ['link', 'set', iface, 'up']);
  const mib = await idleRssMiB(child.pid!);
  child.kill('SIGTERM');
  await waitForExit(child, 10_000);
  return mib;
}

function systemNodeRelaunches(): boolean {
  if (!existsSync(SYSTEM_NODE)) return false;
  return (
    Number(execFileSync(SYSTEM_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim()) < 24
  );
}

function format(rows: Row[]): string {
  const reference = new Map(rows.filter((row) => row.what === 'wireguard-go').map((row) => [row.peers, row.mib]));
  const lines = rows.map((row) => {
    const ratio = row.what === 'wireguard-go' ? '' : `${(row.mib / reference.get(row.peers)!).toFixed(1)}x`;
    const goal =
      row.peers === 1 && row.what.startsWith('wiremesh-agent')
        ? row.mib <= GOAL_MIB
          ? `  (goal <= ${GOAL_MIB}: met)`
          : `  (goal <= ${GOAL_MIB}: MISSED)`
        : '';
    return `  ${row.what.padEnd(56)} ${String(row.peers).padStart(6)}  ${row.mib.toFixed(1).padStart(7)} MiB  ${ratio.padStart(6)}${goal}`;
  });
  return [
    '== Memory: idle RSS (VmRSS, process and children), beside wireguard-go in the same run ==',
    `  ${'process'.padEnd(56)} ${'peers'.padStart(6)}  ${'RSS'.padStart(11)}  ${'vs wg-go'.padStart(6)}`,
    ...lines,
    '',
  ].join('\n');
}

export async function runMemoryBench(): Promise<string> {
  if (process.env['WIREMESH_BENCH_MEMORY'] === '0') return '== Memory: skipped (WIREMESH_BENCH_MEMORY=0) ==\n';
  const missing = [
    ...(isRoot() ? [] : ['root']),
    ...['wireguard-go', 'wg', 'ip'].filter((command) => !hasCommand(command)),
  ];
  if (missing.length > 0) return `== Memory: skipped (needs ${missing.join(', ')}) ==\n`;
  const lab = new Lab(`bm${process.pid % 1000}`);
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-bench-memory-'));
  const rows: Row[] = [];
  try {
    for (const count of PEER_COUNTS) {
      rows.push({ what: 'wireguard-go', peers: count, mib: await measureWireguardGo(lab, dir, count) });
      rows.push({
        what: 'wiremesh-agent (bin executed: /bin/sh execs Node 24)',
        peers: count,
        mib: await measureAgent(lab, dir, count, false),
      });
      rows.push({
        what: 'wiremesh-agent, wireguard-go plane (agent process only)',
        peers: count,
        mib: await measureAgent(lab, dir, count, false, 'wireguard-go'),
      });
    }
    if (systemNodeRelaunches()) {
      rows.push({
        what: `wiremesh-agent via ${SYSTEM_NODE} (launcher + agent)`,
        peers: 1,
        mib: await measureAgent(lab, dir, 1, true),
      });
    }
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  rows.sort((a, b) => a.peers - b.peers);
  return format(rows);
}
