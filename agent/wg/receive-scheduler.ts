/**
 * The order in which the userspace device feeds one received batch to the core, so that a handshake
 * flood cannot starve existing tunnels (the kernel gets the same from separate queues, reference 1.11):
 *  1. transport data (and anything else that is not a handshake: the core drops it cheaply);
 *  2. cookie replies and handshake messages carrying a mac2 (a sender that holds our cookie, which is
 *     how a legitimate peer's retry gets through a flood);
 *  3. handshake messages without mac2.
 * Handshake messages (2 and 3) are bounded per loop turn; the rest are dropped before any
 * cryptography, as the kernel drops handshakes past its queue limit, and counted by the caller.
 * Order within each class is kept (the replay window and the protocol expect it).
 */
import { INITIATION_LENGTH, MessageType, RESPONSE_LENGTH } from '../core/messages';
import { MAC_LENGTH, isAllZero } from '../crypto/primitives';
import { MAX_BATCH, RECV_META_SIZE } from './native';

/**
 * Handshake messages per loop turn (the device reads up to 4 batches of 128 per turn). Half a turn's
 * reads: a flood that fills every batch is half answered and half dropped for free, which keeps the
 * socket draining faster than it fills while leaving room for every legitimate handshake.
 */
export const HANDSHAKE_BUDGET_PER_TURN = 256;

export class ReceiveScheduler {
  /** Indices into the batch, in processing order; the first `schedule()` entries are valid. */
  readonly order = new Uint16Array(MAX_BATCH);
  /** Handshake messages dropped over the budget by the last `schedule()`. */
  dropped = 0;
  /** Cookie replies and handshakes with a mac2. */
  private readonly preferred = new Uint16Array(MAX_BATCH);
  /** Handshakes without a mac2. */
  private readonly rest = new Uint16Array(MAX_BATCH);
  private budget: number;

  constructor(private readonly budgetPerTurn = HANDSHAKE_BUDGET_PER_TURN) {
    this.budget = budgetPerTurn;
  }

  /** A new loop turn: the handshake budget is full again. */
  startTurn(): void {
    this.budget = this.budgetPerTurn;
  }

  /**
   * Orders `count` datagrams laid out as recvBatch leaves them (slot i at i * slotSize, its length in
   * meta record i). Returns how many entries of `order` to process.
   */
  schedule(data: Uint8Array, slotSize: number, meta: Buffer, count: number): number {
    let scheduled = 0;
    let preferred = 0;
    let rest = 0;
    for (let i = 0; i < count; i++) {
      const start = i * slotSize;
      const length = Math.min(meta.readUInt32LE(i * RECV_META_SIZE), slotSize);
      const type = length >= 4 && data[start + 1] === 0 && data[start + 2] === 0 && data[start + 3] === 0 ? data[start]! : 0;
      if (type === MessageType.CookieReply) this.preferred[preferred++] = i;
      else if ((type === MessageType.Initiation && length === INITIATION_LENGTH) || (type === MessageType.Response && length === RESPONSE_LENGTH)) {
        if (!isAllZero(data, start + length - MAC_LENGTH, start + length)) this.preferred[preferred++] = i;
        else this.rest[rest++] = i;
      } else this.order[scheduled++] = i;
    }
    const handshakes = Math.min(preferred + rest, this.budget);
    this.budget -= handshakes;
    this.dropped = preferred + rest - handshakes;
    const first = Math.min(preferred, handshakes);
    for (let k = 0; k < first; k++) this.order[scheduled++] = this.preferred[k]!;
    for (let k = 0; k < handshakes - first; k++) this.order[scheduled++] = this.rest[k]!;
    return scheduled;
  }
}
