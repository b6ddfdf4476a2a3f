/**
 * IP addresses and prefixes: parsing (IPv4, IPv6 with RFC 4291 text forms), canonical text
 * (RFC 5952), containment. The one IP library of wiremesh: the data-plane core's allowed IPs, the
 * agent, the planner, the components and the policy pack all use it. SDK-free.
 */
import { isIP } from 'node:net';

export type IpFamily = 4 | 6;

export interface IpPrefix {
  readonly family: IpFamily;
  /** 4 or 16 bytes in network order, host bits zero. */
  readonly address: Uint8Array;
  readonly bits: number;
}

export class PrefixFormatError extends Error {
  override readonly name = 'PrefixFormatError';
}

export const IPV4_BYTES = 4;
export const IPV6_BYTES = 16;
const PREFIX_LENGTH = /^(?:0|[1-9]\d{0,2})$/;

/** 32 or 128: the longest prefix of a family. */
export function maxBitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

/** Parses `a.b.c.d/n`, `x:y::z/n` or a bare address (a host prefix); host bits are masked off. */
export function parsePrefix(text: string): IpPrefix {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const address = addressBytes(addressText);
  if (address === undefined) throw new PrefixFormatError(`invalid IP prefix "${text}": not an IPv4 or IPv6 address`);
  const family: IpFamily = address.length === IPV4_BYTES ? 4 : 6;
  const maxBits = maxBitsOf(family);
  let bits = maxBits;
  if (slash !== -1) {
    const lengthText = trimmed.slice(slash + 1);
    bits = PREFIX_LENGTH.test(lengthText) ? Number(lengthText) : NaN;
    if (!(bits <= maxBits)) {
      throw new PrefixFormatError(`invalid IP prefix "${text}": IPv${family} prefix length must be 0 to ${maxBits}`);
    }
  }
  return { family, address: maskedBytes(address, bits), bits };
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed). */
export function formatPrefix(prefix: IpPrefix): string {
  return `${formatAddress(prefix.address)}/${prefix.bits}`;
}

export function parseAddress(text: string): Uint8Array {
  const address = addressBytes(text.trim());
  if (address === undefined) throw new PrefixFormatError(`invalid IP address "${text}"`);
  return address;
}

export function formatAddress(address: Uint8Array): string {
  if (address.length === IPV4_BYTES) return address.join('.');
  if (address.length === IPV6_BYTES) return formatIpv6(address);
  throw new RangeError(`an IP address is 4 or 16 bytes, not ${address.length}`);
}

function addressBytes(text: string): Uint8Array | undefined {
  // node:net accepts zone ids ("fe80::1%eth0"); a zone has no meaning in a routing table.
  if (text.includes('%')) return undefined;
  switch (isIP(text)) {
    case 4:
      return Uint8Array.from(text.split('.'), Number);
    case 6:
      return ipv6Bytes(text);
    default:
      return undefined;
  }
}

/** Expects text that node:net already accepted as IPv6, so only the layout is worked out here. */
function ipv6Bytes(text: string): Uint8Array {
  const compressed = text.indexOf('::');
  const head = groupsOf(compressed === -1 ? text : text.slice(0, compressed));
  const tail = compressed === -1 ? [] : groupsOf(text.slice(compressed + 2));
  const zeros = new Array<number>(8 - head.length - tail.length).fill(0);
  const bytes = new Uint8Array(IPV6_BYTES);
  [...head, ...zeros, ...tail].forEach((group, index) => {
    bytes[index * 2] = group >>> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** 16-bit groups of one side of "::"; an embedded dotted quad counts as two groups. */
function groupsOf(text: string): number[] {
  if (text === '') return [];
  const groups: number[] = [];
  for (const part of text.split(':')) {
    if (part.includes('.')) {
      const [a = 0, b = 0, c = 0, d = 0] = part.split('.').map(Number);
      groups.push((a << 8) | b, (c << 8) | d);
    } else {
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < IPV6_BYTES; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952 section 5: IPv4-mapped addresses read best in mixed notation (as Go's netip prints them).
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join('.')}`;
  }
  // The first longest run of two or more zero groups becomes "::" (RFC 5952 section 4.2).
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < groups.length;) {
    let end = start;
    while (end < groups.length && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end === start ? start + 1 : end;
  }
  const hex = (part: number[]): string => part.map((group) => group.toString(16)).join(':');
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

function maskedBytes(address: Uint8Array, bits: number): Uint8Array {
  const masked = Uint8Array.from(address);
  for (let i = 0; i < masked.length; i++) {
    const keep = bits - i * 8;
    if (keep < 8) masked[i] = keep <= 0 ? 0 : masked[i]! & (0xff << (8 - keep));
  }
  return masked;
}

/** A prefix from text, or undefined when it is not one (for checks that only ask). */
export function tryParsePrefix(text: unknown): IpPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return parsePrefix(text);
  } catch {
    return undefined;
  }
}

/** True when every address of `inner` is in `outer` (same family, `outer`'s bits match). */
export function prefixContains(outer: IpPrefix, inner: IpPrefix): boolean {
  return outer.bits <= inner.bits && sharesLeadingBits(outer, inner, outer.bits);
}

/** True when the prefixes share an address: one contains the other (prefixes never partly overlap). */
export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  return sharesLeadingBits(a, b, Math.min(a.bits, b.bits));
}

function sharesLeadingBits(a: IpPrefix, b: IpPrefix, bits: number): boolean {
  if (a.family !== b.family) return false;
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if ((a.address[byte]! & mask) !== (b.address[byte]! & mask)) return false;
  }
  return true;
}
