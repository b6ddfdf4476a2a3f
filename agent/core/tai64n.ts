/**
 * TAI64N timestamps for handshake initiations (docs/protocol.md 1.1;
 * wireguard-go tai64n/tai64n.go): 12 bytes big-endian, u64 0x400000000000000a + Unix seconds, then
 * u32 nanoseconds. The responder only accepts an initiation whose timestamp is newer than the last.
 */

export const TAI64N_LENGTH = 12;
const TAI64_UNIX_EPOCH = 0x400000000000000an;
/** Nanoseconds are rounded down to 2^24 ns (~16.8 ms) so the timestamp does not leak fine timing. */
const WHITENER_MASK = 0x1000000 - 1;

/**
 * `unixMs` is wall-clock milliseconds since the Unix epoch (fractions allowed), e.g. Date.now();
 * the core never reads the clock itself.
 */
export function tai64nFromUnixMs(unixMs: number): Buffer {
  if (!Number.isFinite(unixMs)) throw new RangeError(`TAI64N needs a finite time, got ${unixMs}`);
  // Split on whole milliseconds first: integer arithmetic keeps nanoseconds within 0..999,999,999.
  const wholeMs = Math.floor(unixMs);
  const seconds = Math.floor(wholeMs / 1000);
  const nanoseconds = (wholeMs - seconds * 1000) * 1e6 + Math.floor((unixMs - wholeMs) * 1e6);
  const stamp = Buffer.alloc(TAI64N_LENGTH);
  stamp.writeBigUInt64BE(TAI64_UNIX_EPOCH + BigInt(seconds), 0);
  stamp.writeUInt32BE(nanoseconds & ~WHITENER_MASK, 8);
  return stamp;
}

/** Byte-wise order of two TAI64N stamps: negative, 0 or positive as `a` is older, equal or newer. */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== TAI64N_LENGTH || b.length !== TAI64N_LENGTH) {
    throw new RangeError(`TAI64N stamps are ${TAI64N_LENGTH} bytes, got ${a.length} and ${b.length}`);
  }
  return Buffer.compare(a, b);
}
