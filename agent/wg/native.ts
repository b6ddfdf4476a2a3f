/**
 * Typed access to the native I/O addon (agent/native/wiremesh_io.c). node-gyp-build loads a local
 * build (build/Release, a development checkout) or the package's prebuild for this platform
 * (prebuilds/<platform>-<arch>/, scripts/build-prebuilds.sh); `npm install` compiles only when no
 * prebuild matches. Only the userspace data plane needs it. Record layouts of the batch buffers are
 * defined here, once, for both sides.
 */
import { loadNativeAddon } from '../native-addon';

/**
 * recvBatch meta record: u32 length | u8 family | u8 hasLocal | u16 port | 16 remote | 16 local |
 * u32 ifindex | u32 offset of the datagram in the data buffer.
 */
export const RECV_META_SIZE = 48;
/** Where in a recvBatch meta record the datagram's offset in the data buffer is. */
export const RECV_OFFSET_FIELD = 44;
/** Datagrams one received message may hold with UDP GRO (the kernel's UDP_GRO_CNT_MAX). */
export const GRO_MAX_SEGMENTS = 64;
/** sendBatch meta record: u32 offset | u32 length | u8 family | u8 hasLocal | u16 port | 16 remote | 16 local | u32 ifindex. */
export const SEND_META_SIZE = 48;
export const MAX_BATCH = 128;

/** TUN_F_* bits of TUNSETOFFLOAD (include/uapi/linux/if_tun.h). */
export const TunOffload = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, USO4: 0x20, USO6: 0x40 } as const;
/** udpSetOffloads result bits. */
export const UdpOffload = { GSO: 1, GRO: 2 } as const;
/** Indexes of the u32 offload counters (agent/native/offload.h). */
export const OffloadStat = {
  framesRead: 0,
  gsoFrames: 1,
  segments: 2,
  invalid: 3,
  framesWritten: 4,
  coalesced: 5,
  writeErrors: 6,
} as const;
export const OFFLOAD_STAT_COUNT = 7;
/** sendBatch state: u32 gsoEnabled | u32 gsoRefusals | u32 gsoSends. */
export const SEND_STATE_SIZE = 12;
/** Room tunReadSegments needs beyond its output: the 64 KiB read buffer and one split's worst case. */
export const TUN_READ_RESERVE = 10 + 65535 + 65535 + 1024 * 120;
/** tunReadSegments stops when fewer spans than this are left (one frame's worst case). */
export const MAX_SEGMENTS_PER_FRAME = 1024;
export interface NativeIo {
  /**
   * With vnetHeader the TUN carries virtio_net_hdr frames (IFF_VNET_HDR), for offloads. The TUN is
   * multi-queue: opening an existing one by name attaches another queue.
   */
  tunOpen(name: string, vnetHeader?: boolean): [fd: number, name: string];
  /** Detaches a TUN queue: the kernel no longer steers packets to it (nor accepts writes on it). */
  tunDetachQueue(fd: number): void;
  /** A close-on-exec duplicate of a descriptor, for a worker thread to own. */
  dupFd(fd: number): number;
  /** The TUN_F_* offloads now enabled, 0 if refused, -1 when the TUN has no vnet header. */
  tunSetOffloads(fd: number, udp: boolean): number;
  /** Reads and splits vnet frames into packets: spans of u32 (offset, length) into data. */
  tunReadSegments(fd: number, data: Buffer, spans: Buffer, maxSpans: number, stats: Buffer): number;
  /** Writes packets to a vnet TUN, coalescing in-order TCP (and UDP when udp) packets of a flow. */
  tunWriteFrames(fd: number, data: Buffer, spans: Buffer, count: number, udp: boolean, stats: Buffer): number;
  /** The read path's splitting of one vnet frame, for tests: packets or -1 when dropped. */
  gsoSplit(frame: Buffer, out: Buffer, spans: Buffer, stats: Buffer): number;
  /** The write path's coalescing, for tests: frames (vnet header + packet) copied out. */
  groCoalesce(
    data: Buffer,
    spans: Buffer,
    count: number,
    udp: boolean,
    out: Buffer,
    outSpans: Buffer,
    stats: Buffer,
  ): number;
  /**
   * Seals or opens a batch of transport payloads in place with one key (OpenSSL EVP
   * ChaCha20-Poly1305, WireGuard nonces from u64 counters); returns how many succeeded in a row.
   */
  aeadBatch(seal: boolean, key: Uint8Array, data: Buffer, spans: Buffer, counters: Buffer, count: number): number;
  /** Probes UDP GSO and switches UDP GRO on: UdpOffload bits. */
  udpSetOffloads(fd: number): number;
  tunName(fd: number): string;
  setMtu(name: string, mtu: number): void;
  udpOpen(
    family: 4 | 6,
    port: number,
    receiveBuffer: number,
    sendBuffer: number,
    fwmark: number,
  ): [fd: number, port: number];
  setMark(fd: number, mark: number): void;
  closeFd(fd: number): void;
  recvBatch(fd: number, data: Buffer, slotSize: number, meta: Buffer, maxCount: number): number;
  sendBatch(fd: number, data: Buffer, meta: Buffer, count: number, state?: Buffer): number;
  tunReadBatch(fd: number, data: Buffer, slotSize: number, lengths: Buffer, maxCount: number): number;
  tunWriteBatch(fd: number, data: Buffer, spans: Buffer, count: number): number;
  unixListen(path: string): number;
  pollStart(fd: number, onReadable: (status: number) => void): PollHandle;
  pollStop(handle: PollHandle): void;
  /** The share (0..1) of a socket's receive buffer taken by queued datagrams. */
  receiveBacklog(fd: number): number;
  /**
   * Classifies a recvBatch's datagrams into `classes` (DatagramClass, one byte each), checking mac1
   * against `mac1Keys` (two 32-byte keys, `keyMask` bit k: key k exists); returns how many are
   * handshakes with a valid mac1 and no mac2 (agent/native/cookie_batch.c).
   */
  handshakeTriage(
    data: Buffer,
    slotSize: number,
    meta: Buffer,
    count: number,
    mac1Keys: Buffer,
    keyMask: number,
    classes: Buffer,
  ): number;
  /**
   * Cookie replies (64 bytes each) to the datagrams of class `wanted` into `out`, with sendBatch meta
   * records back to their sources in `outMeta`; returns how many.
   */
  cookieReplies(
    data: Buffer,
    slotSize: number,
    meta: Buffer,
    count: number,
    classes: Buffer,
    wanted: number,
    cookieKey: Buffer,
    secret: Buffer,
    out: Buffer,
    outMeta: Buffer,
  ): number;
}

/** What handshakeTriage finds a received datagram to be. */
export const DatagramClass = {
  /** Transport data and anything else that is not a handshake (the core drops what is invalid). */
  other: 0,
  cookieReply: 1,
  /** An initiation or response whose mac1 is valid for none of our keys. */
  badMac1: 2,
  /** Valid mac1 and a non-zero mac2: the core checks it against the source's cookie. */
  withMac2: 3,
  /** Valid mac1 for our current key, no mac2. */
  withoutMac2Current: 4,
  /** Valid mac1 for our next key (during a rotation), no mac2. */
  withoutMac2Next: 5,
} as const;

declare const pollHandleBrand: unique symbol;
export interface PollHandle {
  readonly [pollHandleBrand]: true;
}

/** Errors from the addon carry the errno of the failed system call. */
export interface NativeError extends Error {
  errno: number;
}

/** Offloads (TUN vnet_hdr, UDP GSO/GRO) are on unless WIREMESH_OFFLOADS=0 forces the plain path. */
export function offloadsWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.WIREMESH_OFFLOADS !== '0';
}

let loaded: NativeIo | undefined;

export function nativeIo(): NativeIo {
  if (!loaded) {
    try {
      loaded = loadNativeAddon() as NativeIo;
    } catch (error) {
      throw new Error(
        `wiremesh: the userspace data plane needs the native I/O addon, and there is none for ${process.platform}-${process.arch} ` +
          `(no prebuild matches and none was built: ${(error as Error).message}). Use the kernel or wireguard-go data plane, ` +
          'or build the addon with a C compiler: npm rebuild wiremesh',
      );
    }
  }
  return loaded;
}
