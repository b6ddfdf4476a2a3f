import fc from 'fast-check';
import { compareTai64n, tai64nFromUnixMs, TAI64N_LENGTH } from '../../agent/core/tai64n';

const TAI64_UNIX_EPOCH = 0x400000000000000an;
const WHITENING_NS = 1 << 24;
/** One whitening step in milliseconds, plus a margin for float rounding. */
const WHITENING_MS = WHITENING_NS / 1e6 + 0.001;

function isAfter(later: number, earlier: number): boolean {
  return compareTai64n(tai64nFromUnixMs(later), tai64nFromUnixMs(earlier)) > 0;
}

describe('tai64nFromUnixMs', () => {
  it('encodes the Unix epoch as 0x400000000000000a seconds and 0 ns', () => {
    expect(tai64nFromUnixMs(0).toString('hex')).toBe('400000000000000a00000000');
  });

  it('encodes seconds big-endian and whitens the nanoseconds down to a multiple of 2^24', () => {
    // 1_700_000_000 s = 0x6553f100; 123,456,789 ns whitens to 7 * 2^24 = 0x07000000.
    const stamp = tai64nFromUnixMs(1_700_000_000_123.456789);
    expect(stamp).toHaveLength(TAI64N_LENGTH);
    expect(stamp.toString('hex')).toBe('400000006553f10a07000000');
  });

  it('stays ordered across the epoch for times before 1970', () => {
    // -1 ms is second -1 at 999,000,000 ns, whitened to 59 * 2^24.
    expect(tai64nFromUnixMs(-1).toString('hex')).toBe('40000000000000093b000000');
    expect(isAfter(0, -1)).toBe(true);
  });

  it('rejects times that are not finite numbers', () => {
    expect(() => tai64nFromUnixMs(Number.NaN)).toThrow(RangeError);
    expect(() => tai64nFromUnixMs(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  // wireguard-go tai64n_test.go TestMonotonic: whitening hides anything under ~16.8 ms.
  const start = 123.456789; // time.Unix(0, 123456789), "a nontrivial bit pattern"
  it.each([
    ['10 ns', false, 10e-6],
    ['10 us', false, 0.01],
    ['1 ms', false, 1],
    ['10 ms', false, 10],
    ['20 ms', true, 20],
  ])('after %s is newer: %s', (_, newer, elapsedMs) => {
    expect(isAfter(start + elapsedMs, start)).toBe(newer);
  });

  it('whitens on the 2^24 ns grid: the same step compares equal, the next one is newer', () => {
    expect(compareTai64n(tai64nFromUnixMs(16.7772), tai64nFromUnixMs(0))).toBe(0);
    expect(isAfter(16.7773, 16.7772)).toBe(true);
  });

  it('always has whitened nanoseconds below one second and the floor of the seconds', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e12, max: 1e13, noNaN: true }), (unixMs) => {
        const stamp = tai64nFromUnixMs(unixMs);
        const nanoseconds = stamp.readUInt32BE(8);
        const wholeMs = BigInt(Math.floor(unixMs));
        const seconds = wholeMs >= 0n ? wholeMs / 1000n : -((999n - wholeMs) / 1000n);
        return (
          stamp.readBigUInt64BE(0) === TAI64_UNIX_EPOCH + seconds &&
          nanoseconds % WHITENING_NS === 0 &&
          nanoseconds < 1e9
        );
      }),
      { numRuns: 2_000 },
    );
  });

  it('never goes backwards, and moves forward once a whitening step has passed', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 4e12, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (earlier, elapsed) => {
          const order = compareTai64n(tai64nFromUnixMs(earlier + elapsed), tai64nFromUnixMs(earlier));
          return elapsed >= WHITENING_MS ? order > 0 : order >= 0;
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('compareTai64n', () => {
  it('orders by seconds before nanoseconds, byte-wise', () => {
    const a = Buffer.from('400000006553f10a3b000000', 'hex');
    const b = Buffer.from('400000006553f10b00000000', 'hex');
    expect(compareTai64n(a, b)).toBeLessThan(0);
    expect(compareTai64n(b, a)).toBeGreaterThan(0);
    expect(compareTai64n(a, Buffer.from(a))).toBe(0);
  });

  it('accepts plain Uint8Arrays', () => {
    expect(compareTai64n(new Uint8Array(12), Uint8Array.from(tai64nFromUnixMs(0)))).toBeLessThan(0);
  });

  it('refuses anything that is not 12 bytes, which would compare meaninglessly', () => {
    expect(() => compareTai64n(new Uint8Array(11), new Uint8Array(12))).toThrow(RangeError);
    expect(() => compareTai64n(new Uint8Array(12), new Uint8Array(13))).toThrow(RangeError);
  });
});
