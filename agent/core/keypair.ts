/** One session's transport keys and counters (kernel struct noise_keypair). */
import { wipe } from '../crypto/primitives';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './constants';
import { ReplayWindow } from './replay';

/** Which of our static keys: the current one, or the next one during a key rotation. */
export type KeySlot = 'current' | 'next';

/**
 * The sending half of a keypair lives in shared memory, so data-plane worker threads can send
 * under it too: u64 send counter (taken with Atomics, so nonces stay unique across threads) |
 * i32 sendable (1 while it may send) | pad | 32-byte send key (zeroed in place on wipe).
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

export class Keypair {
  readonly replay = new ReplayWindow();
  /** Shared with the data-plane workers: see SEND_STATE_BYTES. */
  readonly sendState = new SharedArrayBuffer(SEND_STATE_BYTES);
  readonly sendKey: Buffer;
  private readonly counter = new BigUint64Array(this.sendState, SEND_STATE_COUNTER, 1);
  private readonly flags = new Int32Array(this.sendState);
  /** This thread's share of the send counter. */
  private readonly counters = new SendCounters(this.counter);
  /** False once the keys are wiped. */
  valid = true;
  /** Which of our static keys the handshake behind this session used. */
  localKey: KeySlot = 'current';

  constructor(
    sendKey: Buffer,
    readonly receiveKey: Buffer,
    /** Our index: the receiver index of packets the peer sends us under this keypair. */
    readonly localIndex: number,
    /** The peer's index, written into every packet we send under this keypair. */
    readonly remoteIndex: number,
    readonly isInitiator: boolean,
    readonly createdAt: number,
  ) {
    this.sendKey = Buffer.from(this.sendState, SEND_STATE_KEY_OFFSET, 32);
    this.sendKey.set(sendKey);
    wipe(sendKey);
    Atomics.store(this.flags, SEND_STATE_SENDABLE, 1);
  }

  /** Messages sent (or counters reserved by worker threads) so far. */
  get sendCounter(): bigint {
    return Atomics.load(this.counter, 0);
  }

  set sendCounter(value: bigint) {
    Atomics.store(this.counter, 0, value);
    this.counters.forget();
  }

  /** The next send counter (the nonce), unique across threads: see SendCounters. */
  takeSendCounter(): number | bigint {
    return this.counters.take();
  }

  canSend(now: number): boolean {
    return (
      this.valid &&
      Atomics.load(this.flags, SEND_STATE_SENDABLE) === 1 &&
      now - this.createdAt < REJECT_AFTER_TIME &&
      this.sendCounter < REJECT_AFTER_MESSAGES
    );
  }

  canReceive(now: number): boolean {
    return this.valid && now - this.createdAt < REJECT_AFTER_TIME;
  }

  ageAt(now: number): number {
    return now - this.createdAt;
  }

  expireForSending(): void {
    Atomics.store(this.flags, SEND_STATE_SENDABLE, 0);
  }

  wipe(): void {
    this.valid = false;
    Atomics.store(this.flags, SEND_STATE_SENDABLE, 0);
    wipe(this.sendKey);
    wipe(this.receiveKey);
  }
}
