/**
 * Exact prefix-set arithmetic for the planner: `aggregate` (the fewest prefixes covering exactly
 * the same addresses) and `subtract` (the addresses of one list that are not in another).
 *
 * Both go through address ranges: a prefix is the half-open range [start, start + 2^(len-bits)).
 * Ranges are sorted and merged (overlapping or adjacent ones join), then every merged range is cut
 * back into the largest aligned blocks it holds. That is the same result as removing contained
 * prefixes and merging sibling pairs until nothing changes, because a set of addresses has exactly
 * one minimal decomposition into aligned blocks; it never widens (the output covers the input's
 * addresses and no others). IPv4 ranges are plain numbers (below 2^53, so exact); IPv6 ranges are
 * bigints. Output is canonical: IPv4 before IPv6, ascending addresses, host bits zero.
 */
import { formatPrefix, type IpPrefix } from '../common/ip';

/** Half-open [start, end) ranges, sorted, disjoint and never adjacent. */
type Ranges<N> = ReadonlyArray<readonly [N, N]>;

const V4_SPACE = 2 ** 32;
const V6_SPACE = 1n << 128n;
/** POW2[k] = 2^k for k = 0..32. */
const POW2 = Array.from({ length: 33 }, (_, k) => 2 ** k);

function v4Start(prefix: IpPrefix): number {
  const a = prefix.address;
  const word = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
  const size = POW2[32 - prefix.bits]!;
  return word - (word % size);
}

function v6Start(prefix: IpPrefix): bigint {
  let word = 0n;
  for (const byte of prefix.address) word = (word << 8n) | BigInt(byte);
  const shift = BigInt(128 - prefix.bits);
  return (word >> shift) << shift;
}

function checked(prefix: IpPrefix): IpPrefix {
  const length = prefix.family === 4 ? 4 : prefix.family === 6 ? 16 : -1;
  if (length === -1) throw new RangeError(`unknown address family ${String(prefix.family)}`);
  if (prefix.address.length !== length)
    throw new RangeError(`an IPv${prefix.family} prefix needs a ${length}-byte address`);
  if (!Number.isInteger(prefix.bits) || prefix.bits < 0 || prefix.bits > length * 8) {
    throw new RangeError(`IPv${prefix.family} prefix length ${prefix.bits} is out of range`);
  }
  return prefix;
}

/** The half-open address range of a prefix, as bigints (host bits ignored). */
export function prefixBounds(prefix: IpPrefix): [bigint, bigint] {
  checked(prefix);
  if (prefix.family === 4) {
    const start = v4Start(prefix);
    return [BigInt(start), BigInt(start + POW2[32 - prefix.bits]!)];
  }
  const start = v6Start(prefix);
  return [start, start + (1n << BigInt(128 - prefix.bits))];
}

/** Sorts and merges ranges in place; overlapping and adjacent ranges become one. */
function merge<N extends number | bigint>(ranges: [N, N][]): [N, N][] {
  if (ranges.length <= 1) return ranges;
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [N, N][] = [];
  let current = ranges[0]!;
  for (let i = 1; i < ranges.length; i++) {
    const next = ranges[i]!;
    if (next[0] <= current[1]) {
      if (next[1] > current[1]) current = [current[0], next[1]];
    } else {
      merged.push(current);
      current = next;
    }
  }
  merged.push(current);
  return merged;
}

/** `from` minus `remove`, both merged; the result is merged too. */
function difference<N extends number | bigint>(from: Ranges<N>, remove: Ranges<N>): [N, N][] {
  const result: [N, N][] = [];
  let j = 0;
  for (const [start, end] of from) {
    let cursor = start;
    while (j < remove.length && remove[j]![1] <= cursor) j++;
    for (let k = j; k < remove.length && remove[k]![0] < end; k++) {
      const [removeStart, removeEnd] = remove[k]!;
      if (removeStart > cursor) result.push([cursor, removeStart]);
      if (removeEnd > cursor) cursor = removeEnd;
      if (cursor >= end) break;
    }
    if (cursor < end) result.push([cursor, end]);
  }
  return result;
}

/** Calls `emit(start, bits)` for each of the largest aligned IPv4 blocks in [start, end), ascending. */
function v4Blocks(ranges: Ranges<number>, emit: (start: number, bits: number) => void): void {
  for (const [rangeStart, end] of ranges) {
    let start = rangeStart;
    while (start < end) {
      // The block is as large as both the alignment of start and the length left allow.
      const aligned = start === 0 ? 32 : 31 - Math.clz32(start & -start);
      const left = end - start;
      const fits = left === V4_SPACE ? 32 : 31 - Math.clz32(left);
      const k = aligned < fits ? aligned : fits;
      emit(start, 32 - k);
      start += POW2[k]!;
    }
  }
}

/** Index of the highest set bit plus one (0 for 0n). */
function bitLength(value: bigint): number {
  let bits = 0;
  let rest = value;
  while (rest >= 0x100000000n) {
    rest >>= 32n;
    bits += 32;
  }
  return bits + 32 - Math.clz32(Number(rest));
}

function v6Blocks(ranges: Ranges<bigint>, emit: (start: bigint, bits: number) => void): void {
  for (const [rangeStart, end] of ranges) {
    let start = rangeStart;
    while (start < end) {
      const aligned = start === 0n ? 128 : bitLength(start & -start) - 1;
      const fits = bitLength(end - start) - 1;
      const k = aligned < fits ? aligned : fits;
      emit(start, 128 - k);
      start += 1n << BigInt(k);
    }
  }
}

function v4Prefix(start: number, bits: number): IpPrefix {
  return {
    family: 4,
    address: Uint8Array.of(start >>> 24, (start >>> 16) & 255, (start >>> 8) & 255, start & 255),
    bits,
  };
}

function v6Prefix(start: bigint, bits: number): IpPrefix {
  const address = new Uint8Array(16);
  let word = start;
  for (let i = 15; i >= 0; i--) {
    address[i] = Number(word & 255n);
    word >>= 8n;
  }
  return { family: 6, address, bits };
}

/**
 * An immutable set of addresses of both families, held as merged ranges. The planner keeps one per
 * site and combines them; `aggregate` and `subtract` are the list-in, list-out face of it.
 */
export class AddressSet {
  static readonly EMPTY = new AddressSet([], []);
  /** Every address: 0.0.0.0/0 and ::/0. */
  static readonly ALL = new AddressSet([[0, V4_SPACE]], [[0n, V6_SPACE]]);

  private constructor(
    private readonly v4: Ranges<number>,
    private readonly v6: Ranges<bigint>,
  ) {}

  static of(prefixes: Iterable<IpPrefix>): AddressSet {
    const v4: [number, number][] = [];
    const v6: [bigint, bigint][] = [];
    for (const prefix of prefixes) {
      checked(prefix);
      if (prefix.family === 4) {
        const start = v4Start(prefix);
        v4.push([start, start + POW2[32 - prefix.bits]!]);
      } else {
        const start = v6Start(prefix);
        v6.push([start, start + (1n << BigInt(128 - prefix.bits))]);
      }
    }
    return new AddressSet(merge(v4), merge(v6));
  }

  static union(sets: Iterable<AddressSet>): AddressSet {
    const v4: [number, number][] = [];
    const v6: [bigint, bigint][] = [];
    for (const set of sets) {
      for (const range of set.v4) v4.push([range[0], range[1]]);
      for (const range of set.v6) v6.push([range[0], range[1]]);
    }
    return new AddressSet(merge(v4), merge(v6));
  }

  get isEmpty(): boolean {
    return this.v4.length === 0 && this.v6.length === 0;
  }

  minus(other: AddressSet): AddressSet {
    if (other.isEmpty || this.isEmpty) return this;
    return new AddressSet(difference(this.v4, other.v4), difference(this.v6, other.v6));
  }

  /** Whether the two sets share an address. */
  intersects(other: AddressSet): boolean {
    return !this.minus(other).equals(this);
  }

  equals(other: AddressSet): boolean {
    return sameRanges(this.v4, other.v4) && sameRanges(this.v6, other.v6);
  }

  /** The minimal canonical prefix list. */
  prefixes(): IpPrefix[] {
    const out: IpPrefix[] = [];
    v4Blocks(this.v4, (start, bits) => out.push(v4Prefix(start, bits)));
    v6Blocks(this.v6, (start, bits) => out.push(v6Prefix(start, bits)));
    return out;
  }

  /**
   * `prefixes()` as canonical text (formatPrefix's); IPv4 is formatted straight from the numbers.
   * `intern`, when given, shares one string per distinct prefix across calls (a plan of 10,000
   * spokes repeats the same few prefixes on every spoke).
   */
  strings(intern?: Map<number | bigint, string>): string[] {
    const out: string[] = [];
    v4Blocks(this.v4, (start, bits) => {
      const key = start * 64 + bits;
      let text = intern?.get(key);
      if (text === undefined) {
        text = `${start >>> 24}.${(start >>> 16) & 255}.${(start >>> 8) & 255}.${start & 255}/${bits}`;
        intern?.set(key, text);
      }
      out.push(text);
    });
    v6Blocks(this.v6, (start, bits) => {
      const key = (start << 8n) | BigInt(bits);
      let text = intern?.get(key);
      if (text === undefined) {
        text = formatPrefix(v6Prefix(start, bits));
        intern?.set(key, text);
      }
      out.push(text);
    });
    return out;
  }
}

function sameRanges<N extends number | bigint>(a: Ranges<N>, b: Ranges<N>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]![0] !== b[i]![0] || a[i]![1] !== b[i]![1]) return false;
  return true;
}

/**
 * The fewest prefixes covering exactly the addresses of `prefixes`: contained prefixes removed,
 * sibling pairs merged until none are left, per family. Never widens. Canonical sorted output.
 */
export function aggregate(prefixes: readonly IpPrefix[]): IpPrefix[] {
  return AddressSet.of(prefixes).prefixes();
}

/** The addresses of `from` that are not in `remove`, as the fewest prefixes (splitting as needed). */
export function subtract(from: readonly IpPrefix[], remove: readonly IpPrefix[]): IpPrefix[] {
  return AddressSet.of(from).minus(AddressSet.of(remove)).prefixes();
}
