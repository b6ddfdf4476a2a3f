/**
 * The userspace WireGuard device: the sans-IO core (agent/core/device.ts) wired to a TUN and two UDP
 * sockets (IPv4 and IPv6 on one port) through the native layer. I/O is batched on the main thread:
 * when a descriptor is readable, up to 128 packets are read with one call, fed through the core, and
 * what the core emits is written back with one sendmmsg / one batched TUN write.
 *
 * Offloads, when the TUN has a vnet header and the kernel takes them: the TUN hands over TCP/UDP
 * segments of up to 64 KB, which the native layer splits into MTU-sized packets before the core
 * encrypts them; runs of equal-size datagrams to one peer leave as one UDP GSO send; UDP GRO hands
 * over such runs at once; and decrypted in-order packets of one flow are coalesced into one TUN
 * write. Each of these falls back to the plain path on its own when refused.
 */
import { performance } from 'node:perf_hooks';
import { WireGuardDevice, type DeviceEvent } from '../core/device';
import type { Peer } from '../core/peer';
import { UdpEndpoint, parseEndpoint } from './endpoint';
import {
  GRO_MAX_SEGMENTS,
  MAX_BATCH,
  OFFLOAD_STAT_COUNT,
  OffloadStat,
  RECV_META_SIZE,
  RECV_OFFSET_FIELD,
  SEND_STATE_SIZE,
  TunOffload,
  UdpOffload,
  nativeIo,
  offloadsWanted,
  type NativeError,
  type NativeIo,
  type PollHandle,
} from './native';
import { HandshakeFastPath } from './handshake-fast-path';
import { ReceiveScheduler } from './receive-scheduler';
import { SLOT, SendBatch, TX_CAPACITY, socketOf, type SendSocket } from './send-batch';
import { SendThreads, WorkerStat, configuredThreads, defaultThreads } from './send-threads';
import { TunReader } from './tun-reader';
import { tierUpEarly } from './tiering';
import { claimWarmUp, rehearse, warmUpWanted, type RehearsalDevice } from './warm-up';
import { AEAD_TAG_LENGTH } from '../crypto/primitives';
import { TRANSPORT_HEADER_LENGTH } from '../core/messages';
import { Errno, UapiError, type ConfigChange, type DeviceSnapshot, type PeerChange } from './uapi';
import type { UapiTarget } from './uapi-server';

export interface DeviceLog {
  debug(message: string): void;
  info(message: string): void;
  error(message: string): void;
}

export interface UserspaceDeviceOptions {
  tunFd: number;
  interfaceName: string;
  log: DeviceLog;
  /** SO_RCVBUF/SO_SNDBUF for the UDP sockets (wireguard-go uses 7 MiB). */
  socketBufferBytes?: number;
  /** Called for every protocol event instead of the device's own event lines: the caller logs them. */
  onEvent?: (event: DeviceEvent) => void;
  /** UDP GSO/GRO and (on a vnet_hdr TUN) TUN offloads; default: on unless WIREMESH_OFFLOADS=0. */
  offloads?: boolean;
  /**
   * Data-plane threads: 1 runs everything on the main thread; N > 1 adds N - 1 send threads, each
   * on its own TUN queue (./send-threads), started with the device. Default: WIREMESH_THREADS, else
   * one per CPU up to 4, started only once the send path carries SEND_THREADS_LOAD_PACKETS_PER_SECOND.
   */
  threads?: number;
  /** The native layer; a warm-up rehearsal (warm-up.ts) gives its devices a stand-in for the I/O. */
  io?: NativeIo;
}

/** Which offloads are in use: for logs and metrics. */
export interface OffloadState {
  /** TUN offloads enabled (csum, tso4, tso6, uso4, uso6), or null on a TUN without vnet header. */
  tun: string[] | null;
  udpGso: boolean;
  udpGro: boolean;
  /** Frames read from / written to a vnet TUN, GSO frames split, packets coalesced, frames dropped as malformed. */
  tunFramesRead: number;
  tunGsoFrames: number;
  tunFramesWritten: number;
  tunPacketsCoalesced: number;
  tunInvalidFrames: number;
  /** UDP GSO sends made and refused (a refusal switches GSO off for the socket). */
  udpGsoSends: number;
  udpGsoRefusals: number;
}

/** Packets per TUN write call: on a vnet TUN, more packets per call coalesce better. */
const TUN_WRITE_BATCH = 512;
const TICK_INTERVAL_MS = 100;
/**
 * With the default `threads`, the send threads start once one tick saw the TUN deliver packets at
 * this rate: a node worker costs ~13 MB resident (its own V8 heap), which an idle or lightly used
 * gateway does not need, while a bulk transfer reaches this rate within its first tick.
 */
export const SEND_THREADS_LOAD_PACKETS_PER_SECOND = 10_000;
const MAX_ROUNDS_PER_WAKEUP = 4;
const EAFNOSUPPORT = 97;
const EADDRINUSE = 98;
const EADDRNOTAVAIL = 99;
const DEFAULT_SOCKET_BUFFER = 7 * 1024 * 1024;

interface UdpSocket extends SendSocket {
  poll: PollHandle;
  gro: boolean;
}

export class UserspaceDevice implements UapiTarget, RehearsalDevice {
  readonly core: WireGuardDevice;
  readonly interfaceName: string;
  private readonly io: NativeIo;
  private readonly log: DeviceLog;
  private readonly tunFd: number;
  private readonly threads: number;
  /** The send threads wait for load (the default `threads`); false once they started or were tried. */
  private threadsOnLoad: boolean;
  /** TUN packets the main thread had read at the previous tick. */
  private tunPacketsAtTick = 0;
  /** The send threads when threads > 1; the main thread then neither reads the TUN nor sends its data. */
  private sendThreads: SendThreads | null = null;
  /** Where received packets are written: the device's queue, or a send thread's with threads > 1. */
  private tunWriteFd: number;
  private tunReader: TunReader | null = null;
  /** The clock reading, socket and batch size of the event being handled (read by the hoisted callbacks). */
  private eventNow = 0;
  private eventSocket: UdpSocket | null = null;
  private eventCount = 0;
  /** Sessions or endpoints changed: the send threads get a fresh snapshot after this event. */
  private republish = false;
  private readonly socketBufferBytes: number;
  private readonly onEvent: ((event: DeviceEvent) => void) | undefined;
  private tunPoll: PollHandle | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private sockets: UdpSocket[] = [];
  private configuredPort = 0;
  private boundPort = 0;
  private fwmark = 0;

  private readonly offloads: boolean;
  /** TUN_F_* offloads on the TUN, or -1 when it has no vnet header (plain reads and writes). */
  private tunOffloads = -1;
  private readonly offloadStats = Buffer.alloc(OFFLOAD_STAT_COUNT * 4);
  private readonly rxData = Buffer.alloc(MAX_BATCH * SLOT);
  /** Room for every message to be a GRO batch. */
  private readonly rxMeta = Buffer.alloc(MAX_BATCH * GRO_MAX_SEGMENTS * RECV_META_SIZE);
  /** Batched opening of received transport payloads: which records are open, and the aeadBatch run. */
  private readonly rxOpened = new Uint8Array(MAX_BATCH * GRO_MAX_SEGMENTS);
  private readonly openSpans = Buffer.alloc(MAX_BATCH * GRO_MAX_SEGMENTS * 8);
  private readonly openCounters = Buffer.alloc(MAX_BATCH * GRO_MAX_SEGMENTS * 8);
  private readonly openRecords = new Int32Array(MAX_BATCH * GRO_MAX_SEGMENTS);
  private readonly tunOut = Buffer.alloc(TX_CAPACITY);
  private readonly tunSpans = Buffer.alloc(TUN_WRITE_BATCH * 8);
  private tunOutCount = 0;
  private tunOutUsed = 0;
  private readonly sendBatches = { 4: new SendBatch(), 6: new SendBatch() };
  private readonly endpointCache = new Map<string, UdpEndpoint>();
  private readonly scheduler = new ReceiveScheduler();
  private readonly handshakeFastPath: HandshakeFastPath;
  private cookieRepliesUnlogged = 0;
  private cookieRepliesLoggedAt = -Infinity;
  /** The source part (bytes 4..44) of the last receive record and its endpoint: most records repeat it. */
  private readonly lastSourceBytes = Buffer.alloc(40);
  private readonly lastSourceWords = new Uint32Array(this.lastSourceBytes.buffer, this.lastSourceBytes.byteOffset, 10);
  /** rxMeta as 32-bit words: the per-record source comparison reads words, with no view or Buffer call. */
  private readonly rxMetaWords = new Uint32Array(this.rxMeta.buffer, this.rxMeta.byteOffset, this.rxMeta.length / 4);
  private lastSource: UdpEndpoint | null = null;
  /** Datagrams the kernel would not take (socket buffer full), by family. */
  readonly sendDrops = { 4: 0, 6: 0 };

  constructor(options: UserspaceDeviceOptions) {
    this.io = options.io ?? nativeIo();
    this.tunFd = options.tunFd;
    this.tunWriteFd = options.tunFd;
    const configured = options.threads ?? configuredThreads();
    this.threads = configured ?? defaultThreads();
    this.threadsOnLoad = configured === undefined && this.threads > 1;
    this.interfaceName = options.interfaceName;
    this.log = options.log;
    this.socketBufferBytes = options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER;
    this.onEvent = options.onEvent;
    this.offloads = options.offloads ?? offloadsWanted();
    this.core = new WireGuardDevice({
      wallClockOffsetMs: Date.now() - performance.now(),
      outputs: {
        transmit: (datagram, endpoint) => this.queueDatagram(datagram, endpoint as UdpEndpoint),
        transmitUnsealed: (data, length, key, endpoint) => {
          const to = endpoint as UdpEndpoint;
          const batch = this.sendBatches[to.family];
          batch.addUnsealed(data, length, key, to);
          if (batch.isFull()) this.flushDatagrams(to.family);
        },
        deliver: (packet) =>
          this.queueTunWrite(Buffer.from(packet.buffer, packet.byteOffset, packet.length), 0, packet.length),
        deliverSpan: (data, offset, length) => this.queueTunWrite(data, offset, length),
        event: (event) => this.logEvent(event),
        forgetSourceAddress: (endpoint) => (endpoint as UdpEndpoint).withoutLocalAddress(),
      },
    });
    this.handshakeFastPath = new HandshakeFastPath(this.io, this.core);
  }

  /** Binds the sockets (random port until one is configured) and starts reading and ticking. */
  start(): void {
    this.tunOffloads = this.io.tunSetOffloads(this.tunFd, this.offloads);
    this.log.info(
      this.tunOffloads < 0
        ? 'TUN offloads off (no vnet header)'
        : `TUN offloads: vnet header, ${this.offloadState.tun!.join(' ') || 'none accepted by the kernel'}`,
    );
    this.sendThreads = this.threads > 1 && !this.threadsOnLoad ? this.startSendThreads() : null;
    if (this.sendThreads) {
      this.tunWriteFd = this.sendThreads.tunWriteFd;
    } else {
      this.tunReader = new TunReader(this.io, this.tunFd, this.tunOffloads >= 0, this.offloadStats);
      this.tunPoll = this.pollTun();
    }
    this.rebind(this.configuredPort, this.fwmark);
    this.ticker = setInterval(() => this.tick(), TICK_INTERVAL_MS);
  }

  /**
   * Hands the send path to the threads once the TUN delivered SEND_THREADS_LOAD_PACKETS_PER_SECOND
   * over the last tick (tried once). The device's queue is drained and its poll stopped first: the
   * threads detach that queue, and packets still waiting in a detached queue are discarded.
   */
  private startSendThreadsOnLoad(now: number): void {
    const reader = this.tunReader;
    if (!this.threadsOnLoad || !reader) return;
    const read = reader.packetsRead - this.tunPacketsAtTick;
    this.tunPacketsAtTick = reader.packetsRead;
    const perSecond = (read * 1000) / TICK_INTERVAL_MS;
    if (perSecond < SEND_THREADS_LOAD_PACKETS_PER_SECOND) return;
    this.threadsOnLoad = false;
    this.drainTun();
    this.io.pollStop(this.tunPoll!);
    this.tunPoll = null;
    const threads = this.startSendThreads();
    if (!threads) {
      this.tunPoll = this.pollTun();
      return;
    }
    this.log.info(`data plane: send threads started under load (${Math.round(perSecond)} packets/s from the TUN)`);
    this.tunReader = null;
    this.sendThreads = threads;
    this.tunWriteFd = threads.tunWriteFd;
    this.shareSockets();
    threads.publish(this.core, now, true);
  }

  /** The send threads, or null (logged) when the TUN cannot take more queues: everything then runs here. */
  private startSendThreads(): SendThreads | null {
    try {
      return new SendThreads({
        io: this.io,
        count: this.threads - 1,
        interfaceName: this.interfaceName,
        tunFd: this.tunFd,
        vnet: this.tunOffloads >= 0,
        mtu: this.core.mtu,
        log: this.log,
        onPacket: (packet) => {
          this.core.sendPacket(packet, this.now());
          this.flush();
        },
      });
    } catch (error) {
      this.log.error(`data-plane threads unavailable, running on one thread: ${(error as Error).message}`);
      return null;
    }
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.tunPoll) this.io.pollStop(this.tunPoll);
    this.tunPoll = null;
    this.sendThreads?.close();
    this.sendThreads = null;
    this.closeSockets(this.sockets);
    this.sockets = [];
    this.core.removeAllPeers();
    this.core.setPrivateKey(null);
    this.io.closeFd(this.tunFd);
  }

  setMtu(mtu: number): void {
    this.core.mtu = mtu;
    this.sendThreads?.setMtu(mtu);
  }

  get listenPort(): number {
    return this.boundPort;
  }

  get offloadState(): OffloadState {
    const threads = this.sendThreads;
    const stat = (index: number): number =>
      this.offloadStats.readUInt32LE(index * 4) + (threads?.stat(WorkerStat.offload + index) ?? 0);
    const sockets = this.sockets;
    const sum = (index: number, worker: number): number =>
      sockets.reduce((total, s) => total + s.sendState.readUInt32LE(index * 4), 0) + (threads?.stat(worker) ?? 0);
    const mask = this.tunOffloads;
    return {
      tun:
        mask < 0
          ? null
          : Object.entries(TunOffload)
              .filter(([, bit]) => mask & bit)
              .map(([name]) => name.toLowerCase()),
      udpGso: sockets.length > 0 && sockets.every((s) => s.sendState.readUInt32LE(0) === 1),
      udpGro: sockets.length > 0 && sockets.every((s) => s.gro),
      tunFramesRead: stat(OffloadStat.framesRead),
      tunGsoFrames: stat(OffloadStat.gsoFrames),
      tunFramesWritten: stat(OffloadStat.framesWritten),
      tunPacketsCoalesced: stat(OffloadStat.coalesced),
      tunInvalidFrames: stat(OffloadStat.invalid),
      udpGsoSends: sum(2, WorkerStat.gsoSends),
      udpGsoRefusals: sum(1, WorkerStat.gsoRefusals),
    };
  }

  // ---- I/O --------------------------------------------------------------------------------

  private now(): number {
    return performance.now();
  }

  private tick(): void {
    const now = this.now();
    this.core.wallClockOffsetMs = Date.now() - now;
    this.sendThreads?.reportSends(this.core, now);
    this.core.tick(now);
    this.flush();
    this.sendThreads?.publish(this.core, now);
    this.startSendThreadsOnLoad(now);
  }

  /**
   * At the first handshake in this process (tunnel traffic is about to flow): V8's early tier-up
   * (tiering.ts) and the warm-up rehearsal (warm-up.ts). Doing either from the start would also
   * compile the start-up and idle code (~4 MiB of idle RSS); a TUN read is no sign of traffic, as
   * the kernel writes its own IPv6 chatter (router solicitations, MLD reports) to a new interface
   * for no peer. It runs after this event's flush: the handshake message leaves first, and the
   * rehearsal runs while it travels.
   */
  private warmUpOnHandshake(): void {
    if (!claimWarmUp()) return;
    setImmediate(() => {
      const started = this.now();
      tierUpEarly();
      if (!warmUpWanted()) {
        this.log.debug(
          'tunnel traffic: V8 optimizes the data plane early from now on (no warm-up: WIREMESH_WARM_UP=0)',
        );
        return;
      }
      try {
        const packets = rehearse(this.io, this.udpOffloadBits(), (io) => this.rehearsalDevice(io));
        const ms = (this.now() - started).toFixed(1);
        this.log.debug(
          `tunnel traffic: V8 optimizes the data plane early from now on (warm-up: ${packets} packets, ${ms} ms)`,
        );
      } catch (error) {
        this.log.debug('tunnel traffic: V8 optimizes the data plane early from now on');
        this.log.error(`data-plane warm-up failed (the first packets run colder): ${(error as Error).message}`);
      }
    });
  }

  /** A device for the warm-up rehearsal on `io`, the stand-in I/O: never started, TUN and offloads as this one's. */
  private rehearsalDevice(io: NativeIo): UserspaceDevice {
    const device = new UserspaceDevice({
      tunFd: -1,
      interfaceName: `${this.interfaceName} rehearsal`,
      log: { debug: () => {}, info: () => {}, error: () => {} },
      threads: 1,
      offloads: this.offloads,
      io,
    });
    device.tunOffloads = this.tunOffloads;
    return device;
  }

  /** The UDP offload bits the sockets have, as udpSetOffloads reported them. */
  private udpOffloadBits(): number {
    const { udpGso, udpGro } = this.offloadState;
    return (udpGso ? UdpOffload.GSO : 0) | (udpGro ? UdpOffload.GRO : 0);
  }

  /**
   * Rehearsal only (warm-up.ts), on a device that was never started and has the stand-in I/O: the
   * TUN reader and one IPv4 socket, polled through the stand-in, which keeps the callbacks.
   */
  prepareRehearsal(): void {
    this.tunReader = new TunReader(this.io, this.tunFd, this.tunOffloads >= 0, this.offloadStats);
    this.tunPoll = this.pollTun();
    const socket = this.udpSocket(-1, 4);
    socket.poll = this.pollSocket(socket);
    this.sockets = [socket];
  }

  /** The poll callbacks, made here only: a rehearsal (warm-up.ts) runs these same closures. */
  private pollTun(): PollHandle {
    return this.io.pollStart(this.tunFd, () => this.drainTun());
  }

  private pollSocket(socket: UdpSocket): PollHandle {
    return this.io.pollStart(socket.fd, () => this.drainSocket(socket));
  }

  private drainTun(): void {
    this.eventNow = this.now();
    try {
      this.tunReader!.drain(this.sendFromTun, this.flushEvent);
    } catch (error) {
      this.log.error(`TUN read failed: ${(error as Error).message}`);
    }
  }

  private drainSocket(socket: UdpSocket): void {
    const now = this.now();
    this.eventNow = now;
    this.eventSocket = socket;
    for (let round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
      let count: number;
      try {
        count = this.io.recvBatch(socket.fd, this.rxData, SLOT, this.rxMeta, MAX_BATCH);
      } catch (error) {
        // ICMP errors surface here (ECONNREFUSED and the like); they are not fatal.
        this.log.debug(`UDP receive: ${(error as Error).message}`);
        break;
      }
      this.eventCount = count;
      if (this.openTransports(count, now) === count) {
        // Transport only (the usual case): no handshake to triage or shed, so in arrival order as is.
        for (let i = 0; i < count; i++) this.receiveRecord(i);
      } else {
        this.scheduleBatch(socket, count);
      }
      this.flush();
      if (count < MAX_BATCH) break;
    }
  }

  /**
   * A batch with handshakes in it: transport first, handshakes shed when far behind
   * (receive-scheduler.ts); under load the valid-mac1 handshakes without mac2 get their cookie
   * replies in one go (handshake-fast-path.ts).
   */
  private scheduleBatch(socket: UdpSocket, count: number): void {
    const fastPath = this.handshakeFastPath;
    fastPath.triage(this.rxData, SLOT, this.rxMeta, count);
    this.scheduler.run(
      fastPath.classes,
      count,
      this.io.receiveBacklog(socket.fd),
      this.receiveRecord,
      this.answerHandshakes,
    );
    if (this.scheduler.dropped > 0) this.core.countDrops('handshake-over-budget', this.scheduler.dropped);
    const invalid = this.scheduler.invalidMac1;
    if (invalid > 0) this.core.countDrops(fastPath.noKey ? 'no-private-key' : 'invalid-mac1', invalid);
  }

  /** Feeds received record i of the current batch to the core. */
  private readonly receiveRecord = (i: number): void => {
    const record = i * RECV_META_SIZE;
    const length = this.rxMeta.readUInt32LE(record);
    const start = this.rxMeta.readUInt32LE(record + RECV_OFFSET_FIELD);
    const size = Math.min(length, SLOT);
    this.core.receiveDatagramAt(this.rxData, start, size, this.sourceOf(record), this.eventNow, this.rxOpened[i] === 1);
  };

  /** Answers the current batch's valid-mac1 handshakes without mac2 with cookie replies, if under load. */
  private readonly answerHandshakes = (): boolean => {
    const socket = this.eventSocket!;
    const fastPath = this.handshakeFastPath;
    const replies = fastPath.answer(this.rxData, SLOT, this.rxMeta, this.eventCount, socket, this.eventNow);
    if (replies === null) return false;
    this.sendDrops[socket.family] += fastPath.refused;
    this.noteCookieReplies(replies, this.eventNow);
    return true;
  };

  private readonly sendFromTun = (data: Buffer, start: number, length: number): void =>
    this.core.sendPacketAt(data, start, length, this.eventNow);

  private readonly flushEvent = (): void => this.flush();

  /**
   * Opens the received transport payloads in place, one native call per run of datagrams under one
   * key, and marks them in rxOpened; the core then skips its own per-packet open for those. A
   * payload that fails here is left to the core, which drops and counts it. Returns how many of
   * the records are shaped as transport messages (the rest may be handshakes).
   */
  private openTransports(count: number, now: number): number {
    const meta = this.rxMeta;
    const data = this.rxData;
    let key: Uint8Array | null = null;
    let run = 0;
    let transports = 0;
    for (let i = 0; i < count; i++) {
      this.rxOpened[i] = 0;
      const record = i * RECV_META_SIZE;
      const length = meta.readUInt32LE(record);
      const offset = meta.readUInt32LE(record + RECV_OFFSET_FIELD);
      const transport =
        length >= TRANSPORT_HEADER_LENGTH + AEAD_TAG_LENGTH &&
        length <= SLOT &&
        data[offset] === 4 &&
        data[offset + 1] === 0 &&
        data[offset + 2] === 0 &&
        data[offset + 3] === 0;
      if (transport) transports++;
      const recordKey = transport ? this.core.transportReceiveKey(data, offset, now) : null;
      if (recordKey !== key) {
        if (key) this.openRun(key, run);
        key = recordKey;
        run = 0;
      }
      if (!recordKey) continue;
      this.openSpans.writeUInt32LE(offset + TRANSPORT_HEADER_LENGTH, run * 8);
      this.openSpans.writeUInt32LE(length - TRANSPORT_HEADER_LENGTH, run * 8 + 4);
      data.copy(this.openCounters, run * 8, offset + 8, offset + 16);
      this.openRecords[run++] = i;
    }
    if (key) this.openRun(key, run);
    return transports;
  }

  private openRun(key: Uint8Array, run: number): void {
    for (let done = 0; done < run;) {
      const spans = done === 0 ? this.openSpans : this.openSpans.subarray(done * 8);
      const counters = done === 0 ? this.openCounters : this.openCounters.subarray(done * 8);
      const opened = this.io.aeadBatch(false, key, this.rxData, spans, counters, run - done);
      for (let j = 0; j < opened; j++) this.rxOpened[this.openRecords[done + j]!] = 1;
      done += opened + 1; // past the one that failed (if any)
    }
  }

  /** The endpoint object for a received datagram; the same object for the same source and local address. */
  private sourceOf(record: number): UdpEndpoint {
    const meta = this.rxMeta;
    if (this.lastSource && this.sameSourceAsLast(record)) return this.lastSource;
    const key = meta.toString('latin1', record + 4, record + 44);
    let endpoint = this.endpointCache.get(key);
    if (!endpoint) {
      const family = meta[record + 4] === 6 ? 6 : 4;
      const size = family === 6 ? 16 : 4;
      const hasLocal = meta[record + 5] === 1;
      endpoint = new UdpEndpoint(
        family,
        Buffer.from(meta.subarray(record + 8, record + 8 + size)),
        meta.readUInt16LE(record + 6),
        hasLocal ? Buffer.from(meta.subarray(record + 24, record + 24 + size)) : null,
        hasLocal ? meta.readUInt32LE(record + 40) : 0,
      );
      if (this.endpointCache.size > 65536) this.endpointCache.clear();
      this.endpointCache.set(key, endpoint);
    }
    meta.copy(this.lastSourceBytes, 0, record + 4, record + 44);
    this.lastSource = endpoint;
    return endpoint;
  }

  /** Whether record's source bytes (4..44) equal the last source's, compared as ten 32-bit words. */
  private sameSourceAsLast(record: number): boolean {
    const words = this.rxMetaWords;
    const last = this.lastSourceWords;
    const first = (record + 4) >> 2;
    for (let i = 0; i < 10; i++) if (words[first + i] !== last[i]) return false;
    return true;
  }

  private queueDatagram(datagram: Uint8Array, to: UdpEndpoint): void {
    const batch = this.sendBatches[to.family];
    batch.add(datagram, to);
    if (batch.isFull()) this.flushDatagrams(to.family);
  }

  private queueTunWrite(data: Buffer, offset: number, length: number): void {
    data.copy(this.tunOut, this.tunOutUsed, offset, offset + length);
    this.tunSpans.writeUInt32LE(this.tunOutUsed, this.tunOutCount * 8);
    this.tunSpans.writeUInt32LE(length, this.tunOutCount * 8 + 4);
    this.tunOutCount++;
    this.tunOutUsed += length;
    if (this.tunOutCount === TUN_WRITE_BATCH || this.tunOutUsed > TX_CAPACITY - SLOT) this.flushTun();
  }

  private flushDatagrams(family: 4 | 6): void {
    const batch = this.sendBatches[family];
    if (batch.count === 0) return;
    this.sendDrops[family] += batch.send(this.io, socketOf(this.sockets, family), this.gsoRefused[family]);
  }

  private readonly gsoRefused = { 4: () => this.logGsoRefused(4), 6: () => this.logGsoRefused(6) };

  private logGsoRefused(family: 4 | 6): void {
    this.log.info(`UDP GSO refused by the kernel on the IPv${family} socket; sending datagrams one by one`);
  }

  private flushTun(): void {
    if (this.tunOutCount === 0) return;
    if (this.tunOffloads >= 0) {
      const udp = (this.tunOffloads & (TunOffload.USO4 | TunOffload.USO6)) === (TunOffload.USO4 | TunOffload.USO6);
      this.io.tunWriteFrames(this.tunWriteFd, this.tunOut, this.tunSpans, this.tunOutCount, udp, this.offloadStats);
    } else {
      this.io.tunWriteBatch(this.tunWriteFd, this.tunOut, this.tunSpans, this.tunOutCount);
    }
    this.tunOutCount = 0;
    this.tunOutUsed = 0;
  }

  /** Writes out everything the core produced during the current event. */
  private flush(): void {
    this.flushDatagrams(4);
    this.flushDatagrams(6);
    this.flushTun();
    if (this.republish && this.sendThreads) {
      this.republish = false;
      this.sendThreads.publish(this.core, this.now());
    }
  }

  private logEvent(event: DeviceEvent): void {
    if (event.type === 'handshake-complete' || event.type === 'keys-zeroed' || event.type === 'endpoint-changed')
      this.republish = true;
    // A responder learns the initiator's endpoint from its initiation: it warms up while its response travels.
    if (
      event.type === 'handshake-initiated' ||
      event.type === 'endpoint-changed' ||
      event.type === 'handshake-complete'
    )
      this.warmUpOnHandshake();
    // One line per event: the agent logs its own structured ones, so two here would double each rekey.
    if (this.onEvent) {
      this.onEvent(event);
      return;
    }
    switch (event.type) {
      case 'handshake-initiated':
        this.log.debug(`${peerName(event.peer)}: sending handshake initiation${event.retry ? ' (retry)' : ''}`);
        break;
      case 'handshake-complete':
        this.log.info(`${peerName(event.peer)}: handshake complete as ${event.role}`);
        break;
      case 'handshake-gave-up':
        this.log.info(`${peerName(event.peer)}: handshake did not complete after 90 seconds, giving up`);
        break;
      case 'keys-zeroed':
        this.log.debug(`${peerName(event.peer)}: key material zeroed`);
        break;
      case 'endpoint-changed':
        this.log.debug(`${peerName(event.peer)}: endpoint now ${String(event.endpoint)}`);
        break;
      case 'cookie-sent':
        this.noteCookieReplies(1, this.now());
        break;
    }
  }

  /** Under a flood cookie replies go out for every packet: one log line per second at most. */
  private noteCookieReplies(count: number, now: number): void {
    this.cookieRepliesUnlogged += count;
    if (now - this.cookieRepliesLoggedAt < 1000) return;
    this.log.debug(`under load: sent ${this.cookieRepliesUnlogged} cookie replies in the last second or so`);
    this.cookieRepliesUnlogged = 0;
    this.cookieRepliesLoggedAt = now;
  }

  // ---- sockets --------------------------------------------------------------------------------

  private openSockets(port: number, fwmark: number): { sockets: UdpSocket[]; port: number } {
    for (let attempt = 0; attempt < 10; attempt++) {
      const [fd4, bound] = this.io.udpOpen(4, port, this.socketBufferBytes, this.socketBufferBytes, fwmark);
      const sockets: UdpSocket[] = [this.udpSocket(fd4, 4)];
      try {
        const [fd6] = this.io.udpOpen(6, bound, this.socketBufferBytes, this.socketBufferBytes, fwmark);
        sockets.push(this.udpSocket(fd6, 6));
      } catch (error) {
        const errno = (error as NativeError).errno;
        if (errno === EADDRINUSE && port === 0) {
          this.io.closeFd(fd4);
          continue; // the random IPv4 port is taken for IPv6: pick another
        }
        if (errno !== EAFNOSUPPORT && errno !== EADDRNOTAVAIL) {
          this.io.closeFd(fd4);
          throw error;
        }
        this.log.info('IPv6 is not available; listening on IPv4 only');
      }
      return { sockets, port: bound };
    }
    throw Object.assign(new Error('no free port for both IPv4 and IPv6'), { errno: EADDRINUSE });
  }

  /** A socket record with its GSO/GRO probed once (when offloads are wanted). */
  private udpSocket(fd: number, family: 4 | 6): UdpSocket {
    const bits = this.offloads ? this.io.udpSetOffloads(fd) : 0;
    const sendState = Buffer.alloc(SEND_STATE_SIZE);
    sendState.writeUInt32LE(bits & UdpOffload.GSO ? 1 : 0, 0);
    return { fd, family, poll: null as unknown as PollHandle, sendState, gro: (bits & UdpOffload.GRO) !== 0 };
  }

  private closeSockets(sockets: UdpSocket[]): void {
    for (const socket of sockets) {
      if (socket.poll) this.io.pollStop(socket.poll);
      this.io.closeFd(socket.fd);
    }
  }

  /** Gives the send threads (if any) their own duplicates of the current sockets. */
  private shareSockets(): void {
    this.sendThreads?.setSockets(this.sockets.map((s) => ({ ...s, gso: s.sendState.readUInt32LE(0) === 1 })));
  }

  /** Opens sockets on `port` with `fwmark`, then switches to them; on failure nothing changes. */
  private rebind(port: number, fwmark: number): void {
    let fresh: UdpSocket[];
    let bound: number;
    try {
      ({ sockets: fresh, port: bound } = this.openSockets(port, fwmark));
    } catch (error) {
      throw new UapiError(Errno.EADDRINUSE, `cannot listen on port ${port}: ${(error as Error).message}`);
    }
    this.closeSockets(this.sockets);
    for (const socket of fresh) socket.poll = this.pollSocket(socket);
    this.sockets = fresh;
    this.shareSockets();
    this.configuredPort = port;
    this.fwmark = fwmark;
    this.boundPort = bound;
    this.endpointCache.clear();
    this.lastSource = null;
    this.log.info(`listening on UDP port ${this.boundPort}`);
    const { udpGso, udpGro } = this.offloadState;
    this.log.info(`UDP offloads: GSO ${udpGso ? 'on' : 'off'}, GRO ${udpGro ? 'on' : 'off'}`);
  }

  // ---- UAPI -----------------------------------------------------------------------------------

  /** Packets dropped, by reason: the core's, and datagrams the kernel refused (socket buffer full). */
  /** The core's drops by reason, and the shell's own: datagrams a full socket buffer refused, malformed vnet_hdr frames. */
  drops(): Record<string, number> {
    return {
      ...Object.fromEntries(this.core.drops),
      'udp-send-buffer-full': this.sendDrops[4] + this.sendDrops[6] + this.workerStat(WorkerStat.sendBufferFull),
      'tun-invalid-frame': this.offloadState.tunInvalidFrames,
      ...(this.sendThreads && this.workerDrops()),
    };
  }

  private workerStat(index: number): number {
    return this.sendThreads?.stat(index) ?? 0;
  }

  /** Drops in the send threads, added to the core's of the same reason. */
  private workerDrops(): Record<string, number> {
    const core = this.core.drops;
    return {
      'no-route': (core.get('no-route') ?? 0) + this.workerStat(WorkerStat.noRoute),
      'no-endpoint': (core.get('no-endpoint') ?? 0) + this.workerStat(WorkerStat.noEndpoint),
      'staged-overflow': (core.get('staged-overflow') ?? 0) + this.workerStat(WorkerStat.stagedOverflow),
    };
  }

  snapshot(): DeviceSnapshot {
    return {
      privateKey: this.core.privateKey,
      listenPort: this.boundPort,
      fwmark: this.fwmark,
      drops: this.drops(),
      peers: [...this.core.peers()].map((peer) => ({
        publicKey: peer.publicKey,
        presharedKey: peer.presharedKey,
        endpoint: peer.endpoint ? String(peer.endpoint) : null,
        lastHandshakeUnixMs: peer.lastHandshakeUnixMs,
        txBytes: peer.txBytes + (this.sendThreads?.txBytesOf(peer) ?? 0),
        rxBytes: peer.rxBytes,
        persistentKeepaliveInterval: peer.persistentKeepaliveInterval,
        allowedIps: this.core.allowedIps.prefixesOf(peer),
      })),
    };
  }

  apply(change: ConfigChange): void {
    const port = change.listenPort ?? this.configuredPort;
    const fwmark = change.fwmark ?? this.fwmark;
    // The port we are already bound to (a random one, say) needs no rebind, as in the kernel:
    // rebinding would collide with our own sockets.
    const alreadyBound = port !== 0 && port === this.boundPort;
    if (port !== this.configuredPort && !alreadyBound) {
      this.rebind(port, fwmark);
    } else if (fwmark !== this.fwmark) {
      this.setMark(fwmark);
    }
    if (alreadyBound) this.configuredPort = port;
    const now = this.now();
    if (change.privateKey !== undefined) this.core.setPrivateKey(change.privateKey);
    if (change.replacePeers) this.core.removeAllPeers();
    for (const peerChange of change.peers) this.applyPeer(peerChange, now);
    this.flush();
    this.sendThreads?.publish(this.core, now, true);
  }

  private setMark(fwmark: number): void {
    const previous = this.fwmark;
    try {
      for (const socket of this.sockets) this.io.setMark(socket.fd, fwmark);
    } catch (error) {
      for (const socket of this.sockets) {
        try {
          this.io.setMark(socket.fd, previous);
        } catch {
          // best effort: the mark could not be set, so it was not changed either
        }
      }
      throw new UapiError(Errno.EADDRINUSE, `cannot set fwmark: ${(error as Error).message}`);
    }
    this.fwmark = fwmark;
  }

  private applyPeer(change: PeerChange, now: number): void {
    const existing = this.core.peer(change.publicKey);
    if (change.remove) {
      if (existing) this.core.removePeer(existing);
      return;
    }
    if (!existing && change.updateOnly) return;
    const peer = existing ?? this.core.addPeer(change.publicKey);
    if (!peer) return; // our own public key: ignored, as wireguard-go does
    if (change.presharedKey !== undefined) peer.presharedKey = change.presharedKey;
    if (change.endpoint !== undefined) peer.endpoint = parseEndpoint(change.endpoint);
    for (const allowed of change.allowedIps) {
      if (allowed.kind === 'clear') this.core.allowedIps.removePeer(peer);
      else if (allowed.kind === 'add') this.core.allowedIps.insert(allowed.prefix, peer);
      else this.core.allowedIps.remove(allowed.prefix, peer);
    }
    if (change.persistentKeepaliveInterval !== undefined) {
      this.core.setPersistentKeepalive(peer, change.persistentKeepaliveInterval, now);
    }
  }
}

function peerName(peer: Peer): string {
  const key = peer.publicKey.toString('base64');
  return `peer(${key.slice(0, 4)}…${key.slice(-5, -1)})`;
}
