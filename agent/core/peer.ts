/**
 * Per-peer state: configuration, handshake, the three keypair slots, staged packets and the timer
 * state of ./timers.
 */
import { MAX_STAGED_PACKETS } from './constants';
import { CookieGenerator } from './cookie';
import type { KeySlot, Keypair } from './keypair';
import { wipeInitiatorHandshake, type InitiatorHandshake } from './noise';
import { noDeadlines, type TimerState } from './timers';
import { sameEndpoint, type Endpoint } from './endpoint';

export { sameEndpoint, type Endpoint };

export type HandshakeState =
  | { kind: 'none' }
  | { kind: 'initiation-sent'; localIndex: number; handshake: InitiatorHandshake; sentAt: number; slot: KeySlot };

export class Peer implements TimerState {
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

  readonly deadlines = noDeadlines();
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

  /** Drops the in-progress handshake's secrets. The caller releases its index. */
  clearHandshake(): void {
    if (this.handshake.kind === 'initiation-sent') wipeInitiatorHandshake(this.handshake.handshake);
    this.handshake = { kind: 'none' };
  }
}
