import fc from 'fast-check';
import { AllowedIps } from '../../agent/core/allowedips';
import { formatAddress, formatPrefix, parseAddress, parsePrefix, type IpFamily, type IpPrefix } from '../../common/ip';

const p = parsePrefix;
const a = parseAddress;

describe('AllowedIps', () => {
  it('picks the longest matching prefix', () => {
    const table = new AllowedIps<string>();
    table.insert(p('10.0.0.0/8'), 'wide');
    table.insert(p('10.1.0.0/16'), 'mid');
    table.insert(p('10.1.2.0/24'), 'narrow');
    table.insert(p('10.1.2.3/32'), 'host');
    expect(table.lookup(a('10.9.9.9'))).toBe('wide');
    expect(table.lookup(a('10.1.9.9'))).toBe('mid');
    expect(table.lookup(a('10.1.2.9'))).toBe('narrow');
    expect(table.lookup(a('10.1.2.3'))).toBe('host');
    expect(table.lookup(a('11.0.0.0'))).toBeUndefined();
    expect(table.size).toBe(4);
  });

  it('serves /0 as the default and /32 and /128 as exact hosts', () => {
    const table = new AllowedIps<string>();
    table.insert(p('0.0.0.0/0'), 'v4 default');
    table.insert(p('::/0'), 'v6 default');
    table.insert(p('192.0.2.1/32'), 'v4 host');
    table.insert(p('2001:db8::1/128'), 'v6 host');
    expect(table.lookup(a('192.0.2.1'))).toBe('v4 host');
    expect(table.lookup(a('192.0.2.2'))).toBe('v4 default');
    expect(table.lookup(a('255.255.255.255'))).toBe('v4 default');
    expect(table.lookup(a('2001:db8::1'))).toBe('v6 host');
    expect(table.lookup(a('2001:db8::2'))).toBe('v6 default');
    expect(table.lookup(a('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'))).toBe('v6 default');
  });

  it('keeps IPv4 and IPv6 apart, including IPv4-mapped IPv6', () => {
    const table = new AllowedIps<string>();
    table.insert(p('1.2.3.0/24'), 'v4');
    expect(table.lookup(a('::ffff:1.2.3.4'))).toBeUndefined();
    expect(table.lookup(a('::'))).toBeUndefined();
    table.insert(p('::/0'), 'v6');
    expect(table.lookup(a('1.2.3.4'))).toBe('v4');
    expect(table.lookup(a('0.0.0.0'))).toBeUndefined();
  });

  it('moves a prefix that another peer already holds', () => {
    const table = new AllowedIps<string>();
    table.insert(p('10.0.0.0/24'), 'alice');
    table.insert(p('10.0.1.0/24'), 'alice');
    table.insert(p('10.0.0.0/24'), 'bob');
    expect(table.lookup(a('10.0.0.7'))).toBe('bob');
    expect(table.prefixesOf('alice').map(formatPrefix)).toEqual(['10.0.1.0/24']);
    expect(table.prefixesOf('bob').map(formatPrefix)).toEqual(['10.0.0.0/24']);
    expect(table.size).toBe(2);
    expect(table.remove(p('10.0.0.0/24'), 'alice')).toBe(false);
    expect(table.lookup(a('10.0.0.7'))).toBe('bob');
  });

  it('masks host bits of inserted and removed prefixes', () => {
    const table = new AllowedIps<string>();
    const unmasked: IpPrefix = { family: 4, address: Uint8Array.of(10, 1, 2, 3), bits: 8 };
    table.insert(unmasked, 'alice');
    expect(table.lookup(a('10.200.0.1'))).toBe('alice');
    expect(table.prefixesOf('alice').map(formatPrefix)).toEqual(['10.0.0.0/8']);
    expect(table.remove({ family: 4, address: Uint8Array.of(10, 9, 9, 9), bits: 8 }, 'alice')).toBe(true);
    expect(table.size).toBe(0);
  });

  it('removes a prefix only for its owner, and only that exact prefix', () => {
    const table = new AllowedIps<string>();
    table.insert(p('10.0.0.0/8'), 'alice');
    table.insert(p('10.1.0.0/16'), 'bob');
    expect(table.remove(p('10.1.0.0/16'), 'alice')).toBe(false);
    expect(table.remove(p('10.0.0.0/9'), 'alice')).toBe(false);
    expect(table.remove(p('10.2.0.0/16'), 'alice')).toBe(false);
    expect(table.remove(p('10.0.0.0/8'), 'alice')).toBe(true);
    expect(table.remove(p('10.0.0.0/8'), 'alice')).toBe(false);
    expect(table.lookup(a('10.9.0.0'))).toBeUndefined();
    expect(table.lookup(a('10.1.0.0'))).toBe('bob');
    expect(table.size).toBe(1);
  });

  it('removePeer drops every prefix of that peer and nothing else', () => {
    const table = new AllowedIps<string>();
    for (const text of ['10.0.0.0/8', '10.1.0.0/16', '10.1.1.0/24', 'fd00::/8', 'fd00:1::/32'])
      table.insert(p(text), 'alice');
    table.insert(p('10.1.0.0/24'), 'bob');
    table.insert(p('fd00:1:2::/48'), 'bob');
    table.removePeer('alice');
    table.removePeer('nobody');
    expect(table.prefixesOf('alice')).toEqual([]);
    expect(table.size).toBe(2);
    expect(table.lookup(a('10.1.0.5'))).toBe('bob');
    expect(table.lookup(a('10.1.1.5'))).toBeUndefined();
    expect(table.lookup(a('fd00:1:2::1'))).toBe('bob');
    expect(table.lookup(a('fd00:1:3::1'))).toBeUndefined();
  });

  it('lists prefixes IPv4 first, then by address, then shorter first', () => {
    const table = new AllowedIps<string>();
    for (const text of ['fd00::/8', '10.1.0.0/16', '::/0', '10.0.0.0/8', '9.0.0.0/8', '10.0.0.0/16'])
      table.insert(p(text), 'alice');
    expect(table.prefixesOf('alice').map(formatPrefix)).toEqual([
      '9.0.0.0/8',
      '10.0.0.0/8',
      '10.0.0.0/16',
      '10.1.0.0/16',
      '::/0',
      'fd00::/8',
    ]);
  });

  it('reads addresses straight out of a packet buffer', () => {
    const table = new AllowedIps<string>();
    table.insert(p('192.0.2.0/24'), 'v4');
    table.insert(p('2001:db8::/32'), 'v6');
    const ipv4Header = new Uint8Array(20);
    ipv4Header.set([192, 0, 2, 9], 12);
    expect(table.lookupIPv4(ipv4Header, 12)).toBe('v4');
    const ipv6Header = new Uint8Array(40);
    ipv6Header.set(a('2001:db8::5'), 8);
    expect(table.lookupIPv6(ipv6Header, 8)).toBe('v6');
    expect(() => table.lookupIPv4(ipv4Header, 17)).toThrow(RangeError);
    expect(() => table.lookupIPv6(ipv6Header, -1)).toThrow(RangeError);
    expect(() => table.lookup(new Uint8Array(5))).toThrow(RangeError);
  });

  it('rejects malformed prefix objects', () => {
    const table = new AllowedIps<string>();
    expect(() => table.insert({ family: 4, address: new Uint8Array(16), bits: 8 }, 'x')).toThrow(RangeError);
    expect(() => table.insert({ family: 6, address: new Uint8Array(16), bits: 129 }, 'x')).toThrow(RangeError);
    expect(() => table.insert({ family: 4, address: new Uint8Array(4), bits: 1.5 }, 'x')).toThrow(RangeError);
    expect(() => table.insert({ family: 5 as IpFamily, address: new Uint8Array(4), bits: 8 }, 'x')).toThrow(
      'unknown address family 5',
    );
  });

  it('clear empties the table', () => {
    const table = new AllowedIps<string>();
    table.insert(p('10.0.0.0/8'), 'alice');
    table.insert(p('::/0'), 'alice');
    table.clear();
    expect(table.size).toBe(0);
    expect(table.lookup(a('10.0.0.1'))).toBeUndefined();
    expect(table.lookup(a('::1'))).toBeUndefined();
    expect(table.prefixesOf('alice')).toEqual([]);
  });

  it('holds one peer with 65,281 prefixes and removes them all', () => {
    const table = new AllowedIps<string>();
    let count = 0;
    for (let second = 0; second < 256; second++) {
      for (let third = 0; third < 256 && count < 65_281; third++, count++) {
        table.insert({ family: 4, address: Uint8Array.of(10, second, third, 0), bits: 24 }, 'big');
      }
    }
    table.insert(p('10.0.0.0/8'), 'small');
    expect(table.size).toBe(65_282);
    expect(table.lookup(a('10.254.0.1'))).toBe('big');
    expect(table.lookup(a('10.255.1.1'))).toBe('small');
    table.removePeer('big');
    expect(table.size).toBe(1);
    expect(table.lookup(a('10.254.0.1'))).toBe('small');
  });
});

/** Bytes drawn mostly from a few values, so random prefixes nest and collide often. */
const ipv4Byte = fc.oneof(fc.constantFrom(0, 10, 128, 255), fc.integer({ min: 0, max: 255 }));
const ipv6Byte = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 0xfd, 0x80, 0xff) },
  fc.integer({ min: 0, max: 255 }),
);

function arbitraryPrefix(family: IpFamily, byte: fc.Arbitrary<number>): fc.Arbitrary<IpPrefix> {
  const length = family === 4 ? 4 : 16;
  return fc
    .record({
      address: fc.array(byte, { minLength: length, maxLength: length }),
      bits: fc.integer({ min: 0, max: length * 8 }),
    })
    .map(({ address, bits }) => parsePrefix(`${formatAddress(Uint8Array.from(address))}/${bits}`));
}

/** The obvious model: a list of prefixes, scanned linearly for the longest match. */
class ReferenceTable {
  private readonly entries: { prefix: IpPrefix; peer: string }[] = [];

  get size(): number {
    return this.entries.length;
  }

  insert(prefix: IpPrefix, peer: string): void {
    const existing = this.entries.find((entry) => samePrefix(entry.prefix, prefix));
    if (existing) existing.peer = peer;
    else this.entries.push({ prefix, peer });
  }

  remove(prefix: IpPrefix, peer: string): boolean {
    const index = this.entries.findIndex((entry) => samePrefix(entry.prefix, prefix) && entry.peer === peer);
    if (index !== -1) this.entries.splice(index, 1);
    return index !== -1;
  }

  removePeer(peer: string): void {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.peer === peer) this.entries.splice(i, 1);
  }

  lookup(address: Uint8Array): string | undefined {
    let best: { prefix: IpPrefix; peer: string } | undefined;
    for (const entry of this.entries) {
      if (entry.prefix.address.length !== address.length || !contains(entry.prefix, address)) continue;
      if (best === undefined || entry.prefix.bits > best.prefix.bits) best = entry;
    }
    return best?.peer;
  }

  prefixesOf(peer: string): string[] {
    return this.entries.filter((entry) => entry.peer === peer).map((entry) => formatPrefix(entry.prefix));
  }
}

function samePrefix(x: IpPrefix, y: IpPrefix): boolean {
  return x.family === y.family && x.bits === y.bits && x.address.every((byte, i) => byte === y.address[i]);
}

function contains(prefix: IpPrefix, address: Uint8Array): boolean {
  for (let bit = 0; bit < prefix.bits; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((prefix.address[bit >> 3]! & mask) !== (address[bit >> 3]! & mask)) return false;
  }
  return true;
}

const PEERS = ['alice', 'bob', 'carol'];

type Operation =
  | { kind: 'insert'; prefix: IpPrefix; peer: string }
  | { kind: 'remove'; prefix: IpPrefix; peer: string }
  | { kind: 'removePeer'; peer: string };

describe.each([
  [4, ipv4Byte],
  [6, ipv6Byte],
] as const)('AllowedIps against a linear reference, IPv%d', (family, byte) => {
  const peer = fc.constantFrom(...PEERS);
  const prefix = arbitraryPrefix(family, byte);
  const operation: fc.Arbitrary<Operation> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('insert' as const), prefix, peer }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), prefix, peer }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('removePeer' as const), peer }) },
  );
  const length = family === 4 ? 4 : 16;
  const probe = fc.array(byte, { minLength: length, maxLength: length }).map((bytes) => Uint8Array.from(bytes));

  it('agrees on every lookup, removal, size and prefix list', () => {
    fc.assert(
      fc.property(
        fc.array(operation, { maxLength: 60 }),
        fc.array(probe, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 40 }),
        (operations, probes, offset) => {
          const table = new AllowedIps<string>();
          const reference = new ReferenceTable();
          const inserted: IpPrefix[] = [];
          const packet = new Uint8Array(offset + length + 3);
          const check = (address: Uint8Array): void => {
            const expected = reference.lookup(address);
            expect(table.lookup(address)).toBe(expected);
            packet.set(address, offset);
            expect(family === 4 ? table.lookupIPv4(packet, offset) : table.lookupIPv6(packet, offset)).toBe(expected);
          };
          for (const op of operations) {
            if (op.kind === 'insert') {
              table.insert(op.prefix, op.peer);
              reference.insert(op.prefix, op.peer);
              inserted.push(op.prefix);
            } else if (op.kind === 'remove') {
              expect(table.remove(op.prefix, op.peer)).toBe(reference.remove(op.prefix, op.peer));
            } else {
              table.removePeer(op.peer);
              reference.removePeer(op.peer);
            }
            expect(table.size).toBe(reference.size);
            // Probe at, inside and just past each prefix seen so far, where mistakes show.
            for (const seen of inserted) {
              check(seen.address);
              check(lastAddressOf(seen));
              check(nextAddressAfter(seen));
            }
            probes.forEach(check);
          }
          for (const name of PEERS) {
            expect(table.prefixesOf(name).map(formatPrefix)).toEqual(
              [...reference.prefixesOf(name)].sort((x, y) => comparePrefixText(x, y)),
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

function lastAddressOf(prefix: IpPrefix): Uint8Array {
  return prefix.address.map((byte, i) => {
    const keep = prefix.bits - i * 8;
    return keep >= 8 ? byte : byte | (0xff >> Math.max(keep, 0));
  });
}

/** The address one past the end of the prefix (wrapping to zero at the top). */
function nextAddressAfter(prefix: IpPrefix): Uint8Array {
  const next = lastAddressOf(prefix);
  for (let i = next.length - 1; i >= 0; i--) {
    next[i] = (next[i]! + 1) & 0xff;
    if (next[i] !== 0) break;
  }
  return next;
}

/** Orders canonical prefix text the way prefixesOf promises: by address bytes, then length. */
function comparePrefixText(x: string, y: string): number {
  const px = parsePrefix(x);
  const py = parsePrefix(y);
  for (let i = 0; i < px.address.length; i++)
    if (px.address[i] !== py.address[i]) return px.address[i]! - py.address[i]!;
  return px.bits - py.bits;
}

describe("canonical prefix text (common/ip) on the trie's random prefixes", () => {
  it('round-trips random IPv4 and IPv6 prefixes through canonical text', () => {
    fc.assert(
      fc.property(
        fc.oneof(arbitraryPrefix(4, fc.integer({ min: 0, max: 255 })), arbitraryPrefix(6, ipv6Byte)),
        (prefix) => {
          const text = formatPrefix(prefix);
          expect(p(text)).toEqual(prefix);
          expect(formatPrefix(p(text))).toBe(text);
        },
      ),
    );
  });
});
