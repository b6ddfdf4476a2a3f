/**
 * Handshake flood benchmark: a responder under a flood of valid-mac1 initiations (lab/flood.ts, sent by
 * lab/flood-generator.c from 64 source ports; the rows show what it sent and what arrived) from a
 * third namespace, while an established peer pings it and a new peer tries to handshake. For each
 * implementation, in the same run: wiremesh-wg, Debian wireguard-go, and the modern wireguard-go when
 * WIREGUARD_GO_MODERN (or ../shared/anchors/wireguard-go-modern) names one.
 *
 * Topology: lab/flood-lab.ts (namespaces named "fb<tag>..."), removed by PID and name in a finally.
 *
 * Figures: ping loss of A -> R through the tunnel during the flood; time from N's first packet to a
 * completed handshake (a responder under load answers the first initiation with a cookie reply, so the
 * expected value is one retry, REKEY_TIMEOUT = 5 s plus jitter); handshake messages per second the
 * responder processes = cookie replies per second arriving back at F, counted per datagram in F's
 * UDP MIB (every initiation it gets to costs it one), and the responder's CPU time per message (utime+stime over the same window, the
 * figure a busy host does not distort). Each implementation ships its own socket buffers (wiremesh-wg
 * 7 MiB, wireguard-go the namespace default). WIREMESH_BENCH_FLOOD=0 skips the suite;
 * WIREMESH_BENCH_FLOOD_ROUNDS=N runs N alternating rounds and reports medians (default 1);
 * WIREMESH_BENCH_FLOOD_NICE=-10 runs every responder thread at that nice value (all implementations
 * alike), so a busy shared host does not decide how much CPU the responder gets.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { nativeAddonAvailable } from '../agent/native-addon';
import { floodGenerator } from '../lab/flood';
import { FloodLab, type Contender, type CpuClock, type FloodFigures } from '../lab/flood-lab';
import { hasCommand, isRoot, modernWireguardGo } from '../lab/netns';
import { devicePid, processTicks } from './dataplane';

const GOAL_RATE = 50_000;
const CAPACITY_RATE = 200_000;
/** Long enough for the new peer's retry (5 s + up to 1/3 s jitter) to land inside the flood. */
const GOAL_SECONDS = 9;
const CAPACITY_SECONDS = 5;
const HANDSHAKE_WAIT_MS = 7000;

function contenders(): { list: Contender[]; notes: string[] } {
  const list: Contender[] = [
    { column: 'wiremesh-wg', implementation: 'wiremesh' },
    { column: 'wireguard-go (Debian)', implementation: 'wireguard-go' },
  ];
  const modern = modernWireguardGo();
  if (modern) list.push({ column: 'wireguard-go-modern', implementation: 'wireguard-go-modern' });
  return { list, notes: modern ? [] : ['wireguard-go-modern skipped: set WIREGUARD_GO_MODERN to a build of it'] };
}

function missingPrerequisite(): string | null {
  if (process.env.WIREMESH_BENCH_FLOOD === '0') return 'WIREMESH_BENCH_FLOOD=0';
  if (process.platform !== 'linux') return 'not Linux';
  if (!isRoot()) return 'not running as root (network namespaces need it)';
  for (const command of ['ip', 'wg', 'wireguard-go', 'ping', 'cc'])
    if (!hasCommand(command)) return `${command} is not installed`;
  if (!nativeAddonAvailable()) return 'the native addon is not built (npm install)';
  try {
    floodGenerator();
  } catch (error) {
    return `lab/flood-generator.c does not compile: ${(error as Error).message}`;
  }
  return null;
}

interface Phase {
  goal: FloodFigures;
  capacity: FloodFigures;
}

/** One round for one contender: the goal rate with the new peer, then the capacity rate. */
async function runRound(
  contender: Contender,
  tag: string,
  cpuClock: CpuClock,
  responderNice: number | null,
  log: (line: string) => void,
): Promise<Phase> {
  const lab = new FloodLab(`fb${tag}`);
  try {
    await lab.start(contender);
    if (responderNice !== null) lab.reniceResponder(responderNice);
    log(`${contender.column}: ${GOAL_RATE}/s for ${GOAL_SECONDS} s`);
    const goal = await lab.measure(GOAL_RATE, GOAL_SECONDS, HANDSHAKE_WAIT_MS, cpuClock);
    log(`${contender.column}: ${CAPACITY_RATE}/s for ${CAPACITY_SECONDS} s`);
    const capacity = await lab.measure(CAPACITY_RATE, CAPACITY_SECONDS, null, cpuClock);
    return { goal, capacity };
  } finally {
    await lab.lab.cleanup();
  }
}

/** The median of the rounds' values; a missing value (no handshake) sorts last. */
function median(values: Array<number | null>): number | null {
  const sorted = [...values].sort((a, b) => (a ?? Infinity) - (b ?? Infinity));
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? null;
}

type Column = { contender: Contender; rounds: Phase[]; error?: string };
type Row = {
  label: string;
  value: (phase: Phase) => number | null;
  format: (x: number | null) => string;
  ratio: boolean;
};

const percent = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
const perSecond = (x: number | null): string => (x === null ? '-' : `${Math.round(x).toLocaleString('en-US')}/s`);
const seconds = (x: number | null): string =>
  x === null ? `none in ${HANDSHAKE_WAIT_MS / 1000} s` : `${x.toFixed(2)} s`;
const micros = (x: number | null): string => (x === null ? '-' : `${x.toFixed(1)} us`);
const cores = (x: number | null): string => (x === null ? '-' : x.toFixed(2));

const ROWS: Row[] = [
  {
    label: `flood asked for ${perSecond(GOAL_RATE)}: sent (kernel accepted)`,
    value: (p) => p.goal.sent,
    format: perSecond,
    ratio: false,
  },
  { label: '  arrived at the responder', value: (p) => p.goal.arrived, format: perSecond, ratio: false },
  { label: '  generator cores busy', value: (p) => p.goal.generatorCores, format: cores, ratio: false },
  {
    label: '  established session ping loss (goal <= 10%)',
    value: (p) => p.goal.pingLoss,
    format: percent,
    ratio: false,
  },
  {
    label: '  new peer handshake (goal <= 5.5 s: one retry)',
    value: (p) => p.goal.newPeerHandshakeSeconds,
    format: seconds,
    ratio: false,
  },
  { label: '  handshake messages processed', value: (p) => p.goal.processedPerSecond, format: perSecond, ratio: true },
  { label: '  responder cores busy', value: (p) => p.goal.responderCores, format: cores, ratio: false },
  {
    label: '  responder CPU per handshake message',
    value: (p) => p.goal.responderMicrosPerMessage,
    format: micros,
    ratio: true,
  },
  {
    label: `flood asked for ${perSecond(CAPACITY_RATE)}: sent (kernel accepted)`,
    value: (p) => p.capacity.sent,
    format: perSecond,
    ratio: false,
  },
  { label: '  arrived at the responder', value: (p) => p.capacity.arrived, format: perSecond, ratio: false },
  { label: '  generator cores busy', value: (p) => p.capacity.generatorCores, format: cores, ratio: false },
  { label: '  established session ping loss', value: (p) => p.capacity.pingLoss, format: percent, ratio: false },
  {
    label: '  handshake messages processed (goal >= 100,000/s)',
    value: (p) => p.capacity.processedPerSecond,
    format: perSecond,
    ratio: true,
  },
  { label: '  responder cores busy', value: (p) => p.capacity.responderCores, format: cores, ratio: false },
  {
    label: '  responder CPU per handshake message',
    value: (p) => p.capacity.responderMicrosPerMessage,
    format: micros,
    ratio: true,
  },
  {
    label: '  => messages per second per busy core',
    value: (p) => perCore(p.capacity),
    format: perSecond,
    ratio: true,
  },
];

function perCore(figures: FloodFigures): number | null {
  return figures.responderMicrosPerMessage ? 1e6 / figures.responderMicrosPerMessage : null;
}

function render(columns: Column[], rounds: number, notes: string[]): string {
  const header = ['', ...columns.map((c) => c.contender.column), 'wiremesh-wg / Debian wireguard-go'];
  const body = ROWS.map((row) => {
    const medians = columns.map((c) => (c.rounds.length > 0 ? median(c.rounds.map(row.value)) : null));
    const [ours, reference] = [medians[0], medians[1]];
    const ratio = row.ratio && ours && reference ? `${(ours / reference).toFixed(2)}x` : '';
    return [row.label, ...medians.map((m, i) => (columns[i]!.rounds.length > 0 ? row.format(m) : '-')), ratio];
  });
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((cells) => cells[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const lines = [
    `\nHandshake flood: valid-mac1 initiations from a third namespace (median of ${rounds} alternating round${rounds > 1 ? 's' : ''})`,
    line(header),
    ...body.map(line),
    '  Ratios: above 1x is better for messages/s, below 1x for CPU per message. Processed = cookie replies back at the',
    '  flooder. Per-core figures do not depend on how much CPU a busy host leaves the responder (single-threaded',
    '  wiremesh-wg gets one scheduler share, wireguard-go one per busy thread).',
  ];
  for (const column of columns) if (column.error) lines.push(`  ${column.contender.column} FAILED: ${column.error}`);
  for (const note of notes) lines.push(`  ${note}`);
  return lines.join('\n');
}

export async function runFloodBench(): Promise<string> {
  const missing = missingPrerequisite();
  if (missing) return `\nHandshake flood: suite skipped (${missing}).`;
  const log = (line: string): void => void process.stderr.write(`[flood] ${line}\n`);
  const tag = (process.pid % 1296).toString(36).padStart(2, '0');
  const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const cpuClock: CpuClock = (pid) => processTicks(devicePid(pid)) / ticksPerSecond;
  const rounds = Math.max(1, Number(process.env.WIREMESH_BENCH_FLOOD_ROUNDS) || 1);
  const niceSetting = process.env.WIREMESH_BENCH_FLOOD_NICE;
  const responderNice = niceSetting === undefined || niceSetting === '' ? null : Number(niceSetting);
  if (responderNice !== null && !Number.isInteger(responderNice))
    throw new Error(`WIREMESH_BENCH_FLOOD_NICE: not an integer: ${niceSetting}`);
  const { list, notes } = contenders();
  if (responderNice !== null) notes.push(`every responder thread at nice ${responderNice} (WIREMESH_BENCH_FLOOD_NICE)`);
  const columns: Column[] = list.map((contender) => ({ contender, rounds: [] }));
  const load = readFileSync('/proc/loadavg', 'utf8').trim();
  for (let round = 0; round < rounds; round++) {
    for (const column of columns) {
      if (column.error) continue;
      try {
        column.rounds.push(await runRound(column.contender, tag, cpuClock, responderNice, log));
      } catch (error) {
        column.error = (error as Error).message;
      }
    }
  }
  notes.push(`/proc/loadavg before: ${load}; after: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  return render(columns, rounds, notes);
}
