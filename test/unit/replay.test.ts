import fc from 'fast-check';
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from '../../agent/core/constants';
import { ReplayWindow } from '../../agent/core/replay';

const WINDOW = BigInt(REPLAY_WINDOW_SIZE);
const U64_MAX = (1n << 64n) - 1n;
const NUMBER_PATH_LIMIT = 1n << 52n;

type Case = readonly [counter: bigint, accepted: boolean];

/** Feeds cases to the window in order; returns the ones that disagreed, numbered from 1 like the selftest. */
function mismatches(window: ReplayWindow, cases: Iterable<Case>): string[] {
  const failed: string[] = [];
  let caseNumber = 0;
  for (const [counter, accepted] of cases) {
    caseNumber++;
    if (window.validate(counter) !== accepted) {
      failed.push(`#${caseNumber}: validate(${counter}) should be ${accepted}`);
    }
  }
  return failed;
}

function* accepting(from: bigint, to: bigint): Generator<Case> {
  const step = from <= to ? 1n : -1n;
  for (let counter = from; counter !== to + step; counter += step) yield [counter, true];
}

/**
 * Exact model of the kernel's behaviour: a Set of accepted counters plus the greatest one. The
 * bitmap never lets a counter more than 8128 behind through (explicit check), and inside the window
 * its bits are exact, so the model is an equality, not just bounds.
 */
class ReferenceWindow {
  private readonly accepted = new Set<bigint>();
  greatest: bigint | null = null;

  validate(counter: bigint): boolean {
    if (counter < 0n || counter >= REJECT_AFTER_MESSAGES) return false;
    if (this.greatest !== null && this.greatest - counter > WINDOW) return false;
    if (this.accepted.has(counter)) return false;
    this.accepted.add(counter);
    if (this.greatest === null || counter > this.greatest) this.greatest = counter;
    return true;
  }
}

describe('ReplayWindow: kernel selftest src/selftest/counter.c (also wireguard-go replay_test.go)', () => {
  const T_LIM = WINDOW + 1n;
  const R = REJECT_AFTER_MESSAGES;
  const relativeCases: Case[] = [
    /*  1 */ [0n, true],
    /*  2 */ [1n, true],
    /*  3 */ [1n, false],
    /*  4 */ [9n, true],
    /*  5 */ [8n, true],
    /*  6 */ [7n, true],
    /*  7 */ [7n, false],
    /*  8 */ [T_LIM, true],
    /*  9 */ [T_LIM - 1n, true],
    /* 10 */ [T_LIM - 1n, false],
    /* 11 */ [T_LIM - 2n, true],
    /* 12 */ [2n, true],
    /* 13 */ [2n, false],
    /* 14 */ [T_LIM + 16n, true],
    /* 15 */ [3n, false],
    /* 16 */ [T_LIM + 16n, false],
    /* 17 */ [T_LIM * 4n, true],
    /* 18 */ [T_LIM * 4n - (T_LIM - 1n), true],
    /* 19 */ [10n, false],
    /* 20 */ [T_LIM * 4n - T_LIM, false],
    /* 21 */ [T_LIM * 4n - (T_LIM + 1n), false],
    /* 22 */ [T_LIM * 4n - (T_LIM - 2n), true],
    /* 23 */ [T_LIM * 4n + 1n - T_LIM, false],
    /* 24 */ [0n, false],
  ];
  const limitCases: Case[] = [
    /* 25 */ [R, false],
    /* 26 */ [R - 1n, true],
    /* 27 */ [R, false],
    /* 28 */ [R - 1n, false],
    /* 29 */ [R - 2n, true],
    /* 30 */ [R + 1n, false],
    /* 31 */ [R + 2n, false],
    /* 32 */ [R - 2n, false],
    /* 33 */ [R - 3n, true],
    /* 34 */ [0n, false],
  ];

  it('passes the 34 point cases in order', () => {
    expect(mismatches(new ReplayWindow(), [...relativeCases, ...limitCases])).toEqual([]);
  });

  it('sweep 1: 1..W ascending, then 0 once', () => {
    expect(mismatches(new ReplayWindow(), [...accepting(1n, WINDOW), [0n, true], [0n, false]])).toEqual([]);
  });

  it('sweep 2: 2..W+1 ascending, then 1 accepted and 0 too old', () => {
    expect(mismatches(new ReplayWindow(), [...accepting(2n, WINDOW + 1n), [1n, true], [0n, false]])).toEqual([]);
  });

  it('sweep 3: W..0 descending, all accepted', () => {
    expect(mismatches(new ReplayWindow(), accepting(WINDOW, 0n))).toEqual([]);
  });

  it('sweep 4: W+1..1 descending, then 0 too old', () => {
    expect(mismatches(new ReplayWindow(), [...accepting(WINDOW + 1n, 1n), [0n, false]])).toEqual([]);
  });

  it('sweep 5: W..1 descending, then W+1 accepted and 0 too old', () => {
    expect(mismatches(new ReplayWindow(), [...accepting(WINDOW, 1n), [WINDOW + 1n, true], [0n, false]])).toEqual([]);
  });

  it('sweep 6: W..1 descending, then 0 and W+1 accepted', () => {
    expect(mismatches(new ReplayWindow(), [...accepting(WINDOW, 1n), [0n, true], [WINDOW + 1n, true]])).toEqual([]);
  });

  // The rule is translation invariant below the limit, so cases 1-24 shifted anywhere must agree; these
  // offsets exercise the bigint path and the hand-over from the number path at 2^52.
  it.each([
    ['straddling the 2^52 hand-over', NUMBER_PATH_LIMIT - 20_000n],
    ['entirely on the bigint path', (1n << 60n) + 12_345n],
    ['just below REJECT_AFTER_MESSAGES', REJECT_AFTER_MESSAGES - 40_000n],
  ])('passes cases 1-24 shifted %s', (_, offset) => {
    const shifted = relativeCases.map(([counter, accepted]): Case => [counter + offset, accepted]);
    expect(mismatches(new ReplayWindow(), shifted)).toEqual([]);
  });
});

describe('ReplayWindow: edges', () => {
  it('accepts exactly 8128 behind the greatest and rejects 8129 behind', () => {
    const window = new ReplayWindow();
    expect(window.validate(100_000n)).toBe(true);
    expect(window.validate(100_000n - WINDOW - 1n)).toBe(false);
    expect(window.validate(100_000n - WINDOW)).toBe(true);
    expect(window.validate(100_000n - WINDOW)).toBe(false);
  });

  it('rejects values that are not a u64 below REJECT_AFTER_MESSAGES', () => {
    const window = new ReplayWindow();
    expect(window.validate(-1n)).toBe(false);
    expect(window.validate(U64_MAX)).toBe(false);
    expect(window.validate(U64_MAX + 1n)).toBe(false);
    expect(window.validate(0n)).toBe(true);
  });

  it('clears the whole ring on a jump of more than 128 blocks', () => {
    const window = new ReplayWindow();
    for (let counter = 0n; counter < 8192n; counter++) window.validate(counter);
    const jumped = 8192n * 5n + 17n;
    expect(window.validate(jumped)).toBe(true);
    expect(mismatches(window, accepting(jumped - 1n, jumped - WINDOW))).toEqual([]);
  });

  it('forgets everything on reset, including a bigint-path state', () => {
    const window = new ReplayWindow();
    // 3 + 3 * 8192 lands on the same ring bit as 3, so a stale bitmap would reject 3 after the reset.
    expect(window.validate(3n + 3n * 8192n)).toBe(true);
    window.reset();
    expect(window.validate(3n)).toBe(true);
    window.reset();
    expect(window.validate(REJECT_AFTER_MESSAGES - 1n)).toBe(true);
    expect(window.validate(5n)).toBe(false);
    window.reset();
    expect(
      mismatches(window, [
        [5n, true],
        [5n, false],
        [0n, true],
        [REJECT_AFTER_MESSAGES - 1n, true],
        [5n, false],
      ]),
    ).toEqual([]);
  });
});

describe('ReplayWindow: properties', () => {
  type Step =
    | { kind: 'ahead'; amount: number }
    | { kind: 'behind'; amount: number }
    | { kind: 'replay'; pick: number }
    | { kind: 'anywhere'; counter: bigint };

  const ahead = (amount: number): Step => ({ kind: 'ahead', amount });
  const behind = (amount: number): Step => ({ kind: 'behind', amount });
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 1, max: 100 }).map(ahead) },
    { weight: 2, arbitrary: fc.integer({ min: 64, max: 20_000 }).map(ahead) },
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 9_000 }).map(behind) },
    { weight: 3, arbitrary: fc.constantFrom(8127, 8128, 8129, 8191, 8192, 8193).map(behind) },
    { weight: 4, arbitrary: fc.nat().map((pick): Step => ({ kind: 'replay', pick })) },
    {
      weight: 1,
      arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }).map((counter): Step => ({ kind: 'anywhere', counter })),
    },
  );

  const start = fc.oneof(
    fc.constant(0n),
    fc.constant(NUMBER_PATH_LIMIT - 3_000n),
    fc.constant(REJECT_AFTER_MESSAGES - 30_000n),
    fc.bigInt({ min: 0n, max: U64_MAX }),
  );

  /** Steps are relative to the greatest counter accepted so far (or the base before any). */
  function counterFor(s: Step, greatest: bigint, sent: readonly bigint[]): bigint {
    switch (s.kind) {
      case 'ahead':
        return greatest + BigInt(s.amount);
      case 'behind':
        return greatest >= BigInt(s.amount) ? greatest - BigInt(s.amount) : 0n;
      case 'replay':
        return sent.length > 0 ? sent[s.pick % sent.length]! : greatest;
      case 'anywhere':
        return s.counter;
    }
  }

  function runAgainstReference(base: bigint, steps: readonly Step[]): void {
    const window = new ReplayWindow();
    const reference = new ReferenceWindow();
    const sent: bigint[] = [];
    for (const s of steps) {
      const counter = counterFor(s, reference.greatest ?? base, sent);
      sent.push(counter);
      const expected = reference.validate(counter);
      if (window.validate(counter) !== expected) {
        throw new Error(`step ${sent.length}: validate(${counter}) should be ${expected}`);
      }
    }
  }

  it('agrees with a Set-based reference on random reorderings, replays and jumps', () => {
    fc.assert(
      fc.property(start, fc.array(step, { maxLength: 400 }), (base, steps) => runAgainstReference(base, steps)),
      { numRuns: 400 },
    );
  });

  it('agrees with the reference over long runs that lap the ring many times', () => {
    fc.assert(
      fc.property(start, fc.array(step, { minLength: 2_000, maxLength: 5_000 }), (base, steps) =>
        runAgainstReference(base, steps),
      ),
      { numRuns: 20 },
    );
  });

  const windowSpan = Array.from({ length: REPLAY_WINDOW_SIZE + 1 }, (_, offset) => BigInt(offset));

  it('accepts any order of 8129 consecutive counters once, then rejects every replay', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant(0n),
          fc.constant(NUMBER_PATH_LIMIT - 4_000n),
          fc.bigInt({ min: 0n, max: REJECT_AFTER_MESSAGES - WINDOW - 1n }),
        ),
        fc.shuffledSubarray(windowSpan, { minLength: windowSpan.length }),
        (base, order) => {
          const window = new ReplayWindow();
          const firstPass = mismatches(
            window,
            order.map((offset): Case => [base + offset, true]),
          );
          const replays = mismatches(
            window,
            order.map((offset): Case => [base + offset, false]),
          );
          return firstPass.length === 0 && replays.length === 0 && (base === 0n || !window.validate(base - 1n));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('never accepts the same counter twice', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 20_000n }), { maxLength: 500 }), (counters) => {
        const window = new ReplayWindow();
        const accepted = new Set<bigint>();
        for (const counter of counters) {
          if (!window.validate(counter)) continue;
          if (accepted.has(counter)) return false;
          accepted.add(counter);
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

describe('ReplayWindow: counters as two 32-bit halves (the receive path reads them so, without a BigInt)', () => {
  const halves = (counter: bigint): [number, number] => [Number(counter & 0xffffffffn), Number(counter >> 32n)];

  it('decides exactly as validate, across the 2^32 boundary and into the bigint path at 2^52', () => {
    const counters: bigint[] = [];
    for (const base of [0n, (1n << 32n) - 40n, (1n << 52n) - 40n]) {
      for (let i = 0n; i < 80n; i++) counters.push(base + ((i * 37n) % 80n), base + i);
    }
    counters.push(REJECT_AFTER_MESSAGES - 1n, REJECT_AFTER_MESSAGES, U64_MAX, 3n);
    const reference = new ReplayWindow();
    const split = new ReplayWindow();
    const decisions = counters.map((counter) => [
      reference.validate(counter),
      split.validateHalves(...halves(counter)),
    ]);
    expect(decisions.filter(([a, b]) => a !== b)).toEqual([]);
    expect(decisions.some(([a]) => a) && decisions.some(([a]) => !a)).toBe(true);
  });
});
