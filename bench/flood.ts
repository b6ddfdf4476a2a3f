/**
 * Handshake flood benchmark: a responder under a flood of valid-mac1 initiations (lab/flood.ts) from a
 * third namespace, while an established peer pings it and a new peer tries to handshake. For each
 * implementation, in the same run: wiremesh-wg, Debian wireguard-go, and the modern wireguard-go when
 * WIREGUARD_GO_MODERN (or ../shared/anchors/wireguard-go-modern) names one.
 *
 * Topology: lab/flood-lab.ts (namespaces named "fb<tag>..."), removed by PID and name in a finally.
 *
 * Figures: ping loss of A -> R through the tunnel during the flood; time from N's first packet to a
 * completed handshake (a responder under load answers the first initiation with a cookie reply, so the
 * expected value is one retry, REKEY_TIMEOUT = 5 s plus jitter); handshake messages per second the
 * responder processes = cookie replies per second arriving back at F (every initiation it gets to
 * costs it one). Each implementation ships its own socket buffers (wiremesh-wg 7 MiB, wireguard-go the
 * namespace default). WIREMESH_BENCH_FLOOD=0 skips the suite.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../agent/package-root';
import { nativeAddonPath } from '../agent/native-addon';
import { FLOOD_SCRIPT, FloodLab, type Contender, type FloodFigures } from '../lab/flood-lab';
import { hasCommand, isRoot } from '../lab/netns';

const GOAL_RATE = 50_000;
const CAPACITY_RATE = 200_000;
/** Long enough for the new peer's retry (5 s + up to 1/3 s jitter) to land inside the flood. */
const GOAL_SECONDS = 9;
const CAPACITY_SECONDS = 5;
const HANDSHAKE_WAIT_MS = 7000;

interface ContenderResult {
  contender: Contender;
  goal?: FloodFigures;
  capacity?: FloodFigures;
  error?: string;
}

function modernWireguardGo(): string | null {
  const path = process.env.WIREGUARD_GO_MODERN ?? join(packageRoot(), '..', 'shared', 'anchors', 'wireguard-go-modern');
  return existsSync(path) ? path : null;
}

function contenders(): { list: Contender[]; notes: string[] } {
  const list: Contender[] = [
    { column: 'wiremesh-wg', implementation: 'wiremesh' },
    { column: 'wireguard-go (Debian)', implementation: 'wireguard-go' },
  ];
  const modern = modernWireguardGo();
  if (modern) list.push({ column: 'wireguard-go-modern', implementation: 'wireguard-go', binary: modern });
  return { list, notes: modern ? [] : ['wireguard-go-modern skipped: set WIREGUARD_GO_MODERN to a build of it'] };
}

function missingPrerequisite(): string | null {
  if (process.env.WIREMESH_BENCH_FLOOD === '0') return 'WIREMESH_BENCH_FLOOD=0';
  if (process.platform !== 'linux') return 'not Linux';
  if (!isRoot()) return 'not running as root (network namespaces need it)';
  for (const command of ['ip', 'wg', 'wireguard-go', 'ping']) if (!hasCommand(command)) return `${command} is not installed`;
  if (!existsSync(nativeAddonPath())) return 'the native addon is not built (npm install)';
  if (!existsSync(FLOOD_SCRIPT)) return `${FLOOD_SCRIPT} is not built (npm run build)`;
  return null;
}

async function runContender(contender: Contender, tag: string, log: (line: string) => void): Promise<ContenderResult> {
  const lab = new FloodLab(`fb${tag}`);
  try {
    await lab.start(contender);
    log(`${contender.column}: ${GOAL_RATE}/s for ${GOAL_SECONDS} s`);
    const goal = await lab.measure(GOAL_RATE, GOAL_SECONDS, HANDSHAKE_WAIT_MS);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    log(`${contender.column}: ${CAPACITY_RATE}/s for ${CAPACITY_SECONDS} s`);
    const capacity = await lab.measure(CAPACITY_RATE, CAPACITY_SECONDS, null);
    return { contender, goal, capacity };
  } catch (error) {
    return { contender, error: (error as Error).message };
  } finally {
    await lab.lab.cleanup();
  }
}

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;
const perSecond = (x: number): string => Math.round(x).toLocaleString('en-US');
const seconds = (x: number | null): string => (x === null ? `none in ${HANDSHAKE_WAIT_MS / 1000} s` : `${x.toFixed(2)} s`);

function render(results: ContenderResult[], notes: string[]): string {
  const rows: Array<[string, (f: ContenderResult) => string, ((f: ContenderResult) => number | null) | null]> = [
    [`flood sent (target ${perSecond(GOAL_RATE)}/s)`, (r) => (r.goal ? `${perSecond(r.goal.offered)}/s` : '-'), null],
    ['  established session ping loss (goal <= 10%)', (r) => (r.goal ? percent(r.goal.pingLoss) : '-'), null],
    ['  new peer handshake (goal <= 5.5 s, one retry)', (r) => (r.goal ? seconds(r.goal.newPeerHandshakeSeconds) : '-'), null],
    ['  handshake messages/s processed', (r) => (r.goal ? `${perSecond(r.goal.processedPerSecond)}/s` : '-'), (r) => r.goal?.processedPerSecond ?? null],
    [`flood sent (target ${perSecond(CAPACITY_RATE)}/s)`, (r) => (r.capacity ? `${perSecond(r.capacity.offered)}/s` : '-'), null],
    ['  established session ping loss', (r) => (r.capacity ? percent(r.capacity.pingLoss) : '-'), null],
    ['  handshake messages/s processed (capacity, goal >= 100,000)', (r) => (r.capacity ? `${perSecond(r.capacity.processedPerSecond)}/s` : '-'), (r) => r.capacity?.processedPerSecond ?? null],
  ];
  const header = ['', ...results.map((r) => r.contender.column), 'wiremesh-wg / Debian wireguard-go'];
  const reference = results[1];
  const body = rows.map(([label, cell, value]) => {
    const ratio = value && reference && value(reference) ? `${((value(results[0]!) ?? 0) / value(reference)!).toFixed(2)}x` : '';
    return [label, ...results.map(cell), ratio];
  });
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const lines = ['\nHandshake flood (valid-mac1 initiations from a third namespace; one run, noisy on a shared host)', line(header), ...body.map(line)];
  for (const result of results) if (result.error) lines.push(`  ${result.contender.column} FAILED: ${result.error}`);
  for (const note of notes) lines.push(`  ${note}`);
  return lines.join('\n');
}

export async function runFloodBench(): Promise<string> {
  const missing = missingPrerequisite();
  if (missing) return `\nHandshake flood: suite skipped (${missing}).`;
  const log = (line: string): void => void process.stderr.write(`[flood] ${line}\n`);
  const tag = (process.pid % 1296).toString(36).padStart(2, '0');
  const { list, notes } = contenders();
  const results: ContenderResult[] = [];
  for (const contender of list) results.push(await runContender(contender, tag, log));
  return render(results, notes);
}
