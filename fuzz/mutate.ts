/**
 * libFuzzer-style byte mutations: bit and byte changes, inserts, erases, copies, interesting
 * integers, dictionary tokens and crossover with another corpus entry, stacked 1 to 16 deep.
 */

/** xorshift128+: seeded, so a run can be repeated with its --seed. */
export class Random {
  private s0: bigint;
  private s1: bigint;

  constructor(seed: number) {
    this.s0 = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + 1n);
    this.s1 = BigInt.asUintN(64, this.s0 * 0xbf58476d1ce4e5b9n + 7n);
    for (let i = 0; i < 8; i++) this.next();
  }

  private next(): bigint {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x = BigInt.asUintN(64, x ^ (x << 23n));
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return BigInt.asUintN(64, this.s1 + y);
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : Number(this.next() % BigInt(n));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

const INTERESTING_BYTES = [
  0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x2d, 0x2f, 0x3a, 0x3d, 0x5b, 0x5d, 0x7b, 0x7d, 0x23, 0x25,
  0x26, 0x2a,
];
const INTERESTING_INTEGERS = [
  0, 1, 2, 3, 4, 16, 32, 64, 92, 127, 128, 148, 255, 256, 1280, 1420, 32767, 32768, 65535, 65536, 0x7fffffff,
  0x80000000, 0xffffffff,
];
const INTERESTING_NUMBERS = [
  '0',
  '-0',
  '-1',
  '1',
  '00',
  '32',
  '33',
  '128',
  '129',
  '255',
  '256',
  '65535',
  '65536',
  '4294967295',
  '4294967296',
  '1e3',
  '0x10',
  '99999999999999999999',
  'NaN',
  '.5',
];

export interface MutationContext {
  random: Random;
  dictionary: readonly Buffer[];
  /** Another corpus entry, for crossover. */
  other(): Buffer;
  maxLength: number;
}

type Mutator = (input: Buffer, context: MutationContext) => Buffer;

function insert(input: Buffer, at: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([input.subarray(0, at), bytes, input.subarray(at)]);
}

function overwrite(input: Buffer, at: number, bytes: Uint8Array): Buffer {
  const copy = Buffer.from(input);
  copy.set(bytes.subarray(0, Math.max(0, copy.length - at)), at);
  return copy;
}

const MUTATORS: Mutator[] = [
  // flip one bit
  (input, { random }) => {
    if (input.length === 0) return input;
    const copy = Buffer.from(input);
    copy[random.below(copy.length)]! ^= 1 << random.below(8);
    return copy;
  },
  // one random byte
  (input, { random }) =>
    input.length === 0 ? input : overwrite(input, random.below(input.length), Buffer.from([random.below(256)])),
  // one interesting byte, overwritten or inserted
  (input, { random }) => {
    const byte = Buffer.from([random.pick(INTERESTING_BYTES)]);
    return random.below(2) === 0 && input.length > 0
      ? overwrite(input, random.below(input.length), byte)
      : insert(input, random.below(input.length + 1), byte);
  },
  // insert random bytes
  (input, { random }) => {
    const bytes = Buffer.alloc(1 + random.below(8));
    for (let i = 0; i < bytes.length; i++) bytes[i] = random.below(256);
    return insert(input, random.below(input.length + 1), bytes);
  },
  // erase a range
  (input, { random }) => {
    if (input.length === 0) return input;
    const at = random.below(input.length);
    const length = 1 + random.below(Math.min(input.length - at, 1 << random.below(8)));
    return Buffer.concat([input.subarray(0, at), input.subarray(at + length)]);
  },
  // copy a range of the input elsewhere, inserted or overwritten
  (input, { random }) => {
    if (input.length === 0) return input;
    const from = random.below(input.length);
    const chunk = input.subarray(from, from + 1 + random.below(Math.min(input.length - from, 64)));
    const to = random.below(input.length + 1);
    return random.below(2) === 0 ? insert(input, to, chunk) : overwrite(input, Math.min(to, input.length - 1), chunk);
  },
  // an interesting integer, little- or big-endian, 1 to 4 bytes
  (input, { random }) => {
    const width = random.pick([1, 2, 4]);
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(random.pick(INTERESTING_INTEGERS) >>> 0);
    const value = random.below(2) === 0 ? bytes.subarray(0, width) : Buffer.from(bytes.subarray(0, width)).reverse();
    return input.length >= width
      ? overwrite(input, random.below(input.length - width + 1), value)
      : insert(input, 0, value);
  },
  // replace a run of digits (or insert) with an interesting number
  (input, { random }) => {
    const text = input.toString('latin1');
    const runs = [...text.matchAll(/\d+/g)];
    const number = Buffer.from(random.pick(INTERESTING_NUMBERS), 'latin1');
    if (runs.length === 0) return insert(input, random.below(input.length + 1), number);
    const run = random.pick(runs);
    return Buffer.concat([input.subarray(0, run.index), number, input.subarray(run.index + run[0].length)]);
  },
  // a dictionary token, inserted or overwritten
  (input, { random, dictionary }) => {
    if (dictionary.length === 0) return input;
    const token = random.pick(dictionary);
    return random.below(2) === 0 || input.length === 0
      ? insert(input, random.below(input.length + 1), token)
      : overwrite(input, random.below(input.length), token);
  },
  // crossover: a prefix of this input and a suffix of another
  (input, { random, other }) => {
    const mate = other();
    return Buffer.concat([
      input.subarray(0, random.below(input.length + 1)),
      mate.subarray(random.below(mate.length + 1)),
    ]);
  },
  // duplicate a whole line (text formats repeat keys and sections)
  (input, { random }) => {
    const lines = input.toString('latin1').split('\n');
    const line = random.pick(lines);
    lines.splice(random.below(lines.length + 1), 0, line);
    return Buffer.from(lines.join('\n'), 'latin1');
  },
];

/** 1 to 16 stacked mutations of `input`, capped at the target's maximum length. */
export function mutate(input: Buffer, context: MutationContext): Buffer {
  let out = input;
  const depth = 1 << context.random.below(5);
  for (let i = 0; i < depth; i++) out = context.random.pick(MUTATORS)(out, context);
  return out.length > context.maxLength ? out.subarray(0, context.maxLength) : out;
}
