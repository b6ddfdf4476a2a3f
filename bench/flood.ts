/**
 * Handshake flood benchmark: a responder under a flood of valid-mac1 initiations (lab/flood.ts) from a
 * third namespace, while an established peer pings it and a new peer tries to handshake. For each
 * implementation, in the same run: wiremesh-wg, Debian wireguard-go, and the modern wireguard-go when
 * WIREGUARD_GO_MODERN (or ../shared/anchors/wireguard-go-modern) names one.
 *
 * Topology (namespaces named "fb<tag>..."): the responder R has one veth to each of A (established
 * peer), N (new peer) and F (flooder), outer addresses 198.18.{61,62,63}.0/24; the tunnel carries
 * 198.19.60.0/24. No default routes; everything is removed by PID and name in a finally.
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
import { performance } from 'node:perf_hooks';
import { packageRoot } from '../agent/package-root';
import { generatePrivateKey, publicKeyOf } from '../agent/crypto/primitives';
import { nativeAddonPath } from '../agent/native-addon';
import { WIREGUARD_PORT } from '../common/defaults';
import { Lab, hasCommand, isRoot, type Implementation } from '../lab/netns';
import type { FloodResult } from '../lab/flood';

const FLOOD_SCRIPT = join(packageRoot(), 'dist', 'lab', 'flood.js');
const GOAL_RATE = 50_000;
const CAPACITY_RATE = 200_000;
/** Long enough for the new peer's retry (5 s + up to 1/3 s jitter) to land inside the flood. */
const GOAL_SECONDS = 9;
const CAPACITY_SECONDS = 5;
/** The flood runs this long before anything is measured, so the responder is under load. */
const RAMP_MS = 1000;
const PING_INTERVAL = 0.02;
const HANDSHAKE_WAIT_MS = 7000;

export interface Contender {
  column: string;
  implementation: Implementation;
  binary?: string;
}

export interface FloodFigures {
  offered: number;
  pingLoss: number;
  processedPerSecond: number;
  newPeerHandshakeSeconds: number | null;
}

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

interface Keys {
  privateKey: string;
  publicKey: string;
}

function keys(): Keys {
  const privateKey = generatePrivateKey();
  return { privateKey: privateKey.toString('base64'), publicKey: publicKeyOf(privateKey).toString('base64') };
}

/** One flood lab: R, A (already handshaken with R), N (configured, silent), F. */
export class FloodLab {
  readonly lab: Lab;
  readonly responder: string;
  readonly established: string;
  readonly newcomer: string;
  readonly flooder: string;
  readonly responderKeys = keys();
  private readonly interfaces: Record<'r' | 'a' | 'n', string>;
  private readonly flooderDevice: string;

  constructor(prefix: string) {
    this.lab = new Lab(prefix);
    this.responder = this.lab.namespace('r');
    this.established = this.lab.namespace('a');
    this.newcomer = this.lab.namespace('n');
    this.flooder = this.lab.namespace('f');
    this.lab.link(this.responder, this.established, { a: ['198.18.61.1/24'], b: ['198.18.61.2/24'] });
    this.lab.link(this.responder, this.newcomer, { a: ['198.18.62.1/24'], b: ['198.18.62.2/24'] });
    this.flooderDevice = this.lab.link(this.responder, this.flooder, { a: ['198.18.63.1/24'], b: ['198.18.63.2/24'] }).deviceB;
    this.interfaces = { r: this.lab.name('wr'), a: this.lab.name('wa'), n: this.lab.name('wn') };
  }

  /** Starts the three WireGuard interfaces; A and R complete a handshake before this returns. */
  async start(contender: Contender, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const peerA = keys();
    const peerN = keys();
    const sides = [
      { ns: this.responder, iface: this.interfaces.r, own: this.responderKeys, address: '198.19.60.1/24' },
      { ns: this.established, iface: this.interfaces.a, own: peerA, address: '198.19.60.2/24' },
      { ns: this.newcomer, iface: this.interfaces.n, own: peerN, address: '198.19.60.3/24' },
    ];
    for (const side of sides) {
      await this.lab.wireguard(side.ns, contender.implementation, side.iface, env, contender.binary);
    }
    const responderConfig = [
      `[Interface]\nPrivateKey = ${this.responderKeys.privateKey}\nListenPort = ${WIREGUARD_PORT}`,
      `[Peer]\nPublicKey = ${peerA.publicKey}\nAllowedIPs = 198.19.60.2/32`,
      `[Peer]\nPublicKey = ${peerN.publicKey}\nAllowedIPs = 198.19.60.3/32`,
    ].join('\n\n');
    this.lab.wgConfig(this.responder, 'setconf', this.interfaces.r, `${responderConfig}\n`);
    for (const [side, endpoint] of [[sides[1]!, '198.18.61.1'], [sides[2]!, '198.18.62.1']] as const) {
      const config = `[Interface]\nPrivateKey = ${side.own.privateKey}\n\n[Peer]\nPublicKey = ${this.responderKeys.publicKey}\n` +
        `Endpoint = ${endpoint}:${WIREGUARD_PORT}\nAllowedIPs = 198.19.60.1/32\n`;
      this.lab.wgConfig(side.ns, 'setconf', side.iface, config);
    }
    for (const side of sides) {
      this.lab.addAddress(side.ns, side.iface, side.address);
      this.lab.run(side.ns, 'ip', ['link', 'set', side.iface, 'up']);
    }
    this.lab.run(this.established, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '198.19.60.1']);
  }

  /** The flood from F at `rate` for `seconds`; resolves with what the generator sent. */
  flood(rate: number, seconds: number): Promise<FloodResult> {
    const child = this.lab.spawn(this.flooder, process.execPath, [
      FLOOD_SCRIPT, `198.18.63.1:${WIREGUARD_PORT}`, this.responderKeys.publicKey, String(rate), String(seconds),
    ]);
    let output = '';
    let errors = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => {
        if (code === 0) resolve(JSON.parse(output) as FloodResult);
        else reject(new Error(`flood generator exited with ${code}: ${errors.trim()}`));
      });
    });
  }

  /** Packets F has received (the responder's cookie replies). */
  flooderReceived(): number {
    return Number(this.lab.run(this.flooder, 'cat', [`/sys/class/net/${this.flooderDevice}/statistics/rx_packets`]).trim());
  }

  /** Ping loss (0..1) of `count` pings from A to R through the tunnel. */
  async pingLoss(count: number): Promise<number> {
    const { stdout } = await this.lab.runAsync(this.established, 'ping', [
      '-q', '-c', String(count), '-i', String(PING_INTERVAL), '-W', '1', '198.19.60.1',
    ]).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    const match = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
    if (!match) throw new Error(`unreadable ping output: ${stdout}`);
    return 1 - Number(match[2]) / Number(match[1]);
  }

  /** Seconds from N's first packet to its completed handshake with R, or null after `waitMs`. */
  async newPeerHandshake(waitMs: number): Promise<number | null> {
    const started = performance.now();
    // One packet queues the handshake; WireGuard retries it every REKEY_TIMEOUT while it is pending.
    this.lab.spawn(this.newcomer, 'ping', ['-c', '1', '-W', '1', '198.19.60.1']);
    while (performance.now() - started < waitMs) {
      const line = this.lab.wg(this.newcomer, ['show', this.interfaces.n, 'latest-handshakes']).trim();
      if (Number(line.split(/\s+/)[1] ?? 0) > 0) return (performance.now() - started) / 1000;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return null;
  }

  /**
   * A flood at `rate` for `seconds`; after the ramp, pings from A for the rest of it, the new peer's
   * handshake when `withNewPeer`, and the cookie-reply rate.
   */
  async measure(rate: number, seconds: number, withNewPeer: boolean): Promise<FloodFigures> {
    const flooding = this.flood(rate, seconds);
    await new Promise((resolve) => setTimeout(resolve, RAMP_MS));
    const receivedBefore = this.flooderReceived();
    const windowStarted = performance.now();
    const pingSeconds = seconds - RAMP_MS / 1000 - 1;
    const [pingLoss, handshake] = await Promise.all([
      this.pingLoss(Math.floor(pingSeconds / PING_INTERVAL)),
      withNewPeer ? this.newPeerHandshake(HANDSHAKE_WAIT_MS) : Promise.resolve(null),
    ]);
    const received = this.flooderReceived() - receivedBefore;
    const windowSeconds = (performance.now() - windowStarted) / 1000;
    const sent = await flooding;
    return { offered: sent.rate, pingLoss, processedPerSecond: received / windowSeconds, newPeerHandshakeSeconds: handshake };
  }
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
    const goal = await lab.measure(GOAL_RATE, GOAL_SECONDS, true);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    log(`${contender.column}: ${CAPACITY_RATE}/s for ${CAPACITY_SECONDS} s`);
    const capacity = await lab.measure(CAPACITY_RATE, CAPACITY_SECONDS, false);
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
