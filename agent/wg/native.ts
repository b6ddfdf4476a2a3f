/**
 * Typed access to the native I/O addon (agent/native/wiremesh_io.c, built by node-gyp on
 * `npm install`). Record layouts of the batch buffers are defined here, once, for both sides.
 */
import { existsSync } from 'node:fs';
import { nativeAddonPath } from '../native-addon';

/** recvBatch meta record: u32 length | u8 family | u8 hasLocal | u16 port | 16 remote | 16 local | u32 ifindex. */
export const RECV_META_SIZE = 48;
/** sendBatch meta record: u32 offset | u32 length | u8 family | u8 hasLocal | u16 port | 16 remote | 16 local | u32 ifindex. */
export const SEND_META_SIZE = 48;
export const MAX_BATCH = 128;

export interface NativeIo {
  tunOpen(name: string): [fd: number, name: string];
  tunName(fd: number): string;
  setMtu(name: string, mtu: number): void;
  udpOpen(family: 4 | 6, port: number, receiveBuffer: number, sendBuffer: number, fwmark: number): [fd: number, port: number];
  setMark(fd: number, mark: number): void;
  closeFd(fd: number): void;
  recvBatch(fd: number, data: Buffer, slotSize: number, meta: Buffer, maxCount: number): number;
  sendBatch(fd: number, data: Buffer, meta: Buffer, count: number): number;
  tunReadBatch(fd: number, data: Buffer, slotSize: number, lengths: Buffer, maxCount: number): number;
  tunWriteBatch(fd: number, data: Buffer, spans: Buffer, count: number): number;
  unixListen(path: string): number;
  pollStart(fd: number, onReadable: (status: number) => void): PollHandle;
  pollStop(handle: PollHandle): void;
  /** The share (0..1) of a socket's receive buffer taken by queued datagrams. */
  receiveBacklog(fd: number): number;
}

declare const pollHandleBrand: unique symbol;
export interface PollHandle {
  readonly [pollHandleBrand]: true;
}

/** Errors from the addon carry the errno of the failed system call. */
export interface NativeError extends Error {
  errno: number;
}

let loaded: NativeIo | undefined;

export function nativeIo(): NativeIo {
  if (!loaded) {
    const path = nativeAddonPath();
    if (!existsSync(path)) throw new Error(`wiremesh: the native I/O addon is not built (${path}); run npm install`);
    loaded = require(path) as NativeIo;
  }
  return loaded;
}
