/**
 * The handshake-flood lab shared by bench/flood.ts and test/interop/flood.test.ts: a responder R with
 * one veth to each of A (a peer with an established session), N (a new peer, configured but silent)
 * and F (the flooder, lab/flood.ts), outer addresses 198.18.{61,62,63}.0/24, the tunnel on
 * 198.19.60.0/24. No default routes; `lab.cleanup()` removes everything by PID and name.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { generatePrivateKey, publicKeyOf } from '../agent/crypto/primitives';
import { WIREGUARD_PORT } from '../common/defaults';
import { floodArguments, floodGenerator, floodPacketFile, type FloodResult } from './flood';
import { Lab, type Implementation } from './netns';

/** The flood runs this long before anything is measured, so the responder is under load. */
const RAMP_MS = 1000;
const PING_INTERVAL = 0.02;

export interface Contender {
  column: string;
  implementation: Implementation;
}

export interface FloodFigures {
  /** Initiations per second the generator's kernel accepted. */
  sent: number;
  /** Initiations per second that reached the responder's interface during the window. */
  arrived: number;
  /** CPU seconds the generator used per second it ran. */
  generatorCores: number;
  /** Of the pings A sent to R through the tunnel during the flood. */
  pingLoss: number;
  /** Cookie replies per second reaching F: every initiation the responder gets to costs it one. */
  processedPerSecond: number;
  /** From N's first packet to its completed handshake; null if none within the wait. */
  newPeerHandshakeSeconds: number | null;
  /** CPU seconds the responder used per second of the window, when the caller can read them. */
  responderCores: number | null;
  /** Responder CPU time per processed handshake message, in microseconds. */
  responderMicrosPerMessage: number | null;
}

/** CPU seconds a process has used so far. */
export type CpuClock = (pid: number) => number;

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
  private readonly responderFloodDevice: string;
  private responderPid = 0;

  constructor(prefix: string) {
    this.lab = new Lab(prefix);
    this.responder = this.lab.namespace('r');
    this.established = this.lab.namespace('a');
    this.newcomer = this.lab.namespace('n');
    this.flooder = this.lab.namespace('f');
    this.lab.link(this.responder, this.established, { a: ['198.18.61.1/24'], b: ['198.18.61.2/24'] });
    this.lab.link(this.responder, this.newcomer, { a: ['198.18.62.1/24'], b: ['198.18.62.2/24'] });
    this.responderFloodDevice = this.lab.link(this.responder, this.flooder, {
      a: ['198.18.63.1/24'],
      b: ['198.18.63.2/24'],
    }).deviceA;
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
      const child = await this.lab.wireguard(side.ns, contender.implementation, side.iface, env);
      if (side.ns === this.responder) this.responderPid = child.pid ?? 0;
    }
    const responderConfig = [
      `[Interface]\nPrivateKey = ${this.responderKeys.privateKey}\nListenPort = ${WIREGUARD_PORT}`,
      `[Peer]\nPublicKey = ${peerA.publicKey}\nAllowedIPs = 198.19.60.2/32`,
      `[Peer]\nPublicKey = ${peerN.publicKey}\nAllowedIPs = 198.19.60.3/32`,
    ].join('\n\n');
    this.lab.wgConfig(this.responder, 'setconf', this.interfaces.r, `${responderConfig}\n`);
    for (const [side, endpoint] of [
      [sides[1]!, '198.18.61.1'],
      [sides[2]!, '198.18.62.1'],
    ] as const) {
      const config =
        `[Interface]\nPrivateKey = ${side.own.privateKey}\n\n[Peer]\nPublicKey = ${this.responderKeys.publicKey}\n` +
        `Endpoint = ${endpoint}:${WIREGUARD_PORT}\nAllowedIPs = 198.19.60.1/32\n`;
      this.lab.wgConfig(side.ns, 'setconf', side.iface, config);
    }
    for (const side of sides) {
      this.lab.addAddress(side.ns, side.iface, side.address);
      this.lab.run(side.ns, 'ip', ['link', 'set', side.iface, 'up']);
    }
    this.lab.run(this.established, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '198.19.60.1']);
  }

  /**
   * Sets the nice value of every thread of the responder (nice is per thread on Linux; threads it
   * starts later inherit it), so that other load on a shared host does not decide a comparison.
   */
  reniceResponder(nice: number): void {
    for (const task of readdirSync(`/proc/${this.responderPid}/task`)) {
      execFileSync('renice', ['-n', String(nice), '-p', task], { stdio: 'ignore' });
    }
  }

  /** The flood from F at `rate` for `seconds` (lab/flood.ts); resolves with what the generator sent. */
  flood(rate: number, seconds: number): Promise<FloodResult> {
    const packets = floodPacketFile(Buffer.from(this.responderKeys.publicKey, 'base64'));
    const target = `198.18.63.1:${WIREGUARD_PORT}`;
    const child = this.lab.spawn(this.flooder, floodGenerator(), floodArguments(target, packets.path, rate, seconds));
    let output = '';
    let errors = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => {
        packets.remove();
        if (code === 0) resolve(JSON.parse(output) as FloodResult);
        else reject(new Error(`flood generator exited with ${code}: ${errors.trim()}`));
      });
    });
  }

  /**
   * Datagrams F's UDP layer has received (the responder's cookie replies), whether or not a socket
   * kept them. Counted per datagram in the namespace's UDP MIB, not per packet on the device: a
   * responder that sends its replies with UDP GSO hands the link one packet for many replies.
   */
  flooderReceived(): number {
    const lines = this.lab.run(this.flooder, 'cat', ['/proc/net/snmp']).split('\n');
    const [names, values] = lines.filter((line) => line.startsWith('Udp:')).map((line) => line.split(/\s+/));
    const field = (name: string): number => Number(values?.[names?.indexOf(name) ?? -1] ?? Number.NaN);
    return field('InDatagrams') + field('InErrors') + field('NoPorts');
  }

  /** Packets R has received from F (the flood as it arrived). */
  responderFloodReceived(): number {
    return this.packetsReceived(this.responder, this.responderFloodDevice);
  }

  private packetsReceived(ns: string, device: string): number {
    return Number(this.lab.run(ns, 'cat', [`/sys/class/net/${device}/statistics/rx_packets`]).trim());
  }

  /** Ping loss (0..1) of `count` pings from A to R through the tunnel. */
  async pingLoss(count: number): Promise<number> {
    const { stdout } = await this.lab
      .runAsync(this.established, 'ping', [
        '-q',
        '-c',
        String(count),
        '-i',
        String(PING_INTERVAL),
        '-W',
        '1',
        '198.19.60.1',
      ])
      .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
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
   * handshake (given how long to wait for it), the cookie-reply rate, and with `cpuClock` the
   * responder's CPU time.
   */
  async measure(
    rate: number,
    seconds: number,
    newPeerWaitMs: number | null,
    cpuClock?: CpuClock,
  ): Promise<FloodFigures> {
    const flooding = this.flood(rate, seconds);
    await new Promise((resolve) => setTimeout(resolve, RAMP_MS));
    const receivedBefore = this.flooderReceived();
    const arrivedBefore = this.responderFloodReceived();
    const cpuBefore = cpuClock?.(this.responderPid);
    const windowStarted = performance.now();
    const pingSeconds = seconds - RAMP_MS / 1000 - 1;
    const [pingLoss, handshake] = await Promise.all([
      this.pingLoss(Math.floor(pingSeconds / PING_INTERVAL)),
      newPeerWaitMs !== null ? this.newPeerHandshake(newPeerWaitMs) : Promise.resolve(null),
    ]);
    const received = this.flooderReceived() - receivedBefore;
    const arrived = this.responderFloodReceived() - arrivedBefore;
    const cpu = cpuClock && cpuBefore !== undefined ? cpuClock(this.responderPid) - cpuBefore : null;
    const windowSeconds = (performance.now() - windowStarted) / 1000;
    const sent = await flooding;
    return {
      sent: sent.rate,
      arrived: arrived / windowSeconds,
      generatorCores: sent.cpuSeconds / sent.seconds,
      pingLoss,
      processedPerSecond: received / windowSeconds,
      newPeerHandshakeSeconds: handshake,
      responderCores: cpu === null ? null : cpu / windowSeconds,
      responderMicrosPerMessage: cpu === null || received === 0 ? null : (cpu * 1e6) / received,
    };
  }
}
