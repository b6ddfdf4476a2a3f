/**
 * Per-peer state: configuration, handshake, the three keypair slots, staged packets and the five
 * timers of kernel src/timers.c, kept as deadlines (monotonic ms, null when not pending) so the
 * sans-IO device can run them from any clock.
 */
import { randomUint32, wipe } from '../crypto/primitives';
import {
  KEEPALIVE_TIMEOUT, MAX_STAGED_PACKETS, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX, ZERO_KEY_MATERIAL_AFTER,
} from './constants';
import { CookieGenerator } from './cookie';
import type { Keypair } from './keypair';
import type { InitiatorHandshake } from './noise';

/**
 * A UDP endpoint as the I/O shell sees it; opaque to the core except for cookies. `localAddress` is
 * the address the peer reached us on (the sticky source for replies on multi-homed hosts).
 */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly localAddress?: string;
}

export function sameEndpoint(a: Endpoint | null, b: Endpoint): boolean {
  return a !== null && a.address === b.address && a.port === b.port && a.localAddress === b.localAddress;
}

/** Which of our static keys: the current one, or the next one during a key rotation. */
export type KeySlot = 'current' | 'next';

export type HandshakeState =
  | { kind: 'none' }
  | { kind: 'initiation-sent'; localIndex: number; handshake: InitiatorHandshake; sentAt: number; slot: KeySlot };

/** The kernel's five timers, plus `rotateKey`: our retry of the next key during a key rotation. */
export type TimerName = 'retransmitHandshake' | 'sendKeepalive' | 'newHandshake' | 'zeroKeyMaterial' | 'persistentKeepalive' | 'rotateKey';

export const TIMER_NAMES: readonly TimerName[] = [
  'retransmitHandshake', 'sendKeepalive', 'newHandshake', 'zeroKeyMaterial', 'persistentKeepalive', 'rotateKey',
];

function jitter(): number {
  return randomUint32() % REKEY_TIMEOUT_JITTER_MAX;
}

export class Peer {
  presharedKey: Buffer | null = null;
  endpoint: Endpoint | null = null;
  /** Seconds; 0 is off. */
  persistentKeepaliveInterval = 0;
  /**
   * The peer's next public key while it rotates its key: handshakes from either key are this
   * peer's. We initiate toward `remoteKeyInUse`, the key it last authenticated with.
   */
  alternatePublicKey: Buffer | null = null;
  remoteKeyInUse: Buffer;
  /** Our key the current session was made with. */
  localKeyInUse: KeySlot = 'current';
  /** Initiations sent with our next key that got no answer; after a few we fall back. */
  unansweredNextKeyInitiations = 0;
  /** DH(our static in a slot, one of their keys), computed once per pair; null when low-order. */
  readonly staticStatics = new Map<string, Buffer | null>();
  private readonly cookieGenerators = new Map<string, CookieGenerator>();
  /** The generator whose mac1 went out last: a cookie reply answers that message. */
  lastCookies: CookieGenerator | null = null;

  handshake: HandshakeState = { kind: 'none' };
  /** Newest TAI64N accepted from this peer; kept for the peer's lifetime (replay protection). */
  latestTimestamp: Buffer | null = null;
  lastInitiationConsumedAt = -Infinity;
  lastSentHandshakeAt = -Infinity;

  previous: Keypair | null = null;
  current: Keypair | null = null;
  next: Keypair | null = null;

  readonly staged: Buffer[] = [];

  readonly deadlines: Record<TimerName, number | null> = {
    retransmitHandshake: null, sendKeepalive: null, newHandshake: null, zeroKeyMaterial: null, persistentKeepalive: null, rotateKey: null,
  };
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  sentLastMinuteHandshake = false;

  /** Wall-clock (Unix ms) of the last completed handshake; 0 = never. */
  lastHandshakeUnixMs = 0;
  rxBytes = 0;
  txBytes = 0;

  constructor(public publicKey: Buffer) {
    this.remoteKeyInUse = publicKey;
  }

  /** The mac1/cookie state toward one of the peer's public keys. */
  cookiesFor(remoteKey: Buffer): CookieGenerator {
    const id = remoteKey.toString('hex');
    let generator = this.cookieGenerators.get(id);
    if (!generator) {
      generator = new CookieGenerator(remoteKey);
      this.cookieGenerators.set(id, generator);
    }
    this.lastCookies = generator;
    return generator;
  }

  forgetCookies(): void {
    for (const generator of this.cookieGenerators.values()) generator.clear();
    this.cookieGenerators.clear();
    this.lastCookies = null;
  }

  /** Adds a packet to the staging queue; returns false when the oldest had to be dropped. */
  stage(packet: Buffer): boolean {
    this.staged.push(packet);
    if (this.staged.length <= MAX_STAGED_PACKETS) return true;
    this.staged.shift();
    return false;
  }

  keypairs(): Keypair[] {
    return [this.previous, this.current, this.next].filter((k): k is Keypair => k !== null);
  }

  /** Earliest pending deadline, or Infinity. */
  nextDeadline(): number {
    let earliest = Infinity;
    for (const name of TIMER_NAMES) {
      const at = this.deadlines[name];
      if (at !== null && at < earliest) earliest = at;
    }
    return earliest;
  }

  // Timer hooks, named and ordered as in kernel src/timers.c.

  onHandshakeInitiated(now: number): void {
    this.deadlines.retransmitHandshake = now + REKEY_TIMEOUT + jitter();
  }

  onHandshakeComplete(unixMs: number): void {
    this.deadlines.retransmitHandshake = null;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
    this.lastHandshakeUnixMs = unixMs;
  }

  onSessionDerived(now: number): void {
    this.deadlines.zeroKeyMaterial = now + ZERO_KEY_MATERIAL_AFTER;
  }

  onDataSent(now: number): void {
    if (this.deadlines.newHandshake === null) {
      this.deadlines.newHandshake = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter();
    }
  }

  onDataReceived(now: number): void {
    if (this.deadlines.sendKeepalive === null) this.deadlines.sendKeepalive = now + KEEPALIVE_TIMEOUT;
    else this.needAnotherKeepalive = true;
  }

  onAuthenticatedPacketSent(): void {
    this.deadlines.sendKeepalive = null;
  }

  onAuthenticatedPacketReceived(): void {
    this.deadlines.newHandshake = null;
  }

  onAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepaliveInterval > 0) {
      this.deadlines.persistentKeepalive = now + this.persistentKeepaliveInterval * 1000;
    }
  }

  /** Drops the in-progress handshake's secrets. The caller releases its index. */
  clearHandshake(): void {
    if (this.handshake.kind === 'initiation-sent') {
      wipe(this.handshake.handshake.ephemeralPrivate);
      wipe(this.handshake.handshake.chainingKey);
    }
    this.handshake = { kind: 'none' };
  }
}
