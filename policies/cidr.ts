/**
 * CIDR questions the policies ask, on the project's one IP library (common/ip.ts): private ranges,
 * containment, and whether a set of prefixes covers a whole address family (a default route,
 * however it is split). Every function takes unchecked values (policy inputs) and answers false or
 * nothing for what is not a prefix.
 */
import { maxBitsOf, parsePrefix, prefixContains, tryParsePrefix, type IpFamily, type IpPrefix } from '../common/ip';

/** True when `inner` lies inside `outer` (same family). */
export function prefixWithin(inner: unknown, outer: unknown): boolean {
  const a = tryParsePrefix(inner);
  const b = tryParsePrefix(outer);
  return a !== undefined && b !== undefined && prefixContains(b, a);
}

/** True for a prefix covering every address of its family: 0.0.0.0/0, ::/0. */
export function isAnywhere(cidr: unknown): boolean {
  return tryParsePrefix(cidr)?.bits === 0;
}

/** Private address space: RFC 1918, RFC 6598 shared space (100.64.0.0/10), IPv6 ULA (fc00::/7). */
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'].map(parsePrefix);

/** True for a CIDR inside private address space: what forwarded local traffic comes from; never the internet. */
export function isPrivateCidr(cidr: unknown): boolean {
  const prefix = typeof cidr === 'string' && cidr.includes('/') ? tryParsePrefix(cidr) : undefined;
  return prefix !== undefined && PRIVATE_RANGES.some((range) => prefixContains(range, prefix));
}

/** The first and last address of a prefix as integers. */
function rangeOf(prefix: IpPrefix): readonly [bigint, bigint] {
  const first = prefix.address.reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);
  return [first, first + (1n << BigInt(maxBitsOf(prefix.family) - prefix.bits)) - 1n];
}

/**
 * The families (4, 6) whose whole address space the union of `cidrs` covers: `0.0.0.0/0`, but also
 * `0.0.0.0/1` + `128.0.0.0/1` (the split default route wg-quick and VPN clients use) or any other
 * tiling. Unparsable entries are ignored.
 */
export function familiesCovered(cidrs: readonly unknown[]): IpFamily[] {
  const out: IpFamily[] = [];
  for (const family of [4, 6] as const) {
    const ranges = cidrs
      .map(tryParsePrefix)
      .filter((p): p is IpPrefix => p !== undefined && p.family === family)
      .map(rangeOf)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let next = 0n; // the first address not yet covered
    for (const [first, last] of ranges) {
      if (first > next) break;
      if (last + 1n > next) next = last + 1n;
    }
    if (ranges.length > 0 && next === 1n << BigInt(maxBitsOf(family))) out.push(family);
  }
  return out;
}
