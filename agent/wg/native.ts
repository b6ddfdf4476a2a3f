/**
 * Typed access to the native I/O addon (agent/native/wiremesh_io.c). node-gyp-build loads a local
 * build (build/Release, a development checkout) or the package's prebuild for this platform
 * (prebuilds/<platform>-<arch>/, scripts/build-prebuilds.sh); `npm install` compiles only when no
 * prebuild matches. Only the userspace data plane needs it. Record layouts of the batch buffers are
 * defined here, once, for both sides.
 */
import { packageRoot } from '../package-root';

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
    const load = require('node-gyp-build') as (directory: string) => unknown;
    try {
      loaded = load(packageRoot()) as NativeIo;
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
