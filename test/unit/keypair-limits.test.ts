import { REJECT_AFTER_MESSAGES, REKEY_AFTER_MESSAGES } from '../../agent/core/constants';
import { CounterLimit, Keypair } from '../../agent/core/keypair';
import { randomUint32 } from '../../agent/crypto/primitives';

function keypairAt(counter: bigint): Keypair {
  const keypair = new Keypair(Buffer.alloc(32, 0x11), Buffer.alloc(32, 0x22), 1, 2, true, 0);
  keypair.sendCounter = counter;
  return keypair;
}

describe('send-counter limits checked per packet without a BigInt', () => {
  const rekey = new CounterLimit(REKEY_AFTER_MESSAGES);

  it.each([
    [0n, false],
    [REKEY_AFTER_MESSAGES - 1n, false],
    [REKEY_AFTER_MESSAGES, false],
    [REKEY_AFTER_MESSAGES + 1n, true],
    [REKEY_AFTER_MESSAGES + (1n << 32n), true],
    [(1n << 32n) + 5n, false],
  ])('counter %s above REKEY_AFTER_MESSAGES: %s', (counter, above) => {
    expect(keypairAt(counter).sendCounterAbove(rekey)).toBe(above);
  });

  it.each([
    [0n, true],
    [(1n << 52n) + 7n, true],
    [REJECT_AFTER_MESSAGES - 1n, true],
    [REJECT_AFTER_MESSAGES, false],
    [REJECT_AFTER_MESSAGES + 1n, false],
  ])('counter %s can send: %s', (counter, sendable) => {
    expect(keypairAt(counter).canSend(1)).toBe(sendable);
  });

  it('splits a limit into its 32-bit halves', () => {
    expect(new CounterLimit((5n << 32n) + 9n)).toEqual({ high: 5, low: 9 });
  });
});

describe('randomUint32 from the reused pool', () => {
  it('gives unsigned 32-bit integers across pool refills, not a repeating block', () => {
    const values = Array.from({ length: 1000 }, () => randomUint32());
    for (const value of values) {
      expect(Number.isInteger(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(2 ** 32);
    }
    // 1000 draws from 2^32 collide with probability ~1e-4; a pool that is not refilled repeats at once.
    expect(new Set(values).size).toBeGreaterThan(995);
  });
});
