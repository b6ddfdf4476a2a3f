/** One session's transport keys and counters (kernel struct noise_keypair). */
import { wipe } from '../crypto/primitives';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './constants';
import { ReplayWindow } from './replay';
import {
  SEND_STATE_BYTES,
  SEND_STATE_COUNTER,
  SEND_STATE_KEY_OFFSET,
  SEND_STATE_SENDABLE,
  SendCounters,
} from './send-state';

/** Which of our static keys: the current one, or the next one during a key rotation. */
export type KeySlot = 'current' | 'next';

/** A send-counter limit as two 32-bit halves, so the per-packet checks make no BigInt. */
export class CounterLimit {
  readonly high: number;
  readonly low: number;

  constructor(limit: bigint) {
    this.high = Number(limit >> 32n);
    this.low = Number(limit & 0xffffffffn);
  }
}

const REJECT_AFTER_MESSAGES_LIMIT = new CounterLimit(REJECT_AFTER_MESSAGES);

export class Keypair {
  readonly replay = new ReplayWindow();
  /** Shared with the data-plane workers: see ./send-state. */
  readonly sendState = new SharedArrayBuffer(SEND_STATE_BYTES);
  readonly sendKey: Buffer;
  private readonly counter = new BigUint64Array(this.sendState, SEND_STATE_COUNTER, 1);
  /** The same counter as little-endian 32-bit halves, for the per-packet limit checks. */
  private readonly counterHalves = new Uint32Array(this.sendState, SEND_STATE_COUNTER, 2);
  private readonly flags = new Int32Array(this.sendState);
  /** This thread's share of the send counter. */
  private readonly counters = new SendCounters(this.counter);
  /** False once the keys are wiped. */
  valid = true;
  /** Which of our static keys the handshake behind this session used. */
  localKey: KeySlot = 'current';
  /** True once that static key is gone (a completed rotation): the session outlived it. */
  retiredLocalKey = false;

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
      this.compareSendCounter(REJECT_AFTER_MESSAGES_LIMIT) < 0
    );
  }

  /** sendCounter > limit, without a BigInt. */
  sendCounterAbove(limit: CounterLimit): boolean {
    return this.compareSendCounter(limit) > 0;
  }

  /**
   * Negative, zero or positive as sendCounter is below, at or above `limit`. The halves are read one
   * after the other: a read torn by another thread's add is off by less than one reserved block,
   * and the next packet reads again.
   */
  private compareSendCounter(limit: CounterLimit): number {
    const high = Atomics.load(this.counterHalves, 1);
    return high !== limit.high ? high - limit.high : Atomics.load(this.counterHalves, 0) - limit.low;
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
