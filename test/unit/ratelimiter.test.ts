import { isIPv4 } from 'node:net';
import fc from 'fast-check';
import {
  PACKETS_BURSTABLE,
  PACKETS_PER_SECOND,
  RATE_LIMITER_IDLE_TIMEOUT,
  RATE_LIMITER_MAX_ENTRIES,
  RateLimiter,
} from '../../agent/core/ratelimiter';

const PACKET_INTERVAL = 1000 / PACKETS_PER_SECOND;

function ipv4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

/** Expands an IPv6 literal (with at most one "::") to 16 bytes. */
function ipv6(text: string): Uint8Array {
  const [head = '', tail] = text.split('::');
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const headGroups = groups(head);
  const tailGroups = tail === undefined ? [] : groups(tail);
  const all = [...headGroups, ...Array<number>(8 - headGroups.length - tailGroups.length).fill(0), ...tailGroups];
  return Uint8Array.from(all.flatMap((group) => [group >> 8, group & 0xff]));
}

function address(text: string): Uint8Array {
  return isIPv4(text) ? ipv4(text) : ipv6(text);
}

/**
 * Kernel selftest/ratelimiter.c expected_results, also wireguard-go ratelimiter_test.go: the wait
 * before each packet and whether it passes. The kernel passes exactly on refill (tokens >= cost).
 */
const SCHEDULE: ReadonlyArray<{ waitMs: number; allowed: boolean; what: string }> = [
  ...Array.from({ length: PACKETS_BURSTABLE }, () => ({ waitMs: 0, allowed: true, what: 'initial burst' })),
  { waitMs: 0, allowed: false, what: 'after burst' },
  { waitMs: PACKET_INTERVAL, allowed: true, what: 'filling tokens for single packet' },
  { waitMs: 0, allowed: false, what: 'not having refilled enough' },
  { waitMs: 2 * PACKET_INTERVAL, allowed: true, what: 'filling tokens for two packet burst' },
  { waitMs: 0, allowed: true, what: 'second packet in 2 packet burst' },
  { waitMs: 0, allowed: false, what: 'packet following 2 packet burst' },
];

describe('RateLimiter: burst and refill (kernel and wireguard-go selftests, fake clock)', () => {
  it('follows the schedule for each of the wireguard-go test addresses', () => {
    const addresses = [
      '127.0.0.1',
      '192.168.1.1',
      '172.167.2.3',
      '97.231.252.215',
      '248.97.91.167',
      '188.208.233.47',
      '104.2.183.179',
      '72.129.46.120',
      '2001:0db8:0a0b:12f0:0000:0000:0000:0001',
      'f5c2:818f:c052:655a:9860:b136:6894:25f0',
      'b2d7:15ab:48a7:b07c:a541:f144:a9fe:54fc',
      'a47b:786e:1671:a22b:d6f9:4ab0:abc7:c918',
      'ea1e:d155:7f7a:98fb:2bf5:9483:80f6:5445',
      '3f0e:54a2:f5b4:cd19:a21d:58e1:3746:84c4',
    ].map((text) => ({ text, bytes: address(text) }));
    const limiter = new RateLimiter();
    let now = 1_000_000;
    const got: string[] = [];
    const want: string[] = [];
    SCHEDULE.forEach(({ waitMs, allowed, what }, step) => {
      now += waitMs;
      for (const { text, bytes } of addresses) {
        got.push(`${step} ${what} ${text}: ${limiter.allow(bytes, now)}`);
        want.push(`${step} ${what} ${text}: ${allowed}`);
      }
    });
    expect(got).toEqual(want);
    expect(limiter.size).toBe(addresses.length);
  });

  it('keeps neighbours independent and rate-limits the whole IPv6 /64 (kernel timings_test)', () => {
    const limiter = new RateLimiter();
    const v4 = new DataView(new ArrayBuffer(4));
    const v6 = new DataView(new ArrayBuffer(16));
    v4.setUint32(0, 8182);
    v6.setUint32(0, 1212);
    v6.setUint32(4, 289188);
    let now = 0;
    const failures: string[] = [];
    SCHEDULE.forEach(({ waitMs, allowed, what }, i) => {
      now += waitMs;
      const check = (label: string, bytes: DataView, expected: boolean): void => {
        if (limiter.allow(new Uint8Array(bytes.buffer), now) !== expected) failures.push(`${i} ${what}: ${label}`);
      };
      check('IPv4 source', v4, allowed);
      v4.setUint32(0, 8182 + i + 1);
      check('neighbouring IPv4 source', v4, true);
      v4.setUint32(0, 8182);
      // A new interface identifier each time: still the same /64, so still the same bucket.
      v6.setUint32(8, i);
      v6.setUint32(12, i);
      check('IPv6 /64', v6, allowed);
      v6.setUint32(0, 1212 + i + 1);
      check('neighbouring IPv6 /64', v6, true);
      v6.setUint32(0, 1212);
    });
    expect(failures).toEqual([]);
  });

  it('lets a packet through only once a whole interval has been earned', () => {
    const limiter = new RateLimiter();
    const source = ipv4('198.51.100.7');
    for (let i = 0; i < PACKETS_BURSTABLE; i++) expect(limiter.allow(source, 0)).toBe(true);
    expect(limiter.allow(source, PACKET_INTERVAL - 1)).toBe(false);
    expect(limiter.allow(source, PACKET_INTERVAL)).toBe(true);
    expect(limiter.allow(source, PACKET_INTERVAL)).toBe(false);
  });

  it('caps the refill at the burst size however long the source was quiet', () => {
    const limiter = new RateLimiter();
    const source = ipv4('198.51.100.7');
    expect(limiter.allow(source, 0)).toBe(true);
    const later = 900; // under the idle timeout, so the entry is refilled rather than recreated
    const verdicts = Array.from({ length: PACKETS_BURSTABLE + 1 }, () => limiter.allow(source, later));
    expect(verdicts).toEqual([...Array<boolean>(PACKETS_BURSTABLE).fill(true), false]);
  });

  it('does not lock a source out when the clock steps backwards', () => {
    const limiter = new RateLimiter();
    const source = ipv4('198.51.100.7');
    for (let i = 0; i <= PACKETS_BURSTABLE; i++) limiter.allow(source, 1_000_000);
    expect(limiter.allow(source, 0)).toBe(false);
    expect(limiter.allow(source, PACKET_INTERVAL)).toBe(true);
  });
});

describe('RateLimiter: keys', () => {
  it('treats IPv4-mapped IPv6 as the IPv4 address, not as one shared /64', () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < PACKETS_BURSTABLE; i++) expect(limiter.allow(ipv4('192.0.2.1'), 0)).toBe(true);
    expect(limiter.allow(ipv6('::ffff:c000:201'), 0)).toBe(false);
    expect(limiter.allow(ipv6('::ffff:c000:202'), 0)).toBe(true);
    expect(limiter.size).toBe(2);
  });

  it('separates /64s that differ only in their last prefix bit', () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < PACKETS_BURSTABLE; i++) limiter.allow(ipv6('2001:db8:0:4::1'), 0);
    expect(limiter.allow(ipv6('2001:db8:0:4:ffff:ffff:ffff:ffff'), 0)).toBe(false);
    expect(limiter.allow(ipv6('2001:db8:0:5::1'), 0)).toBe(true);
  });

  it('accepts addresses that are views into a larger buffer', () => {
    const limiter = new RateLimiter();
    const packet = Buffer.alloc(64);
    packet.set(ipv4('203.0.113.9'), 30);
    for (let i = 0; i < PACKETS_BURSTABLE; i++) limiter.allow(packet.subarray(30, 34), 0);
    expect(limiter.allow(ipv4('203.0.113.9'), 0)).toBe(false);
  });

  it('refuses addresses that are neither 4 nor 16 bytes', () => {
    const limiter = new RateLimiter();
    expect(() => limiter.allow(new Uint8Array(6), 0)).toThrow(RangeError);
    expect(() => limiter.allow(new Uint8Array(0), 0)).toThrow(RangeError);
  });
});

describe('RateLimiter: garbage collection and bounds', () => {
  it('sweeps entries idle for more than a second, at most once a second', () => {
    const limiter = new RateLimiter();
    limiter.allow(ipv4('10.0.0.1'), 0); // the first call sweeps (nothing) and starts the clock
    limiter.allow(ipv4('10.0.0.2'), 999);
    expect(limiter.size).toBe(2);
    limiter.allow(ipv4('10.0.0.3'), 1500); // sweep: 10.0.0.1 idle 1500 ms goes, 10.0.0.2 idle 501 ms stays
    expect(limiter.size).toBe(2);
    limiter.allow(ipv4('10.0.0.4'), 2000); // no sweep yet, although 10.0.0.2 is now idle 1001 ms
    expect(limiter.size).toBe(3);
    limiter.allow(ipv6('2001:db8::1'), 2500); // sweep: 10.0.0.2 goes; 10.0.0.3 is idle exactly 1000 ms and stays
    expect(limiter.size).toBe(3);
    limiter.allow(ipv4('10.0.0.4'), 3600); // sweep: everything goes, then 10.0.0.4 comes back as a new entry
    expect(limiter.size).toBe(1);
  });

  it('refuses new sources once full, as the kernel capacity test expects, until a sweep frees room', () => {
    const limiter = new RateLimiter();
    const source = new DataView(new ArrayBuffer(4));
    const verdicts: boolean[] = [];
    for (let i = 0; i <= RATE_LIMITER_MAX_ENTRIES; i++) {
      source.setUint32(0, i);
      verdicts.push(limiter.allow(new Uint8Array(source.buffer), 0));
    }
    expect(verdicts.filter((allowed) => !allowed).length).toBe(1);
    expect(verdicts[RATE_LIMITER_MAX_ENTRIES]).toBe(false);
    expect(limiter.size).toBe(RATE_LIMITER_MAX_ENTRIES);
    expect(limiter.allow(ipv6('2001:db8::1'), 0)).toBe(false);
    expect(limiter.allow(ipv4('0.0.0.1'), 0)).toBe(true); // known sources keep their buckets
    expect(limiter.allow(ipv6('2001:db8::1'), RATE_LIMITER_IDLE_TIMEOUT + 1)).toBe(true);
    expect(limiter.size).toBe(1);
  });

  it('honours a smaller bound given to the constructor', () => {
    const limiter = new RateLimiter(2);
    expect(limiter.allow(ipv4('10.0.0.1'), 0)).toBe(true);
    expect(limiter.allow(ipv6('2001:db8::1'), 0)).toBe(true);
    expect(limiter.allow(ipv4('10.0.0.3'), 0)).toBe(false);
  });

  it('behaves exactly like token buckets that are never swept (sweeping is unobservable)', () => {
    // Each address with the bucket it must share: mapped IPv4 joins its IPv4, a /64 ignores its low half.
    const pool: ReadonlyArray<readonly [string, string]> = [
      ['192.0.2.1', 'A'],
      ['::ffff:c000:201', 'A'],
      ['192.0.2.2', 'B'],
      ['::ffff:c000:202', 'B'],
      ['2001:db8:0:1::1', 'C'],
      ['2001:db8:0:1:ffff::2', 'C'],
      ['2001:db8:0:2::1', 'D'],
      ['0.0.0.0', 'E'],
    ];
    const addresses = pool.map(([text]) => address(text));
    const packet = fc.record({
      source: fc.integer({ min: 0, max: pool.length - 1 }),
      waitMs: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 900, max: 2500 }),
        fc.double({ min: 0, max: 60, noNaN: true }),
      ),
    });
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 300 }), (packets) => {
        const limiter = new RateLimiter();
        const reference = new Map<string, { tokens: number; lastSeen: number }>();
        let now = 0;
        for (const { source, waitMs } of packets) {
          now += waitMs;
          const group = pool[source]![1];
          let expected: boolean;
          const bucket = reference.get(group);
          if (bucket === undefined) {
            reference.set(group, { tokens: (PACKETS_BURSTABLE - 1) * PACKET_INTERVAL, lastSeen: now });
            expected = true;
          } else {
            const tokens = Math.min(PACKETS_BURSTABLE * PACKET_INTERVAL, bucket.tokens + now - bucket.lastSeen);
            expected = tokens >= PACKET_INTERVAL;
            bucket.tokens = expected ? tokens - PACKET_INTERVAL : tokens;
            bucket.lastSeen = now;
          }
          if (limiter.allow(addresses[source]!, now) !== expected) return false;
          if (limiter.size > reference.size) return false;
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
