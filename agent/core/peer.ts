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

export type HandshakeState =
  | { kind: 'none' }
  | { kind: 'initiation-sent'; localIndex: number; handshake: InitiatorHandshake; sentAt: number }
  | { kind: 'response-sent'; localIndex: number };

export type TimerName = 'retransmitHandshake' | 'sendKeepalive' | 'newHandshake' | 'zeroKeyMaterial' | 'persistentKeepalive';

export const TIMER_NAMES: readonly TimerName[] = [
  'retransmitHandshake', 'sendKeepalive', 'newHandshake', 'zeroKeyMaterial', 'persistentKeepalive',
];

function jitter(): number {
  return randomUint32() % REKEY_TIMEOUT_JITTER_MAX;
}

export class Peer {
  presharedKey: Buffer | null = null;
  endpoint: Endpoint | null = null;
  /** Seconds; 0 is off. */
  persistentKeepaliveInterval = 0;
  /** DH(our static, their static); null when we have no private key or it is low-order. */
  staticStatic: Buffer | null = null;
  readonly cookies: CookieGenerator;

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
    retransmitHandshake: null, sendKeepalive: null, newHandshake: null, zeroKeyMaterial: null, persistentKeepalive: null,
  };
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  sentLastMinuteHandshake = false;

  /** Wall-clock (Unix ms) of the last completed handshake; 0 = never. */
  lastHandshakeUnixMs = 0;
  rxBytes = 0;
  txBytes = 0;

  constructor(readonly publicKey: Buffer) {
    this.cookies = new CookieGenerator(publicKey);
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
