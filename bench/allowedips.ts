/** Allowed-IPs trie: lookups against 100k-prefix tables of each family, and the insert rate. */
import { AllowedIps } from '../agent/core/allowedips';
import { formatAddress, formatPrefix, parsePrefix, type IpFamily, type IpPrefix } from '../common/ip';
import { measure, type BenchResult } from './harness';

const TABLE_SIZE = 100_000;
const PEER_COUNT = 1_000;
/** Lookup addresses live in one buffer, as they would in a stream of packets. */
const PROBE_COUNT = 4_096;

/** xorshift32: the same tables on every run, so figures compare across runs. */
function randomWords(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

/** Distinct prefixes, so the table really holds TABLE_SIZE (short lengths fill up: 256 /8s at most). */
function randomPrefixes(family: IpFamily, minBits: number, maxBits: number, seed: number): IpPrefix[] {
  const next = randomWords(seed);
  const distinct = new Map<string, IpPrefix>();
  while (distinct.size < TABLE_SIZE) {
    const address = new Uint8Array(family === 4 ? 4 : 16);
    for (let i = 0; i < address.length; i++) address[i] = next() & 0xff;
    const prefix = parsePrefix(`${formatAddress(address)}/${minBits + (next() % (maxBits - minBits + 1))}`);
    distinct.set(formatPrefix(prefix), prefix);
  }
  return [...distinct.values()];
}

/** Addresses inside random stored prefixes (host bits random), so each lookup walks to a match. */
function probesInto(prefixes: IpPrefix[], seed: number): Uint8Array {
  const next = randomWords(seed);
  const length = prefixes[0]!.address.length;
  const probes = new Uint8Array(PROBE_COUNT * length);
  for (let p = 0; p < PROBE_COUNT; p++) {
    const prefix = prefixes[next() % prefixes.length]!;
    for (let i = 0; i < length; i++) {
      const keep = Math.min(Math.max(prefix.bits - i * 8, 0), 8);
      const hostMask = 0xff >> keep;
      probes[p * length + i] = (prefix.address[i]! & ~hostMask) | (next() & hostMask);
    }
  }
  return probes;
}

function tableOf(prefixes: IpPrefix[], peers: readonly number[]): AllowedIps<number> {
  const table = new AllowedIps<number>();
  prefixes.forEach((prefix, i) => table.insert(prefix, peers[i % peers.length]!));
  return table;
}

function lookupBench(name: string, family: IpFamily, prefixes: IpPrefix[], peers: readonly number[]): BenchResult {
  const table = tableOf(prefixes, peers);
  const probes = probesInto(prefixes, 0x5eed);
  const width = family === 4 ? 4 : 16;
  const end = probes.length;
  let offset = 0;
  let misses = 0;
  const result = measure(
    name,
    () => {
      const peer = family === 4 ? table.lookupIPv4(probes, offset) : table.lookupIPv6(probes, offset);
      if (peer === undefined) misses++;
      offset += width;
      if (offset === end) offset = 0;
    },
    { batch: 1_000 },
  );
  // Every probe sits inside a stored prefix, so a miss means the table is broken, not slow.
  if (misses !== 0) throw new Error(`${name}: ${misses} lookups missed`);
  return { ...result, note: `${table.size.toLocaleString('en-US')} prefixes, ${PEER_COUNT} peers` };
}

/** One op inserts the next prefix; the table is emptied and refilled each time it reaches 100k. */
function insertBench(name: string, prefixes: IpPrefix[], peers: readonly number[]): BenchResult {
  const table = new AllowedIps<number>();
  let index = 0;
  const result = measure(
    name,
    () => {
      table.insert(prefixes[index]!, peers[index % peers.length]!);
      if (++index === prefixes.length) {
        table.clear();
        index = 0;
      }
    },
    { batch: 1_000 },
  );
  return { ...result, note: `into a table growing to ${prefixes.length.toLocaleString('en-US')}` };
}

export function runAllowedIpsBench(): BenchResult[] {
  const peers = Array.from({ length: PEER_COUNT }, (_, i) => i);
  const ipv4 = randomPrefixes(4, 8, 32, 0x1234_5678);
  const ipv6 = randomPrefixes(6, 16, 128, 0x9abc_def0);
  return [
    lookupBench('allowedips lookup IPv4 (8..32)', 4, ipv4, peers),
    lookupBench('allowedips lookup IPv6 (16..128)', 6, ipv6, peers),
    insertBench('allowedips insert IPv4', ipv4, peers),
    insertBench('allowedips insert IPv6', ipv6, peers),
  ];
}
