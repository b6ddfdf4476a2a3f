/**
 * Anti-replay window for transport counters: RFC 6479 exactly as the kernel's `counter_validate`
 * (src/receive.c) and wireguard-go `replay/replay.go` implement it; see
 * docs/protocol.md 1.8.
 *
 * The bitmap is a ring of 128 blocks of 64 bits (8192 bits). The block holding the greatest counter
 * is only partly in use, so the guaranteed window is 8192 - 64 = 8128 (REPLAY_WINDOW_SIZE). The
 * resulting rule: a counter is accepted iff it is below REJECT_AFTER_MESSAGES, no more than 8128
 * below the greatest counter accepted so far, and not accepted before.
 */
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from './constants';

const BITS_PER_BLOCK = 64;
const RING_BLOCKS = 128;
const RING_MASK = RING_BLOCKS - 1;
const WINDOW_BIG = BigInt(REPLAY_WINDOW_SIZE);
const BLOCK_SHIFT_BIG = 6n;
const BIT_MASK_BIG = BigInt(BITS_PER_BLOCK - 1);
const RING_BLOCKS_BIG = BigInt(RING_BLOCKS);
const RING_MASK_BIG = BigInt(RING_MASK);
/**
 * Below this, `counter + 1 + REPLAY_WINDOW_SIZE` is exact in a double, so the common case runs on
 * numbers: bigint arithmetic allocates and is about 5x slower per packet.
 */
const NUMBER_PATH_LIMIT = 1n << 52n;
/** NUMBER_PATH_LIMIT as the high 32-bit half of a counter. */
const SMALL_HIGH_LIMIT = 1 << 20;

export class ReplayWindow {
  /** Each 64-bit block is two 32-bit words, low word first. */
  private readonly words = new Uint32Array(RING_BLOCKS * 2);
  /** One more than the greatest accepted counter (0 = none yet), as the kernel stores it. */
  private top = 0;
  /** Takes over from `top` once a counter reaches NUMBER_PATH_LIMIT; `top` only grows, so it never hands back. */
  private bigTop: bigint | null = null;

  /**
   * Checks a counter and records it. Call only after the packet authenticated, so that forged
   * packets cannot move the window.
   */
  validate(counter: bigint): boolean {
    if (counter < 0n || counter >= REJECT_AFTER_MESSAGES) return false;
    if (counter < NUMBER_PATH_LIMIT && this.bigTop === null) return this.validateSmall(Number(counter));
    return this.validateBig(counter);
  }

  /**
   * `validate` for a counter given as its two 32-bit halves, as read from the header: no BigInt
   * unless the counter is at or above 2^52.
   */
  validateHalves(low: number, high: number): boolean {
    if (high < SMALL_HIGH_LIMIT && this.bigTop === null) return this.validateSmall(high * 0x100000000 + low);
    return this.validate((BigInt(high) << 32n) | BigInt(low));
  }

  private validateSmall(counter: number): boolean {
    const next = counter + 1;
    if (next + REPLAY_WINDOW_SIZE < this.top) return false;
    const block = Math.floor(next / BITS_PER_BLOCK);
    let advance = 0;
    if (next > this.top) {
      advance = block - Math.floor(this.top / BITS_PER_BLOCK);
      this.top = next;
    }
    return this.testAndSet(advance, block % RING_BLOCKS, next % BITS_PER_BLOCK);
  }

  private validateBig(counter: bigint): boolean {
    const top = this.bigTop ?? BigInt(this.top);
    const next = counter + 1n;
    if (next + WINDOW_BIG < top) return false;
    const block = next >> BLOCK_SHIFT_BIG;
    let advance = 0;
    if (next > top) {
      const blocks = block - (top >> BLOCK_SHIFT_BIG);
      advance = blocks > RING_BLOCKS_BIG ? RING_BLOCKS : Number(blocks);
      this.bigTop = next;
    }
    return this.testAndSet(advance, Number(block & RING_MASK_BIG), Number(next & BIT_MASK_BIG));
  }

  /** Forgets every counter, as for a fresh keypair. */
  reset(): void {
    this.words.fill(0);
    this.top = 0;
    this.bigTop = null;
  }

  /**
   * Zeroes the `advance` blocks the window just moved into (the ones ending at `ringBlock`; all of
   * them when it jumped a full ring or more), then tests and sets the counter's bit.
   */
  private testAndSet(advance: number, ringBlock: number, bit: number): boolean {
    const words = this.words;
    for (let i = Math.min(advance, RING_BLOCKS) - 1; i >= 0; i--) {
      const cleared = ((ringBlock - i) & RING_MASK) * 2;
      words[cleared] = 0;
      words[cleared + 1] = 0;
    }
    const word = ringBlock * 2 + (bit >>> 5);
    const mask = 1 << (bit & 31);
    const old = words[word]!;
    if ((old & mask) !== 0) return false;
    words[word] = old | mask;
    return true;
  }
}
