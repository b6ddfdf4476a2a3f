/**
 * A data-plane send worker (worker_threads): it owns one TUN queue and duplicates of the UDP
 * sockets, and runs the send path for what the kernel steers to that queue: route by allowed IPs,
 * pad, write the transport header, seal the batch, sendmmsg (with GSO). Sessions come from the main
 * thread, which keeps the handshakes, timers and receive path (./send-threads).
 *
 * Per packet there is no allocation: the plaintext is copied from the TUN read buffer straight into
 * the send batch, counters are Numbers reserved from the keypair's shared counter 64 at a time
 * (SendCounters).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { AllowedIps } from '../core/allowedips';
import { REJECT_AFTER_TIME } from '../core/constants';
import { paddedLength } from '../core/messages';
import { SEND_STATE_COUNTER, SEND_STATE_KEY_OFFSET, SEND_STATE_SENDABLE, SendCounters } from '../core/send-state';
import { UdpEndpoint } from './endpoint';
import { LARGE_CHANGE_PEERS, releaseMemory } from './heap';
import { OFFLOAD_STAT_COUNT, nativeIo, type PollHandle } from './native';
import { SendBatch, socketOf, type SendSocket } from './send-batch';
import {
  WORKER_STAT_CELLS,
  WorkerStat,
  peerDataPackets,
  peerTxBytes,
  type FromWorker,
  type SharedPeer,
  type SharedSocket,
  type ToWorker,
  type WorkerSetup,
} from './send-share';
import { MAX_STAGED_PACKETS } from '../core/constants';
import { TunReader } from './tun-reader';

const FORWARD_WINDOW_MS = 1000;

interface PeerEntry {
  endpoint: UdpEndpoint | null;
  key: Buffer | null;
  flags: Int32Array | null;
  counters: SendCounters | null;
  remoteIndex: number;
  /** In this thread's performance.now() clock. */
  expiresAt: number;
  txBytes: Float64Array;
  dataPackets: Uint32Array;
  /** Packets handed to the main thread in the current window (at most MAX_STAGED_PACKETS). */
  forwarded: number;
  forwardWindowStart: number;
}

class SendWorker {
  private readonly io = nativeIo();
  private readonly stats: Float64Array;
  private readonly offloadStats = Buffer.alloc(OFFLOAD_STAT_COUNT * 4);
  private readonly reader: TunReader;
  private readonly poll: PollHandle;
  private table = new AllowedIps<PeerEntry>();
  private sockets: SendSocket[] = [];
  private readonly batches = { 4: new SendBatch(), 6: new SendBatch() };
  private mtu: number;
  private now = 0;
  private readonly sink = (data: Buffer, start: number, length: number): void => this.send(data, start, length);
  private readonly flush = (): void => this.flushAll();

  constructor(private readonly setup: WorkerSetup) {
    this.mtu = setup.mtu;
    this.stats = new Float64Array(setup.stats, 0, WORKER_STAT_CELLS);
    this.reader = new TunReader(this.io, setup.tunFd, setup.vnet, this.offloadStats);
    this.poll = this.io.pollStart(setup.tunFd, () => this.drain());
  }

  handle(message: ToWorker): void {
    switch (message.type) {
      case 'sockets':
        return this.setSockets(message.sockets);
      case 'peers':
        return this.setPeers(message.peers);
      case 'mtu':
        this.mtu = message.mtu;
        return;
      case 'close':
        return this.close();
    }
  }

  private drain(): void {
    this.now = performance.now();
    try {
      this.reader.drain(this.sink, this.flush);
    } catch (error) {
      post({ type: 'log', level: 'error', message: `TUN read failed: ${(error as Error).message}` });
    }
    for (let i = 0; i < OFFLOAD_STAT_COUNT; i++)
      this.stats[WorkerStat.offload + i] = this.offloadStats.readUInt32LE(i * 4);
  }

  private send(data: Buffer, start: number, length: number): void {
    const version = length > 0 ? data[start]! >> 4 : 0;
    const peer =
      version === 4 && length >= 20
        ? this.table.lookupIPv4(data, start + 16)
        : version === 6 && length >= 40
          ? this.table.lookupIPv6(data, start + 24)
          : undefined;
    if (!peer) {
      this.stats[WorkerStat.noRoute]!++;
      return;
    }
    const endpoint = peer.endpoint;
    if (!endpoint) {
      this.stats[WorkerStat.noEndpoint]!++;
      return;
    }
    if (!peer.flags || Atomics.load(peer.flags, SEND_STATE_SENDABLE) !== 1 || this.now >= peer.expiresAt)
      return this.forward(peer, data, start, length);
    // Counters from 2^52 on come as BigInts: such a session (never seen in practice) is left to the main thread.
    const counter = peer.counters!.take();
    if (typeof counter !== 'number') return this.forward(peer, data, start, length);
    const padded = paddedLength(length, this.mtu);
    const batch = this.batches[endpoint.family];
    batch.addTransport(data, start, length, padded, peer.remoteIndex, counter, peer.key!, endpoint);
    peer.txBytes[this.setup.index]! += 32 + padded;
    peer.dataPackets[this.setup.index]!++;
    if (batch.isFull()) this.flushFamily(endpoint.family);
  }

  /** No usable session: the main thread stages the packet and starts a handshake (bounded per second). */
  private forward(peer: PeerEntry, data: Buffer, start: number, length: number): void {
    if (this.now - peer.forwardWindowStart >= FORWARD_WINDOW_MS) {
      peer.forwardWindowStart = this.now;
      peer.forwarded = 0;
    }
    if (peer.forwarded >= MAX_STAGED_PACKETS) {
      this.stats[WorkerStat.stagedOverflow]!++;
      return;
    }
    peer.forwarded++;
    post({ type: 'packet', packet: Uint8Array.prototype.slice.call(data, start, start + length) });
  }

  private flushFamily(family: 4 | 6): void {
    const batch = this.batches[family];
    if (batch.count === 0) return;
    const socket = socketOf(this.sockets, family);
    const gsoSends = socket?.sendState.readUInt32LE(8) ?? 0;
    this.stats[WorkerStat.sendBufferFull]! += batch.send(this.io, socket, this.gsoRefused[family]);
    if (socket) this.stats[WorkerStat.gsoSends]! += socket.sendState.readUInt32LE(8) - gsoSends;
  }

  private readonly gsoRefused = { 4: () => this.noteGsoRefused(4), 6: () => this.noteGsoRefused(6) };

  private noteGsoRefused(family: 4 | 6): void {
    this.stats[WorkerStat.gsoRefusals]!++;
    post({
      type: 'log',
      level: 'info',
      message: `UDP GSO refused by the kernel on the IPv${family} socket (send thread)`,
    });
  }

  private flushAll(): void {
    this.flushFamily(4);
    this.flushFamily(6);
  }

  private setSockets(sockets: SharedSocket[]): void {
    this.flushAll();
    for (const old of this.sockets) this.io.closeFd(old.fd);
    this.sockets = sockets.map(({ fd, family, gso }) => {
      const sendState = Buffer.alloc(12);
      sendState.writeUInt32LE(gso ? 1 : 0, 0);
      return { fd, family, sendState };
    });
  }

  private setPeers(peers: SharedPeer[]): void {
    const table = new AllowedIps<PeerEntry>();
    for (const shared of peers) {
      const entry = entryOf(shared);
      for (const prefix of shared.allowedIps) table.insert(prefix, entry);
    }
    this.table = table;
    // The snapshot and the table built from it outlived young-generation collections, so this
    // thread's heap grew its young generation to the maximum (64 MB for 10,000 peers) and kept it.
    if (peers.length >= LARGE_CHANGE_PEERS) releaseMemory();
  }

  private close(): void {
    this.io.pollStop(this.poll);
    this.io.closeFd(this.setup.tunFd);
    for (const socket of this.sockets) this.io.closeFd(socket.fd);
    this.sockets = [];
    const closed = new Int32Array(this.setup.closed);
    Atomics.store(closed, 0, 1);
    Atomics.notify(closed, 0);
    parentPort!.close();
  }
}

function entryOf(shared: SharedPeer): PeerEntry {
  const e = shared.endpoint;
  const keypair = shared.keypair;
  return {
    endpoint: e ? new UdpEndpoint(e.family, e.address, e.port, e.local, e.interfaceIndex) : null,
    key: keypair ? Buffer.from(keypair.sendState, SEND_STATE_KEY_OFFSET, 32) : null,
    flags: keypair ? new Int32Array(keypair.sendState) : null,
    counters: keypair ? new SendCounters(new BigUint64Array(keypair.sendState, SEND_STATE_COUNTER, 1)) : null,
    remoteIndex: keypair?.remoteIndex ?? 0,
    expiresAt: keypair ? keypair.createdAtUnixMs + REJECT_AFTER_TIME - performance.timeOrigin : 0,
    txBytes: peerTxBytes(shared.stats),
    dataPackets: peerDataPackets(shared.stats),
    forwarded: 0,
    forwardWindowStart: -Infinity,
  };
}

function post(message: FromWorker): void {
  parentPort!.postMessage(message);
}

const worker = new SendWorker(workerData as WorkerSetup);
parentPort!.on('message', (message: ToWorker) => worker.handle(message));
