/**
 * The main thread's side of the data-plane threads. With `threads` = N > 1 the device runs N - 1
 * send workers (./send-worker), each owning one queue of the multi-queue TUN and its own duplicates
 * of the UDP sockets; the kernel spreads inner flows over the queues. The main thread keeps the sans-IO
 * core as the single owner of handshakes, timers, keypairs, the receive path and UAPI, and its
 * own TUN queue is detached (it writes received packets through a duplicate of a worker's queue).
 *
 * Shared safely: each keypair's send counter, sendable flag and key are in shared memory
 * (agent/core/send-state.ts), so nonces stay unique across threads and a retired session stops at
 * once; per-peer send counters are per-worker cells the main thread sums; everything else (allowed
 * IPs, endpoints, which keypair is current) is posted as a snapshot when it changes.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { WireGuardDevice } from '../core/device';
import type { Keypair } from '../core/keypair';
import type { Peer } from '../core/peer';
import { packageRoot } from '../package-root';
import type { UdpEndpoint } from './endpoint';
import type { NativeIo } from './native';
import type { SendSocket } from './send-batch';
import {
  MAX_THREADS,
  PEER_STATS_BYTES,
  WORKER_STAT_CELLS,
  WorkerStat,
  peerDataPackets,
  peerTxBytes,
  type FromWorker,
  type SharedPeer,
  type ToWorker,
  type WorkerSetup,
} from './send-share';

/** The default `threads`: one per CPU, at most this many. */
export const DEFAULT_MAX_THREADS = 4;
const CLOSE_WAIT_MS = 2000;

/** `threads` from WIREMESH_THREADS (capped at MAX_THREADS), or undefined when it is unset or not a count. */
export function configuredThreads(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const configured = env.WIREMESH_THREADS === undefined ? NaN : Number(env.WIREMESH_THREADS);
  return Number.isInteger(configured) && configured >= 1 ? Math.min(configured, MAX_THREADS) : undefined;
}

/** The default `threads`: one per CPU, up to DEFAULT_MAX_THREADS. */
export function defaultThreads(): number {
  return Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
}

/**
 * The compiled worker entry: next to this module in dist/, or (running from the TypeScript
 * sources) the package's dist/agent/wg/send-worker.js.
 */
export function sendWorkerFile(): string {
  const beside = join(__dirname, 'send-worker.js');
  if (existsSync(beside)) return beside;
  const built = join(packageRoot(), 'dist', 'agent', 'wg', 'send-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`wiremesh: the data-plane worker ${beside} is missing (run npm run build)`);
}

interface ThreadLog {
  debug(message: string): void;
  info(message: string): void;
  error(message: string): void;
}

interface SendThread {
  worker: Worker;
  stats: Float64Array;
  closed: Int32Array;
}

interface PeerShare {
  slot: number;
  stats: SharedArrayBuffer;
  /** Views of `stats`, made once: the tick reads them for every peer. */
  txBytes: Float64Array;
  dataPackets: Uint32Array;
  /** Data packets the workers had sent at the last report. */
  reported: number;
}

/** What was last published for a peer: the objects its sending depends on. */
interface Published {
  keypair: Keypair | null;
  endpoint: unknown;
}

export interface SendThreadsOptions {
  io: NativeIo;
  count: number;
  interfaceName: string;
  /** The device's own TUN queue: detached once the workers' queues exist. */
  tunFd: number;
  vnet: boolean;
  mtu: number;
  log: ThreadLog;
  /** A packet a worker could not send (no usable session yet). */
  onPacket: (packet: Buffer) => void;
}

export class SendThreads {
  /** Where the main thread writes received packets: a duplicate of the first worker's queue. */
  readonly tunWriteFd: number;
  private readonly io: NativeIo;
  private readonly threads: SendThread[] = [];
  private readonly shares = new Map<Peer, PeerShare>();
  private nextSlot = 0;
  /** What was last published per peer: the current keypair and endpoint objects. */
  private published = new Map<Peer, Published>();

  constructor(options: SendThreadsOptions) {
    const { io, count, interfaceName, vnet, log } = options;
    this.io = io;
    const file = sendWorkerFile();
    const queues: number[] = [];
    let writeFd = -1;
    try {
      for (let i = 0; i < count; i++) queues.push(io.tunOpen(interfaceName, vnet)[0]);
      writeFd = io.dupFd(queues[0]!);
      io.tunDetachQueue(options.tunFd);
    } catch (error) {
      for (const fd of [...queues, writeFd]) if (fd >= 0) io.closeFd(fd);
      throw error;
    }
    this.tunWriteFd = writeFd;
    for (let index = 0; index < count; index++) {
      const stats = new SharedArrayBuffer(WORKER_STAT_CELLS * 8);
      const closed = new SharedArrayBuffer(4);
      const setup: WorkerSetup = { index, tunFd: queues[index]!, vnet, mtu: options.mtu, stats, closed };
      const worker = new Worker(file, { workerData: setup });
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'packet')
          options.onPacket(Buffer.from(message.packet.buffer, message.packet.byteOffset, message.packet.length));
        else log[message.level](message.message);
      });
      worker.on('error', (error) => log.error(`send thread ${index + 1} failed: ${error.message}`));
      worker.unref();
      this.threads.push({ worker, stats: new Float64Array(stats), closed: new Int32Array(closed) });
    }
    log.info(`data plane: ${count} send thread${count === 1 ? '' : 's'} on TUN queues, receive on the main thread`);
  }

  /** Hands each worker its own duplicates of the sockets (it closes the ones they replace). */
  setSockets(sockets: (SendSocket & { gso: boolean })[]): void {
    for (const thread of this.threads) {
      const shared = sockets.map((s) => ({ fd: this.io.dupFd(s.fd), family: s.family, gso: s.gso }));
      this.post(thread, { type: 'sockets', sockets: shared });
    }
  }

  setMtu(mtu: number): void {
    for (const thread of this.threads) this.post(thread, { type: 'mtu', mtu });
  }

  /**
   * Posts the peers (allowed IPs, endpoints, current sessions) when a session or endpoint of one
   * changed, or always with `force` (which every configuration change uses: peers come and go only
   * there). Runs on every tick, so the check allocates nothing: 10,000 peers' worth of garbage per
   * tick made V8 grow its young generation on an idle device.
   */
  publish(core: WireGuardDevice, now: number, force = false): void {
    if (!force && !this.sessionsChanged(now)) return;
    const peers = [...core.peers()];
    const published = new Map(peers.map((peer) => [peer, { keypair: sendable(peer, now), endpoint: peer.endpoint }]));
    this.published = published;
    for (const peer of this.shares.keys()) if (!published.has(peer)) this.shares.delete(peer);
    const snapshot: SharedPeer[] = peers.map((peer) => {
      const share = this.shareOf(peer);
      const keypair = published.get(peer)!.keypair;
      const endpoint = peer.endpoint as UdpEndpoint | null;
      return {
        slot: share.slot,
        stats: share.stats,
        endpoint: endpoint && {
          family: endpoint.family,
          address: endpoint.addressBytes,
          port: endpoint.port,
          local: endpoint.localBytes,
          interfaceIndex: endpoint.interfaceIndex,
        },
        keypair: keypair && {
          sendState: keypair.sendState,
          remoteIndex: keypair.remoteIndex,
          createdAtUnixMs: performance.timeOrigin + keypair.createdAt,
        },
        allowedIps: core.allowedIps.prefixesOf(peer),
      };
    });
    for (const thread of this.threads) this.post(thread, { type: 'peers', peers: snapshot });
  }

  private sessionsChanged(now: number): boolean {
    let changed = false;
    this.published.forEach((last, peer) => {
      if (!changed) changed = last.keypair !== sendable(peer, now) || last.endpoint !== peer.endpoint;
    });
    return changed;
  }

  /** Tells the core about data the workers sent since the last call (timers, rekey on send). */
  reportSends(core: WireGuardDevice, now: number): void {
    this.shares.forEach((share, peer) => {
      const sent = sum(share.dataPackets);
      if (sent === share.reported) return;
      share.reported = sent;
      core.noteDataSentByWorkers(peer, now);
    });
  }

  /** Transport bytes the workers sent for `peer`. */
  txBytesOf(peer: Peer): number {
    const share = this.shares.get(peer);
    return share ? sum(share.txBytes) : 0;
  }

  /** A worker counter summed over the workers (WorkerStat index). */
  stat(index: number): number {
    return this.threads.reduce((sum, thread) => sum + thread.stats[index]!, 0);
  }

  /** Stops the workers; each closes its TUN queue and sockets before this returns (or times out). */
  close(): void {
    for (const thread of this.threads) this.post(thread, { type: 'close' });
    for (const thread of this.threads) Atomics.wait(thread.closed, 0, 0, CLOSE_WAIT_MS);
    for (const thread of this.threads) void thread.worker.terminate();
    this.io.closeFd(this.tunWriteFd);
  }

  private shareOf(peer: Peer): PeerShare {
    let share = this.shares.get(peer);
    if (!share) {
      const stats = new SharedArrayBuffer(PEER_STATS_BYTES);
      share = {
        slot: this.nextSlot++,
        stats,
        txBytes: peerTxBytes(stats),
        dataPackets: peerDataPackets(stats),
        reported: 0,
      };
      this.shares.set(peer, share);
    }
    return share;
  }

  private post(thread: SendThread, message: ToWorker): void {
    thread.worker.postMessage(message);
  }
}

function sum(cells: Float64Array | Uint32Array): number {
  let total = 0;
  for (let i = 0; i < cells.length; i++) total += cells[i]!;
  return total;
}

/** The keypair the workers may send under: the current one, if it can send (the core checks staging). */
function sendable(peer: Peer, now: number): Keypair | null {
  const keypair = peer.current;
  return keypair && keypair.canSend(now) && peer.staged.length === 0 ? keypair : null;
}

export { WorkerStat };
