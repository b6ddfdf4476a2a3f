/**
 * Memory after repeated full `wg setconf` of 10,000 peers: wiremesh-wg beside wireguard-go in the
 * same run, each in a network namespace of its own, driven by the real `wg`. The figure is the
 * process's resident set (VmRSS) after each setconf and after a quiet spell. Needs root, ip and wg
 * (wireguard-go optional); skipped otherwise. Alone: `node dist/bench/setconf-memory.js`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { keyToBase64 } from '../agent/crypto/keys';
import { Lab, hasCommand, isRoot, waitForExit, type Implementation } from '../lab/netns';

const PEERS = Number(process.env.WIREMESH_BENCH_SETCONF_PEERS) || 10_000;
const ROUNDS = 5;
const QUIET_MS = 10_000;

/** A wg-quick style file: PEERS peers, each with an endpoint, an IPv4 /24 and an IPv6 /64. */
function configuration(): string {
  const lines = ['[Interface]', `PrivateKey = ${keyToBase64(randomBytes(32))}`, 'ListenPort = 51820', ''];
  for (let i = 0; i < PEERS; i++) {
    const [high, low] = [(i >> 8) & 255, i & 255];
    lines.push(
      '[Peer]',
      `PublicKey = ${keyToBase64(randomBytes(32))}`,
      `AllowedIPs = 10.${high}.${low}.0/24, fd00:${i.toString(16)}::/64`,
      `Endpoint = 198.18.${high}.${low}:51820`,
      '',
    );
  }
  return lines.join('\n');
}

function residentMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

async function measureImplementation(lab: Lab, implementation: Implementation, conf: string): Promise<number[]> {
  const ns = lab.namespace('n');
  const iface = lab.name('wm');
  const child = await lab.wireguard(ns, implementation, iface);
  const figures = [residentMb(child.pid!)];
  for (let round = 0; round < ROUNDS; round++) {
    lab.wgConfig(ns, 'setconf', iface, conf);
    figures.push(residentMb(child.pid!));
  }
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  figures.push(residentMb(child.pid!));
  child.kill('SIGTERM');
  await waitForExit(child, 5000);
  return figures;
}

export async function runSetconfMemoryBench(): Promise<string> {
  const title = `\nMemory: RSS (MB) of the userspace interface after each full \`wg setconf\` of ${PEERS.toLocaleString('en-US')} peers`;
  const missing = [...(isRoot() ? [] : ['root']), ...['ip', 'wg'].filter((command) => !hasCommand(command))];
  if (missing.length > 0) return `${title}: skipped (needs ${missing.join(', ')}).`;
  const lab = new Lab(`sm${(process.pid % 1296).toString(36)}`);
  try {
    const conf = configuration();
    const implementations: Implementation[] = hasCommand('wireguard-go') ? ['wiremesh', 'wireguard-go'] : ['wiremesh'];
    const columns: number[][] = [];
    for (const implementation of implementations) columns.push(await measureImplementation(lab, implementation, conf));
    const labels = [
      'started',
      ...Array.from({ length: ROUNDS }, (_, i) => `setconf ${i + 1}`),
      `${QUIET_MS / 1000} s later`,
    ];
    const header = `${'moment'.padEnd(12)}${implementations.map((i) => i.padStart(14)).join('')}${columns.length > 1 ? '   ratio' : ''}`;
    const rows = labels.map((label, row) => {
      const values = columns.map((column) => column[row]!);
      const ratio = values.length > 1 ? `   ${(values[0]! / values[1]!).toFixed(2)}x` : '';
      return `${label.padEnd(12)}${values.map((v) => String(v).padStart(14)).join('')}${ratio}`;
    });
    return [title, header, ...rows].join('\n');
  } finally {
    await lab.cleanup();
  }
}

if (require.main === module) {
  runSetconfMemoryBench().then(
    (text) => console.log(text),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
