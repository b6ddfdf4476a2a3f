/**
 * What the main thread and the send workers (./send-worker) share: the messages between them and
 * the layout of the shared counters. Packets never cross threads on the hot path; only this
 * control state does.
 */
import type { IpPrefix } from '../../common/ip';

/** The most data-plane threads a device runs (the `threads` setting is capped here). */
export const MAX_THREADS = 16;

/**
 * Per peer, one SharedArrayBuffer of send counters, one cell per worker (single writer, no atomics):
 * f64 transport bytes sent | u32 data packets sent.
 */
export const PEER_STATS_BYTES = MAX_THREADS * 12;
export function peerTxBytes(stats: SharedArrayBuffer): Float64Array {
  return new Float64Array(stats, 0, MAX_THREADS);
}
export function peerDataPackets(stats: SharedArrayBuffer): Uint32Array {
  return new Uint32Array(stats, MAX_THREADS * 8, MAX_THREADS);
}

/** Per worker, f64 cells of its drops and offload counters. */
export const WorkerStat = {
  noRoute: 0,
  noEndpoint: 1,
  stagedOverflow: 2,
  sendBufferFull: 3,
  gsoSends: 4,
  gsoRefusals: 5,
  /** Then the OffloadStat counters of its TUN reads, from here on. */
  offload: 6,
} as const;
export const WORKER_STAT_CELLS = 16;

export interface SharedEndpoint {
  family: 4 | 6;
  address: Uint8Array;
  port: number;
  local: Uint8Array | null;
  interfaceIndex: number;
}

/** A peer as a send worker needs it. */
export interface SharedPeer {
  slot: number;
  stats: SharedArrayBuffer;
  endpoint: SharedEndpoint | null;
  /** The current keypair, if it may send: its shared send state (agent/core/send-state.ts). */
  keypair: { sendState: SharedArrayBuffer; remoteIndex: number; createdAtUnixMs: number } | null;
  allowedIps: IpPrefix[];
}

export interface SharedSocket {
  /** The worker's own duplicate: it closes it when replaced. */
  fd: number;
  family: 4 | 6;
  gso: boolean;
}

export type ToWorker =
  | { type: 'sockets'; sockets: SharedSocket[] }
  | { type: 'peers'; peers: SharedPeer[] }
  | { type: 'mtu'; mtu: number }
  | { type: 'close' };

export type FromWorker =
  /** A packet the worker could not send (no usable session): the main thread stages it and shakes hands. */
  { type: 'packet'; packet: Uint8Array } | { type: 'log'; level: 'debug' | 'info' | 'error'; message: string };

export interface WorkerSetup {
  index: number;
  /** The worker's TUN queue (a descriptor it owns). */
  tunFd: number;
  vnet: boolean;
  mtu: number;
  stats: SharedArrayBuffer;
  /** Set to 1 (and notified) once the worker has closed its descriptors. */
  closed: SharedArrayBuffer;
}
