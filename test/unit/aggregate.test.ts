/** aggregate and subtract (mesh/aggregate.ts) against naive address sets. */
import fc from 'fast-check';
import { formatPrefix, parsePrefix, type IpPrefix } from '../../common/ip';
import { AddressSet, aggregate, subtract } from '../../mesh/aggregate';
import { BOUNDED } from '../support/fixtures';

const ALL = ['0.0.0.0/0', '::/0'];

// ---------------------------------------------------------------------------------------------
// aggregate / subtract against naive address sets.

/** Prefixes inside 10.0.0.0/23 (512 addresses) or fd00::/119, as drawn. */
const smallPrefix = (v6: boolean) =>
  fc
    .record({ offset: fc.integer({ min: 0, max: 511 }), bits: fc.integer({ min: 0, max: 9 }) })
    .map(({ offset, bits }) => {
      const text = v6
        ? `fd00::${offset.toString(16)}/${119 + bits}`
        : `10.0.${offset >> 8}.${offset & 255}/${23 + bits}`;
      return parsePrefix(text);
    });
const prefixList = fc.array(fc.oneof(smallPrefix(false), smallPrefix(true)), { maxLength: 12 });

/** Address set: "4:n" / "6:n" for the offset n from the region's base. */
function addresses(prefixes: readonly IpPrefix[]): Set<string> {
  const out = new Set<string>();
  for (const p of prefixes) {
    const low =
      p.family === 4 ? ((p.address[2]! & 1) << 8) | p.address[3]! : ((p.address[14]! & 1) << 8) | p.address[15]!;
    const size = 2 ** ((p.family === 4 ? 32 : 128) - p.bits);
    for (let i = 0; i < size; i++) out.add(`${p.family}:${low + i}`);
  }
  return out;
}

/** The naive minimal decomposition: from the lowest address up, the largest aligned block held. */
function naiveBlocks(set: Set<string>): string[] {
  const out: string[] = [];
  for (const family of [4, 6] as const) {
    let n = 0;
    while (n < 512) {
      if (!set.has(`${family}:${n}`)) {
        n++;
        continue;
      }
      let size = 1;
      while (
        size < 512 &&
        n % (size * 2) === 0 &&
        [...Array(size * 2).keys()].every((i) => set.has(`${family}:${n + i}`))
      )
        size *= 2;
      const bits = (family === 4 ? 32 : 128) - Math.log2(size);
      out.push(
        family === 4
          ? `10.0.${n >> 8}.${n & 255}/${bits}`
          : formatPrefix(parsePrefix(`fd00::${n.toString(16)}/${bits}`)),
      );
      n += size;
    }
  }
  return out;
}

const sameSet = (a: Set<string>, b: Set<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));

describe('aggregate and subtract', () => {
  it('aggregate covers exactly the input, as the unique minimal block list, whatever the order', () => {
    fc.assert(
      fc.property(prefixList, (list) => {
        const out = aggregate(list);
        expect(sameSet(addresses(out), addresses(list))).toBe(true);
        expect(out.map(formatPrefix)).toEqual(naiveBlocks(addresses(list)));
        expect(aggregate([...list].reverse()).map(formatPrefix)).toEqual(out.map(formatPrefix));
        expect(aggregate(out).map(formatPrefix)).toEqual(out.map(formatPrefix));
      }),
      { numRuns: 300, ...BOUNDED },
    );
  });

  it('subtract leaves exactly the addresses of the first list not in the second', () => {
    fc.assert(
      fc.property(prefixList, prefixList, (from, remove) => {
        const out = subtract(from, remove);
        const removed = addresses(remove);
        const expected = new Set([...addresses(from)].filter((a) => !removed.has(a)));
        expect(sameSet(addresses(out), expected)).toBe(true);
        expect(out.map(formatPrefix)).toEqual(naiveBlocks(expected));
      }),
      { numRuns: 300, ...BOUNDED },
    );
  });

  it('handles the edges: empty lists, /0, host prefixes, host bits and both families', () => {
    const p = (texts: string[]) => texts.map(parsePrefix);
    const f = (list: IpPrefix[]) => list.map(formatPrefix);
    expect(aggregate([])).toEqual([]);
    expect(f(aggregate(p(['0.0.0.0/1', '128.0.0.0/1', '::/0', '2001:db8::/32'])))).toEqual(['0.0.0.0/0', '::/0']);
    expect(f(aggregate(p(['255.255.255.255/32', '255.255.255.254/32', '10.0.0.3/32', '10.0.0.2/31'])))).toEqual([
      '10.0.0.2/31',
      '255.255.255.254/31',
    ]);
    expect(f(subtract(p(['0.0.0.0/0']), p(['128.0.0.0/1', '0.0.0.0/2'])))).toEqual(['64.0.0.0/2']);
    expect(f(subtract(p(['10.0.0.0/30']), p(['10.0.0.1/32'])))).toEqual(['10.0.0.0/32', '10.0.0.2/31']);
    expect(f(subtract(p(['::/0']), p(['::/1'])))).toEqual(['8000::/1']);
    expect(
      f(
        subtract(
          p(['ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127']),
          p(['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128']),
        ),
      ),
    ).toEqual(['ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128']);
    // Host bits are ignored, as parsePrefix would have masked them.
    expect(f(aggregate([{ family: 4, address: Uint8Array.of(10, 0, 0, 7), bits: 30 }]))).toEqual(['10.0.0.4/30']);
    expect(() => aggregate([{ family: 4, address: Uint8Array.of(10, 0, 0), bits: 8 }])).toThrow(RangeError);
    expect(AddressSet.ALL.strings()).toEqual(ALL);
  });
});
