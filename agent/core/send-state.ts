/**
 * The sending half of a keypair (./keypair) lives in shared memory, so the data-plane send threads
 * (agent/wg/send-worker.ts) can send under it too: u64 send counter (taken with Atomics, so nonces
 * stay unique across threads) | i32 sendable (1 while it may send) | pad | 32-byte send key
 * (zeroed in place on wipe). No imports: a send thread loads this, not the protocol core.
 */
export const SEND_STATE_BYTES = 48;
export const SEND_STATE_COUNTER = 0;
/** Index of the sendable flag in an Int32Array over the send state. */
export const SEND_STATE_SENDABLE = 2;
export const SEND_STATE_KEY_OFFSET = 16;
/** Counters a thread reserves from the shared counter per Atomics.add (fewer atomics, no BigInt per packet). */
export const SEND_COUNTER_BLOCK = 64;
/** Below this a counter is exact in a double; above it, counters are taken one at a time as BigInts. */
export const SEND_COUNTER_NUMBER_LIMIT = 2 ** 52;

/** One thread's use of a keypair's shared send counter (a one-element BigUint64Array). */
export class SendCounters {
  /** Reserved counters: next .. end - 1. */
  private next = 0;
  private end = 0;

  constructor(private readonly shared: BigUint64Array) {}

  /**
   * The next counter: a Number from a block of SEND_COUNTER_BLOCK this thread reserved, or (from
   * 2^52 on, which no session reaches in practice) a BigInt taken alone. A reserved block left
   * unused only skips counters, which the receiver allows.
   */
  take(): number | bigint {
    if (this.next < this.end) return this.next++;
    if (Atomics.load(this.shared, 0) >= SEND_COUNTER_NUMBER_LIMIT) return Atomics.add(this.shared, 0, 1n);
    const base = Number(Atomics.add(this.shared, 0, BigInt(SEND_COUNTER_BLOCK)));
    this.next = base + 1;
    this.end = base + SEND_COUNTER_BLOCK;
    return base;
  }

  /** Drops the reservation (the shared counter was set). */
  forget(): void {
    this.end = 0;
  }
}
