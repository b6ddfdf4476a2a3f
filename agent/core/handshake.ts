/**
 * WireGuard's handshake framing around the Noise core (kernel src/noise.c and receive.c,
 * wireguard-go device/noise-protocol.go and the handshake half of receive.go): our static keys (two
 * during a key rotation), the static-static DH cached per peer, admission of handshake messages
 * (mac1; under load also mac2, cookie replies and the per-source rate limit), and the initiation and
 * response messages with their indices (docs/protocol.md 1.2-1.5, 1.11). What a handshake does to
 * keypair slots and timers is the device's.
 */
import { constantTimeEqual, wipe, x25519 } from '../crypto/primitives';
import { keyToHex } from '../crypto/keys';
import { MIN_INITIATION_INTERVAL, UNDER_LOAD_HOLD } from './constants';
import { CookieChecker } from './cookie';
import { endpointAddress } from './endpoint';
import type { IndexTable } from './index-table';
import { Keypair, type KeySlot } from './keypair';
import {
  INITIATION_LENGTH,
  Initiation,
  MessageType,
  RESPONSE_LENGTH,
  Response,
  readUint32,
  writeUint32,
  type DropReason,
} from './messages';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  wipeConsumedInitiation,
  type ConsumedInitiation,
  type NoisePrologue,
  type StaticIdentity,
} from './noise';
import type { Endpoint, Peer } from './peer';
import { RateLimiter } from './ratelimiter';
import { compareTai64n, tai64nFromUnixMs } from './tai64n';

export interface LocalIdentity extends StaticIdentity {
  cookies: CookieChecker;
}

/** What an index in the table refers to: a peer's pending handshake, or one of its keypairs. */
export interface IndexEntry {
  peer: Peer;
  keypair: Keypair | null;
}

export interface HandshakeOptions {
  prologue: NoisePrologue;
  /** Handshake messages per second above which cookies are demanded (under-load mode). */
  underLoadThreshold: number;
  indices: IndexTable<IndexEntry>;
  /** The peer with this public key (or alternate key). */
  peer(publicKey: Uint8Array): Peer | undefined;
}

/** A handshake message that passed admission: which of our keys it addressed. */
export type Admission = { slot: KeySlot; identity: LocalIdentity } | { drop: DropReason; cookieReply?: Buffer };

const EMPTY = Buffer.alloc(0);
const KEY_SLOTS: readonly KeySlot[] = ['current', 'next'];
/** Initiations with the next key a peer may leave unanswered before we fall back to the current key. */
export const NEXT_KEY_ATTEMPTS = 2;

export class Handshakes {
  /** Our static keys: `next` exists only during a key rotation. */
  readonly identities: Record<KeySlot, LocalIdentity | null> = { current: null, next: null };
  private readonly rateLimiter = new RateLimiter();
  private windowStart = -Infinity;
  private inWindow = 0;
  private underLoadUntil = -Infinity;

  constructor(private readonly options: HandshakeOptions) {}

  isOwnKey(publicKey: Uint8Array): boolean {
    return KEY_SLOTS.some((slot) => {
      const identity = this.identities[slot];
      return identity !== null && constantTimeEqual(publicKey, identity.publicKey);
    });
  }

  /** DH(our key in `slot`, `remoteKey`), cached per peer; null when impossible (no key, low order). */
  staticStatic(peer: Peer, slot: KeySlot, remoteKey: Buffer): Buffer | null {
    const identity = this.identities[slot];
    if (!identity) return null;
    const id = `${slot}:${keyToHex(remoteKey)}`;
    let shared = peer.staticStatics.get(id);
    if (shared === undefined) {
      shared = x25519(identity.privateKey, remoteKey);
      peer.staticStatics.set(id, shared);
    }
    return shared;
  }

  /** During a rotation, initiate with the next key unless the peer keeps ignoring it. */
  initiationSlot(peer: Peer): KeySlot {
    if (!this.identities.next) return 'current';
    if (!this.identities.current) return 'next';
    return peer.unansweredNextKeyInitiations < NEXT_KEY_ATTEMPTS ? 'next' : 'current';
  }

  /**
   * A 148-byte initiation toward the peer's `remoteKeyInUse`, its index registered and its state
   * kept in `peer.handshake` (any earlier pending one released); null when we cannot initiate.
   */
  createInitiation(peer: Peer, now: number, unixMs: number): Buffer | null {
    // The fallback to the current key went unanswered too: the peer may be back knowing only our
    // next key (a one-key peer's document names it, a new instance behind its load balancer), so
    // the next attempts try the next key again instead of staying on the current one.
    if (peer.handshake?.kind === 'initiation-sent' && peer.handshake.slot === 'current' && this.identities.next)
      peer.unansweredNextKeyInitiations = 0;
    const slot = this.initiationSlot(peer);
    const identity = this.identities[slot];
    const remoteKey = peer.remoteKeyInUse;
    const staticStatic = identity && this.staticStatic(peer, slot, remoteKey);
    if (!identity || !peer.endpoint || !staticStatic) return null;
    this.release(peer);
    const noise = createInitiation({
      prologue: this.options.prologue,
      local: identity,
      remoteStatic: remoteKey,
      staticStatic,
      payload: tai64nFromUnixMs(unixMs),
    });
    if (!noise) return null;
    const localIndex = this.options.indices.allocate({ peer, keypair: null });
    const message = Buffer.alloc(INITIATION_LENGTH);
    writeUint32(message, 0, MessageType.Initiation);
    writeUint32(message, Initiation.senderIndex, localIndex);
    noise.message.copy(message, Initiation.ephemeral);
    peer.cookiesFor(remoteKey).addMacs(message, now);
    peer.handshake = { kind: 'initiation-sent', localIndex, handshake: noise.handshake, sentAt: now, slot };
    if (slot === 'next') peer.unansweredNextKeyInitiations++;
    peer.lastSentHandshakeAt = now;
    return message;
  }

  /** mac1 always; under load a valid mac2 (else a cookie reply to send) and the per-source rate limit. */
  admit(message: Buffer, source: Endpoint, now: number): Admission {
    const underLoad = this.isUnderLoad(now);
    if (!this.identities.current && !this.identities.next) return { drop: 'no-private-key' };
    // mac1 is keyed by the public key the sender addressed: it tells which of our keys to use.
    const slot = KEY_SLOTS.find((candidate) => this.identities[candidate]?.cookies.isMac1Valid(message));
    if (!slot) return { drop: 'invalid-mac1' };
    const identity = this.identities[slot]!;
    if (underLoad) {
      if (!identity.cookies.hasValidMac2(message, source, now)) {
        const cookieReply = identity.cookies.createReply(message, readUint32(message, 4), source, now);
        return cookieReply ? { drop: 'cookie-required', cookieReply } : { drop: 'rate-limited' };
      }
      const sourceAddress = endpointAddress(source);
      if (!sourceAddress || !this.rateLimiter.allow(sourceAddress, now)) return { drop: 'rate-limited' };
    }
    return { slot, identity };
  }

  /** Authenticates an initiation and checks its timestamp and the peer's initiation rate. */
  consumeInitiation(
    slot: KeySlot,
    identity: LocalIdentity,
    message: Buffer,
    now: number,
  ): { peer: Peer; consumed: ConsumedInitiation } | DropReason {
    const consumed = consumeInitiation({
      prologue: this.options.prologue,
      local: identity,
      message: message.subarray(Initiation.ephemeral, Initiation.mac1),
      staticStaticFor: (remoteStatic) => {
        const peer = this.options.peer(remoteStatic);
        return (peer && this.staticStatic(peer, slot, remoteStatic)) ?? undefined;
      },
    });
    if (consumed === 'decrypt-failed') return 'handshake-decrypt-failed';
    if (consumed === 'unknown-peer') return 'unknown-peer';
    const peer = this.options.peer(consumed.remoteStatic)!;
    const timestamp = consumed.payload;
    if (peer.latestTimestamp && compareTai64n(timestamp, peer.latestTimestamp) <= 0) {
      wipeConsumedInitiation(consumed);
      return 'replayed-timestamp';
    }
    if (now - peer.lastInitiationConsumedAt < MIN_INITIATION_INTERVAL) {
      wipeConsumedInitiation(consumed);
      return 'initiation-flood';
    }
    peer.latestTimestamp = timestamp;
    peer.lastInitiationConsumedAt = now;
    peer.remoteKeyInUse = constantTimeEqual(consumed.remoteStatic, peer.publicKey)
      ? peer.publicKey
      : peer.alternatePublicKey!;
    return { peer, consumed };
  }

  /**
   * The 92-byte response to a consumed initiation and the responder's keypair, indexed. Our own
   * pending initiation, if any, is abandoned as in the kernel. Null if the DH fails.
   */
  createResponse(
    peer: Peer,
    consumed: ConsumedInitiation,
    slot: KeySlot,
    initiation: Buffer,
    now: number,
  ): { keypair: Keypair; message: Buffer } | null {
    this.release(peer);
    const response = createResponse({ initiation: consumed, presharedKey: peer.presharedKey, payload: EMPTY });
    wipeConsumedInitiation(consumed);
    if (!response) return null;
    const remoteIndex = readUint32(initiation, Initiation.senderIndex);
    const entry: IndexEntry = { peer, keypair: null };
    const localIndex = this.options.indices.allocate(entry);
    const keypair = new Keypair(response.keys.sendKey, response.keys.receiveKey, localIndex, remoteIndex, false, now);
    keypair.localKey = slot;
    entry.keypair = keypair;
    wipe(response.keys.handshakeHash);

    const message = Buffer.alloc(RESPONSE_LENGTH);
    writeUint32(message, 0, MessageType.Response);
    writeUint32(message, Response.senderIndex, localIndex);
    writeUint32(message, Response.receiverIndex, remoteIndex);
    response.message.copy(message, Response.ephemeral);
    peer.cookiesFor(peer.remoteKeyInUse).addMacs(message, now);
    return { keypair, message };
  }

  /** Completes our pending initiation with its response: the initiator's keypair, indexed. */
  consumeResponse(
    slot: KeySlot,
    identity: LocalIdentity,
    message: Buffer,
    now: number,
  ): { peer: Peer; keypair: Keypair } | DropReason {
    const localIndex = readUint32(message, Response.receiverIndex);
    const entry = this.options.indices.get(localIndex);
    const pending = entry?.peer.handshake;
    if (
      !entry ||
      entry.keypair ||
      pending?.kind !== 'initiation-sent' ||
      pending.localIndex !== localIndex ||
      pending.slot !== slot
    ) {
      return 'unexpected-response';
    }
    const peer = entry.peer;
    const finished = consumeResponse({
      handshake: pending.handshake,
      local: identity,
      presharedKey: peer.presharedKey,
      message: message.subarray(Response.ephemeral, Response.mac1),
    });
    if (!finished) return 'handshake-decrypt-failed';
    wipe(finished.keys.handshakeHash);
    const remoteIndex = readUint32(message, Response.senderIndex);
    const keypair = new Keypair(finished.keys.sendKey, finished.keys.receiveKey, localIndex, remoteIndex, true, now);
    keypair.localKey = slot;
    peer.localKeyInUse = slot;
    if (slot === 'next') peer.unansweredNextKeyInitiations = 0;
    // The handshake's index now names the keypair (kernel wg_index_hashtable_replace).
    entry.keypair = keypair;
    peer.clearHandshake();
    return { peer, keypair };
  }

  /** A cookie reply to our last handshake message toward the peer its index names. */
  consumeCookieReply(reply: Buffer, now: number): boolean {
    const entry = this.options.indices.get(readUint32(reply, 4));
    return entry?.peer.lastCookies?.consumeReply(reply, now) ?? false;
  }

  /** Abandons the peer's pending initiation and frees its index. */
  release(peer: Peer): void {
    const handshake = peer.handshake;
    if (handshake.kind === 'initiation-sent') this.options.indices.delete(handshake.localIndex);
    peer.clearHandshake();
  }

  /**
   * Counts `arrivals` handshake messages arriving now (0: only asks) and decides whether handshakes
   * are arriving faster than we want to do DH for.
   */
  isUnderLoad(now: number, arrivals = 1): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    this.inWindow += arrivals;
    if (this.inWindow > this.options.underLoadThreshold) this.underLoadUntil = now + UNDER_LOAD_HOLD;
    return now < this.underLoadUntil;
  }
}

/** Wipes the static-static DH results cached for a peer (after any change of either side's key). */
export function forgetStaticStatics(peer: Peer): void {
  for (const shared of peer.staticStatics.values()) wipe(shared);
  peer.staticStatics.clear();
}
