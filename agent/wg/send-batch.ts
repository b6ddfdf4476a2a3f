/**
 * Outgoing datagrams for one UDP socket, batched for one sealing pass and one sendmmsg. Used by the
 * main thread's device and by each data-plane worker thread (each owns its batches).
 */
import { MessageType, TRANSPORT_HEADER_LENGTH, TRANSPORT_TAG_LENGTH, Transport } from '../core/messages';
import type { UdpEndpoint } from './endpoint';
import { MAX_BATCH, SEND_META_SIZE, type NativeIo } from './native';

export const SLOT = 65536;
export const TX_CAPACITY = 1 << 20;

/** A UDP socket as the senders see it: sendState is sendBatch's (GSO on/off, refusals, GSO sends). */
export interface SendSocket {
  fd: number;
  family: 4 | 6;
  sendState: Buffer;
}

/** The socket of `family` (a loop, not find(): this runs per flush and makes no closure). */
export function socketOf<T extends SendSocket>(sockets: readonly T[], family: 4 | 6): T | undefined {
  // Indexed: a for-of here made an iterator object per flush until the function was optimized.
  for (let i = 0; i < sockets.length; i++) if (sockets[i]!.family === family) return sockets[i];
  return undefined;
}

/**
 * A batch of outgoing datagrams for one socket. Transport messages may arrive unsealed: they are
 * sealed together, one native call per run of messages under the same key, just before sending.
 */
export class SendBatch {
  readonly data = Buffer.alloc(TX_CAPACITY);
  readonly meta = Buffer.alloc(MAX_BATCH * SEND_META_SIZE);
  count = 0;
  used = 0;
  /** Per record: index into keys of the key to seal it with, or -1 when it is sent as is. */
  private readonly keyOf = new Int32Array(MAX_BATCH);
  /** Copies of the keys (the core may zero its own once a message is handed over). */
  private readonly keys = Buffer.alloc(MAX_BATCH * 32);
  /** One view per key slot, made once: sealing passes them with no view made per batch. */
  private readonly keyViews = Array.from({ length: MAX_BATCH }, (_, i) => this.keys.subarray(i * 32, i * 32 + 32));
  private keyCount = 0;
  private lastKey: Uint8Array | null = null;
  /** aeadBatch spans (payload offset, plaintext length) and counters, per record. */
  private readonly sealSpans = Buffer.alloc(MAX_BATCH * 8);
  private readonly sealCounters = Buffer.alloc(MAX_BATCH * 8);

  add(datagram: Uint8Array, to: UdpEndpoint): void {
    this.keyOf[this.count] = -1;
    this.data.set(datagram, this.used);
    this.append(datagram.length, to);
  }

  /** The unsealed transport message source[0, length). */
  addUnsealed(source: Buffer, length: number, key: Uint8Array, to: UdpEndpoint): void {
    this.markUnsealed(length, key);
    // The counter is already in the header (bytes 8..16, little-endian): copy it, no BigInt work.
    source.copy(this.sealCounters, this.count * 8, Transport.counter, Transport.counter + 8);
    source.copy(this.data, this.used, 0, length);
    this.append(length, to);
  }

  /**
   * Builds an unsealed transport message in place: header, the plaintext (source[start, start +
   * length)) padded with zeros to `padded` bytes, room for the tag. `counter` is a Number (below
   * 2^53): no BigInt and no view per packet.
   */
  addTransport(
    source: Buffer,
    start: number,
    length: number,
    padded: number,
    remoteIndex: number,
    counter: number,
    key: Uint8Array,
    to: UdpEndpoint,
  ): void {
    const total = TRANSPORT_HEADER_LENGTH + padded + TRANSPORT_TAG_LENGTH;
    this.markUnsealed(total, key);
    const data = this.data;
    const at = this.used;
    const low = counter >>> 0;
    const high = Math.floor(counter / 0x100000000);
    data.writeUInt32LE(MessageType.Transport, at);
    data.writeUInt32LE(remoteIndex, at + Transport.receiverIndex);
    data.writeUInt32LE(low, at + Transport.counter);
    data.writeUInt32LE(high, at + Transport.counter + 4);
    this.sealCounters.writeUInt32LE(low, this.count * 8);
    this.sealCounters.writeUInt32LE(high, this.count * 8 + 4);
    source.copy(data, at + Transport.payload, start, start + length);
    data.fill(0, at + Transport.payload + length, at + Transport.payload + padded);
    this.append(total, to);
  }

  private markUnsealed(length: number, key: Uint8Array): void {
    const record = this.count;
    if (key !== this.lastKey) {
      this.keys.set(key, this.keyCount * 32);
      this.keyCount++;
      this.lastKey = key;
    }
    this.keyOf[record] = this.keyCount - 1;
    this.sealSpans.writeUInt32LE(this.used + TRANSPORT_HEADER_LENGTH, record * 8);
    this.sealSpans.writeUInt32LE(length - TRANSPORT_HEADER_LENGTH - TRANSPORT_TAG_LENGTH, record * 8 + 4);
  }

  /** Seals every unsealed message; one that cannot be sealed is zeroed (the peer drops it) rather than leaving in clear. */
  private seal(io: NativeIo): void {
    for (let start = 0; start < this.count;) {
      const key = this.keyOf[start]!;
      let end = start + 1;
      while (end < this.count && this.keyOf[end] === key) end++;
      if (key >= 0) {
        const n = end - start;
        // A batch under one key (the usual case) starts at record 0: the whole arrays, no views.
        const sealed = io.aeadBatch(
          true,
          this.keyViews[key]!,
          this.data,
          start === 0 ? this.sealSpans : this.sealSpans.subarray(start * 8),
          start === 0 ? this.sealCounters : this.sealCounters.subarray(start * 8),
          n,
        );
        for (let i = start + sealed; i < end; i++) {
          const offset = this.sealSpans.readUInt32LE(i * 8);
          this.data.fill(0, offset, offset + this.sealSpans.readUInt32LE(i * 8 + 4) + TRANSPORT_TAG_LENGTH);
        }
      }
      start = end;
    }
  }

  private append(length: number, to: UdpEndpoint): void {
    const record = this.count * SEND_META_SIZE;
    const meta = this.meta;
    meta.writeUInt32LE(this.used, record);
    meta.writeUInt32LE(length, record + 4);
    meta[record + 8] = to.family;
    meta[record + 9] = to.localBytes ? 1 : 0;
    meta.writeUInt16LE(to.port, record + 10);
    meta.set(to.addressBytes, record + 12);
    if (to.localBytes) meta.set(to.localBytes, record + 28);
    meta.writeUInt32LE(to.interfaceIndex, record + 44);
    this.count++;
    this.used += length;
  }

  isFull(): boolean {
    return this.count === MAX_BATCH || this.used > TX_CAPACITY - SLOT;
  }

  /**
   * Seals and sends the batch on `socket` (none: all dropped), then empties it. Returns how many
   * datagrams the kernel refused (socket buffer full); `onGsoRefused` runs when the kernel refused
   * a GSO send during this batch (GSO is then off for the socket).
   */
  send(io: NativeIo, socket: SendSocket | undefined, onGsoRefused: () => void): number {
    if (this.count === 0) return 0;
    this.seal(io);
    const refusals = socket?.sendState.readUInt32LE(4) ?? 0;
    const sent = socket ? io.sendBatch(socket.fd, this.data, this.meta, this.count, socket.sendState) : 0;
    const dropped = this.count - sent;
    this.reset();
    if (socket && socket.sendState.readUInt32LE(4) !== refusals) onGsoRefused();
    return dropped;
  }

  private reset(): void {
    this.count = 0;
    this.used = 0;
    this.keys.fill(0, 0, this.keyCount * 32);
    this.keyCount = 0;
    this.lastKey = null;
  }
}
