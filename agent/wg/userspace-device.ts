/**
 * The userspace WireGuard device: the sans-IO core (agent/core/device.ts) wired to a TUN and two UDP
 * sockets (IPv4 and IPv6 on one port) through the native layer. I/O is batched on the main thread:
 * when a descriptor is readable, up to 128 packets are read with one call, fed through the core, and
 * what the core emits is written back with one sendmmsg / one batched TUN write.
 */
import { performance } from 'node:perf_hooks';
import { WireGuardDevice, type DeviceEvent } from '../core/device';
import type { Peer } from '../core/peer';
import { UdpEndpoint, parseEndpoint } from './endpoint';
import { MAX_BATCH, RECV_META_SIZE, SEND_META_SIZE, nativeIo, type NativeError, type PollHandle } from './native';
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
  /** Called for every protocol event, after the device's own logging. */
  onEvent?: (event: DeviceEvent) => void;
}

const SLOT = 65536;
const TX_CAPACITY = 1 << 20;
const TICK_INTERVAL_MS = 100;
const MAX_ROUNDS_PER_WAKEUP = 4;
const EAFNOSUPPORT = 97;
const EADDRINUSE = 98;
const EADDRNOTAVAIL = 99;
const DEFAULT_SOCKET_BUFFER = 7 * 1024 * 1024;

interface UdpSocket {
  fd: number;
  family: 4 | 6;
  poll: PollHandle;
}

/** A batch of outgoing datagrams for one socket. */
class SendBatch {
  readonly data = Buffer.alloc(TX_CAPACITY);
  readonly meta = Buffer.alloc(MAX_BATCH * SEND_META_SIZE);
  count = 0;
  used = 0;

  add(datagram: Uint8Array, to: UdpEndpoint): void {
    const offset = this.used;
    this.data.set(datagram, offset);
    const record = this.count * SEND_META_SIZE;
    const meta = this.meta;
    meta.writeUInt32LE(offset, record);
    meta.writeUInt32LE(datagram.length, record + 4);
    meta[record + 8] = to.family;
    meta[record + 9] = to.localBytes ? 1 : 0;
    meta.writeUInt16LE(to.port, record + 10);
    meta.set(to.addressBytes, record + 12);
    if (to.localBytes) meta.set(to.localBytes, record + 28);
    meta.writeUInt32LE(to.interfaceIndex, record + 44);
    this.count++;
    this.used += datagram.length;
  }

  isFull(): boolean {
    return this.count === MAX_BATCH || this.used > TX_CAPACITY - SLOT;
  }

  reset(): void {
    this.count = 0;
    this.used = 0;
  }
}

export class UserspaceDevice implements UapiTarget {
  readonly core: WireGuardDevice;
  readonly interfaceName: string;
  private readonly io = nativeIo();
  private readonly log: DeviceLog;
  private readonly tunFd: number;
  private readonly socketBufferBytes: number;
  private readonly onEvent: ((event: DeviceEvent) => void) | undefined;
  private tunPoll: PollHandle | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private sockets: UdpSocket[] = [];
  private configuredPort = 0;
  private boundPort = 0;
  private fwmark = 0;

  private readonly rxData = Buffer.alloc(MAX_BATCH * SLOT);
  private readonly rxMeta = Buffer.alloc(MAX_BATCH * RECV_META_SIZE);
  private readonly tunIn = Buffer.alloc(MAX_BATCH * SLOT);
  private readonly tunLengths = Buffer.alloc(MAX_BATCH * 4);
  private readonly tunOut = Buffer.alloc(TX_CAPACITY);
  private readonly tunSpans = Buffer.alloc(MAX_BATCH * 8);
  private tunOutCount = 0;
  private tunOutUsed = 0;
  private readonly sendBatches = { 4: new SendBatch(), 6: new SendBatch() };
  private readonly endpointCache = new Map<string, UdpEndpoint>();
  private lastSourceKey = '';
  private lastSource: UdpEndpoint | null = null;
  /** Datagrams the kernel would not take (socket buffer full), by family. */
  readonly sendDrops = { 4: 0, 6: 0 };

  constructor(options: UserspaceDeviceOptions) {
    this.tunFd = options.tunFd;
    this.interfaceName = options.interfaceName;
    this.log = options.log;
    this.socketBufferBytes = options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER;
    this.onEvent = options.onEvent;
    this.core = new WireGuardDevice({
      wallClockOffsetMs: Date.now() - performance.now(),
      outputs: {
        transmit: (datagram, endpoint) => this.queueDatagram(datagram, endpoint as UdpEndpoint),
        deliver: (packet) => this.queueTunWrite(packet),
        event: (event) => this.logEvent(event),
        forgetSourceAddress: (endpoint) => (endpoint as UdpEndpoint).withoutLocalAddress(),
      },
    });
  }

  /** Binds the sockets (random port until one is configured) and starts reading and ticking. */
  start(): void {
    this.rebind(this.configuredPort, this.fwmark);
    this.tunPoll = this.io.pollStart(this.tunFd, () => this.drainTun());
    this.ticker = setInterval(() => this.tick(), TICK_INTERVAL_MS);
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.tunPoll) this.io.pollStop(this.tunPoll);
    this.tunPoll = null;
    this.closeSockets(this.sockets);
    this.sockets = [];
    this.core.removeAllPeers();
    this.core.setPrivateKey(null);
    this.io.closeFd(this.tunFd);
  }

  setMtu(mtu: number): void {
    this.core.mtu = mtu;
  }

  get listenPort(): number {
    return this.boundPort;
  }

  // ---- I/O --------------------------------------------------------------------------------

  private now(): number {
    return performance.now();
  }

  private tick(): void {
    const now = this.now();
    this.core.wallClockOffsetMs = Date.now() - now;
    this.core.tick(now);
    this.flush();
  }

  private drainTun(): void {
    const now = this.now();
    // A few batches per wakeup, then back to the event loop: the sockets (ACKs, handshakes) get
    // their turn; the poll is level-triggered, so what is left wakes us again.
    for (let round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
      let count: number;
      try {
        count = this.io.tunReadBatch(this.tunFd, this.tunIn, SLOT, this.tunLengths, MAX_BATCH);
      } catch (error) {
        this.log.error(`TUN read failed: ${(error as Error).message}`);
        break;
      }
      for (let i = 0; i < count; i++) {
        const start = i * SLOT;
        this.core.sendPacket(this.tunIn.subarray(start, start + this.tunLengths.readUInt32LE(i * 4)), now);
      }
      this.flush();
      if (count < MAX_BATCH) break;
    }
  }

  private drainSocket(socket: UdpSocket): void {
    const now = this.now();
    for (let round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
      let count: number;
      try {
        count = this.io.recvBatch(socket.fd, this.rxData, SLOT, this.rxMeta, MAX_BATCH);
      } catch (error) {
        // ICMP errors surface here (ECONNREFUSED and the like); they are not fatal.
        this.log.debug(`UDP receive: ${(error as Error).message}`);
        break;
      }
      for (let i = 0; i < count; i++) {
        const record = i * RECV_META_SIZE;
        const length = this.rxMeta.readUInt32LE(record);
        const start = i * SLOT;
        this.core.receiveDatagram(this.rxData.subarray(start, start + Math.min(length, SLOT)), this.sourceOf(record), now);
      }
      this.flush();
      if (count < MAX_BATCH) break;
    }
  }

  /** The endpoint object for a received datagram; the same object for the same source and local address. */
  private sourceOf(record: number): UdpEndpoint {
    const meta = this.rxMeta;
    const key = meta.toString('latin1', record + 4, record + 44);
    if (key === this.lastSourceKey && this.lastSource) return this.lastSource;
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
    this.lastSourceKey = key;
    this.lastSource = endpoint;
    return endpoint;
  }

  private queueDatagram(datagram: Uint8Array, to: UdpEndpoint): void {
    const batch = this.sendBatches[to.family];
    batch.add(datagram, to);
    if (batch.isFull()) this.flushDatagrams(to.family);
  }

  private queueTunWrite(packet: Uint8Array): void {
    this.tunOut.set(packet, this.tunOutUsed);
    this.tunSpans.writeUInt32LE(this.tunOutUsed, this.tunOutCount * 8);
    this.tunSpans.writeUInt32LE(packet.length, this.tunOutCount * 8 + 4);
    this.tunOutCount++;
    this.tunOutUsed += packet.length;
    if (this.tunOutCount === MAX_BATCH || this.tunOutUsed > TX_CAPACITY - SLOT) this.flushTun();
  }

  private flushDatagrams(family: 4 | 6): void {
    const batch = this.sendBatches[family];
    if (batch.count === 0) return;
    const socket = this.sockets.find((s) => s.family === family);
    const sent = socket ? this.io.sendBatch(socket.fd, batch.data, batch.meta, batch.count) : 0;
    this.sendDrops[family] += batch.count - sent;
    batch.reset();
  }

  private flushTun(): void {
    if (this.tunOutCount === 0) return;
    this.io.tunWriteBatch(this.tunFd, this.tunOut, this.tunSpans, this.tunOutCount);
    this.tunOutCount = 0;
    this.tunOutUsed = 0;
  }

  /** Writes out everything the core produced during the current event. */
  private flush(): void {
    this.flushDatagrams(4);
    this.flushDatagrams(6);
    this.flushTun();
  }

  private logEvent(event: DeviceEvent): void {
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
        this.log.debug(`under load: sent a cookie reply to ${String(event.endpoint)}`);
        break;
    }
    this.onEvent?.(event);
  }

  // ---- sockets --------------------------------------------------------------------------------

  private openSockets(port: number, fwmark: number): { sockets: UdpSocket[]; port: number } {
    for (let attempt = 0; attempt < 10; attempt++) {
      const [fd4, bound] = this.io.udpOpen(4, port, this.socketBufferBytes, this.socketBufferBytes, fwmark);
      const sockets: UdpSocket[] = [{ fd: fd4, family: 4, poll: null as unknown as PollHandle }];
      try {
        const [fd6] = this.io.udpOpen(6, bound, this.socketBufferBytes, this.socketBufferBytes, fwmark);
        sockets.push({ fd: fd6, family: 6, poll: null as unknown as PollHandle });
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

  private closeSockets(sockets: UdpSocket[]): void {
    for (const socket of sockets) {
      if (socket.poll) this.io.pollStop(socket.poll);
      this.io.closeFd(socket.fd);
    }
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
    for (const socket of fresh) socket.poll = this.io.pollStart(socket.fd, () => this.drainSocket(socket));
    this.sockets = fresh;
    this.configuredPort = port;
    this.fwmark = fwmark;
    this.boundPort = bound;
    this.endpointCache.clear();
    this.lastSource = null;
    this.lastSourceKey = '';
    this.log.info(`listening on UDP port ${this.boundPort}`);
  }

  // ---- UAPI -----------------------------------------------------------------------------------

  /** Packets dropped, by reason: the core's, and datagrams the kernel refused (socket buffer full). */
  drops(): Record<string, number> {
    return { ...Object.fromEntries(this.core.drops), 'udp-send-buffer-full': this.sendDrops[4] + this.sendDrops[6] };
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
        txBytes: peer.txBytes,
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
