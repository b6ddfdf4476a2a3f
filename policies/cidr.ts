/**
 * CIDR arithmetic for the policies: parsing IPv4/IPv6 prefixes, private ranges, containment, and
 * whether a set of prefixes covers a whole address family (a default route, however it is split).
 */

/** A parsed prefix: the family, the network address as an integer, and the prefix length. */
export interface Prefix {
  family: 4 | 6;
  /** The network address with the host bits cleared. */
  base: bigint;
  bits: number;
}

const WIDTH = { 4: 32, 6: 128 } as const;

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    n = n * 256n + BigInt(part);
  }
  return n;
}

function parseIpv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  // An embedded IPv4 tail (::ffff:10.0.0.1) counts as two groups.
  const last = (halves.length === 2 ? tail : head).at(-1);
  let v4: bigint | undefined;
  if (last?.includes('.')) {
    v4 = parseIpv4(last);
    if (v4 === undefined) return undefined;
    (halves.length === 2 ? tail : head).pop();
  }
  const count = head.length + tail.length + (v4 !== undefined ? 2 : 0);
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const all = [...head, ...Array<string>(8 - count).fill('0'), ...tail];
  let n = 0n;
  for (const group of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    n = (n << 16n) | BigInt(`0x${group}`);
  }
  return v4 !== undefined ? (n << 32n) | v4 : n;
}

/** `10.0.0.0/8`, `fd00::/8` (a bare address is a host prefix); `undefined` when it is not one. */
export function parsePrefix(cidr: unknown): Prefix | undefined {
  if (typeof cidr !== 'string') return undefined;
  const [address, bitsText, extra] = cidr.trim().split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const family: 4 | 6 = address.includes(':') ? 6 : 4;
  const value = family === 4 ? parseIpv4(address) : parseIpv6(address);
  const width = WIDTH[family];
  const bits = bitsText === undefined ? width : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : Number.NaN;
  if (value === undefined || !(bits >= 0 && bits <= width)) return undefined;
  const hostBits = BigInt(width - bits);
  return { family, base: (value >> hostBits) << hostBits, bits };
}

/** The last address of a prefix. */
function lastOf(p: Prefix): bigint {
  return p.base + (1n << BigInt(WIDTH[p.family] - p.bits)) - 1n;
}

/** True when `inner` lies inside `outer` (same family). */
export function prefixWithin(inner: unknown, outer: unknown): boolean {
  const a = parsePrefix(inner);
  const b = parsePrefix(outer);
  return a !== undefined && b !== undefined && a.family === b.family && a.bits >= b.bits && a.base >= b.base && lastOf(a) <= lastOf(b);
}

/** True for a prefix covering every address of its family: 0.0.0.0/0, ::/0. */
export function isAnywhere(cidr: unknown): boolean {
  return parsePrefix(cidr)?.bits === 0;
}

/** Private address space: RFC 1918, RFC 6598 shared space (100.64.0.0/10), IPv6 ULA (fc00::/7). */
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'];

/** True for a CIDR inside private address space: what forwarded local traffic comes from; never the internet. */
export function isPrivateCidr(cidr: unknown): boolean {
  return typeof cidr === 'string' && cidr.includes('/') && PRIVATE_RANGES.some((range) => prefixWithin(cidr, range));
}

/**
 * The families (4, 6) whose whole address space the union of `cidrs` covers: `0.0.0.0/0`, but also
 * `0.0.0.0/1` + `128.0.0.0/1` (the split default route wg-quick and VPN clients use) or any other
 * tiling. Unparsable entries are ignored.
 */
export function familiesCovered(cidrs: readonly unknown[]): Array<4 | 6> {
  const out: Array<4 | 6> = [];
  for (const family of [4, 6] as const) {
    const ranges = cidrs
      .map(parsePrefix)
      .filter((p): p is Prefix => p !== undefined && p.family === family)
      .map((p) => [p.base, lastOf(p)] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let next = 0n; // the first address not yet covered
    for (const [first, last] of ranges) {
      if (first > next) break;
      if (last + 1n > next) next = last + 1n;
    }
    if (ranges.length > 0 && next === 1n << BigInt(WIDTH[family])) out.push(family);
  }
  return out;
}
