/**
 * Per-source token bucket for handshake messages under load, as kernel src/ratelimiter.c and
 * wireguard-go ratelimiter/ratelimiter.go do it (docs/protocol.md 1.11):
 * 20 packets/s with a burst of 5, keyed by the IPv4 address or the IPv6 /64. Times are monotonic
 * milliseconds passed in by the caller; idle entries are swept lazily since the core has no timers.
 */

export const PACKETS_PER_SECOND = 20;
export const PACKETS_BURSTABLE = 5;
/** Tokens are milliseconds of credit: each packet costs 1/20 s, and the bucket holds five. */
const PACKET_COST = 1000 / PACKETS_PER_SECOND;
const TOKEN_MAX = PACKET_COST * PACKETS_BURSTABLE;
/** Entries idle longer than this are dropped; by then their bucket would be full anyway. */
export const RATE_LIMITER_IDLE_TIMEOUT = 1000;
/** The kernel's max_entries on hosts with more than 1 GiB (8192 buckets x 8). */
export const RATE_LIMITER_MAX_ENTRIES = 1 << 16;

interface Bucket {
  tokens: number;
  lastSeen: number;
}

export class RateLimiter {
  private readonly ipv4 = new Map<number, Bucket>();
  private readonly ipv6 = new Map<string, Bucket>();
  private lastSweep = -Infinity;

  /** `maxEntries` bounds memory: once full, new sources are refused until idle ones are swept. */
  constructor(private readonly maxEntries: number = RATE_LIMITER_MAX_ENTRIES) {}

  get size(): number {
    return this.ipv4.size + this.ipv6.size;
  }

  /**
   * Spends one packet's worth of tokens for `sourceAddress` (4 or 16 bytes; IPv4-mapped IPv6 counts
   * as IPv4). `now` is a monotonic clock in milliseconds.
   */
  allow(sourceAddress: Uint8Array, now: number): boolean {
    if (now - this.lastSweep >= RATE_LIMITER_IDLE_TIMEOUT) this.sweep(now);
    const length = sourceAddress.length;
    if (length === 4) return this.spend(this.ipv4, ipv4Key(sourceAddress, 0), now);
    if (length !== 16) throw new RangeError(`source address must be 4 or 16 bytes, got ${length}`);
    if (isIpv4Mapped(sourceAddress)) return this.spend(this.ipv4, ipv4Key(sourceAddress, 12), now);
    return this.spend(this.ipv6, ipv6PrefixKey(sourceAddress), now);
  }

  private spend<K>(table: Map<K, Bucket>, key: K, now: number): boolean {
    const bucket = table.get(key);
    if (bucket === undefined) {
      if (this.size >= this.maxEntries) return false;
      table.set(key, { tokens: TOKEN_MAX - PACKET_COST, lastSeen: now });
      return true;
    }
    // Clamped so that a clock step backwards cannot drive a source into debt.
    const tokens = Math.min(TOKEN_MAX, bucket.tokens + Math.max(0, now - bucket.lastSeen));
    bucket.lastSeen = now;
    const allowed = tokens >= PACKET_COST;
    bucket.tokens = allowed ? tokens - PACKET_COST : tokens;
    return allowed;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    dropIdle(this.ipv4, now);
    dropIdle(this.ipv6, now);
  }
}

function dropIdle<K>(table: Map<K, Bucket>, now: number): void {
  for (const [key, bucket] of table) {
    if (now - bucket.lastSeen > RATE_LIMITER_IDLE_TIMEOUT) table.delete(key);
  }
}

function ipv4Key(address: Uint8Array, offset: number): number {
  return (
    ((address[offset]! << 24) | (address[offset + 1]! << 16) | (address[offset + 2]! << 8) | address[offset + 3]!) >>> 0
  );
}

/** The /64 as four UTF-16 code units: 64 bits do not fit in a number key. */
function ipv6PrefixKey(a: Uint8Array): string {
  return String.fromCharCode((a[0]! << 8) | a[1]!, (a[2]! << 8) | a[3]!, (a[4]! << 8) | a[5]!, (a[6]! << 8) | a[7]!);
}

/** ::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers; as a /64 it would lump all IPv4 together. */
function isIpv4Mapped(address: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (address[i] !== 0) return false;
  return address[10] === 0xff && address[11] === 0xff;
}
