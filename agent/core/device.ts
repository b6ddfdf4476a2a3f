/**
 * The sans-IO WireGuard device: a set of peers behind one static identity (two during a key rotation). It owns no sockets, TUN
 * or timers. The I/O shell feeds it datagrams from UDP (`receiveDatagram`), IP packets from the TUN
 * (`sendPacket`) and the passage of time (`tick`, waking it at `nextDeadline()`); the device answers
 * through `DeviceOutputs` synchronously. Buffers handed to outputs are reused: consume or copy them
 * before returning.
 *
 * Protocol behaviour follows the kernel (src/noise.c, send.c, receive.c, timers.c); the reference's
 * sections are cited where a rule is applied.
 */
import { KEY_LENGTH, aeadOpen, aeadSeal, clampPrivateKey, constantTimeEqual, publicKeyOf, randomUint32, wipe, x25519 } from '../crypto/primitives';
import { keyToHex } from '../crypto/keys';
import { AllowedIps, parseAddress } from './allowedips';
import {
  DEFAULT_MTU, MAX_TIMER_HANDSHAKES, MIN_INITIATION_INTERVAL, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME,
  REKEY_ON_RECEIVE_AGE, REKEY_TIMEOUT, UNDER_LOAD_HOLD, ZERO_KEY_MATERIAL_AFTER,
} from './constants';
import { CookieChecker } from './cookie';
import { Keypair } from './keypair';
import {
  INITIATION_LENGTH, Initiation, MessageType, RESPONSE_LENGTH, Response, TRANSPORT_HEADER_LENGTH, Transport,
  classifyDatagram, readUint32, writeUint32, type DropReason,
} from './messages';
import {
  WIREGUARD_PROLOGUE, consumeInitiation, consumeResponse, createInitiation, createResponse, wipeConsumedInitiation,
  type NoisePrologue, type StaticIdentity,
} from './noise';
import { Peer, TIMER_NAMES, sameEndpoint, type Endpoint, type KeySlot, type TimerName } from './peer';
import { RateLimiter } from './ratelimiter';
import { compareTai64n, tai64nFromUnixMs } from './tai64n';

export type DeviceEvent =
  | { type: 'handshake-initiated'; peer: Peer; retry: boolean }
  | { type: 'handshake-complete'; peer: Peer; role: 'initiator' | 'responder' }
  | { type: 'handshake-gave-up'; peer: Peer }
  | { type: 'cookie-sent'; endpoint: Endpoint }
  | { type: 'keys-zeroed'; peer: Peer }
  | { type: 'endpoint-changed'; peer: Peer; endpoint: Endpoint };

export interface DeviceOutputs {
  /** Send a UDP datagram. The buffer is reused after the call returns. */
  transmit(datagram: Uint8Array, endpoint: Endpoint): void;
  /** Hand a decrypted, source-checked IP packet to the TUN. The buffer is reused after return. */
  deliver(packet: Uint8Array, peer: Peer): void;
  /** Notable protocol events, for logs and metrics. */
  event?(event: DeviceEvent): void;
  /**
   * The same endpoint without its sticky source address; the core calls it when a handshake is
   * retried, so a stale local address is not used forever (kernel: dst_cache_reset).
   */
  forgetSourceAddress?(endpoint: Endpoint): Endpoint;
  /**
   * Optional: send a transport message whose payload (bytes 16 .. length - 16) is still plaintext,
   * to be sealed with ChaCha20-Poly1305 under `key` and `counter` (WireGuard's nonce) before it
   * leaves, so an I/O shell can seal a whole batch in one call. Without it the core seals each
   * message itself and calls transmit. `key` may be zeroed once the call returns: copy it.
   */
  transmitUnsealed?(message: Uint8Array, key: Uint8Array, counter: bigint, endpoint: Endpoint): void;
}

export interface DeviceOptions {
  outputs: DeviceOutputs;
  /** Inner MTU, for padding (default 1420). */
  mtu?: number;
  /** Noise prologue; WireGuard's identifier unless a test says otherwise. */
  prologue?: NoisePrologue;
  /** Unix ms = monotonic ms + this offset; used for TAI64N and last-handshake times. */
  wallClockOffsetMs?: number;
  /** Handshake messages per second above which cookies are demanded (under-load mode). */
  underLoadHandshakesPerSecond?: number;
}

interface LocalIdentity extends StaticIdentity {
  cookies: CookieChecker;
}

/** What an index in the table refers to: a peer's pending handshake, or one of its keypairs. */
interface IndexEntry {
  peer: Peer;
  keypair: Keypair | null;
}

const MAX_DATAGRAM = 65535 + 64;
const EMPTY = Buffer.alloc(0);
const DEFAULT_UNDER_LOAD_HANDSHAKES_PER_SECOND = 512;
/** Initiations with the next key a peer may leave unanswered before we fall back to the current key. */
const NEXT_KEY_ATTEMPTS = 2;
const KEY_SLOTS: readonly KeySlot[] = ['current', 'next'];

/** Plaintext length after padding to a multiple of 16, capped at the MTU (kernel calculate_skb_padding). */
export function paddedLength(length: number, mtu: number): number {
  const lastUnit = length > mtu ? length % mtu : length;
  const padded = Math.min((lastUnit + 15) & ~15, mtu);
  return length + Math.max(0, padded - lastUnit);
}

export class WireGuardDevice {
  readonly allowedIps = new AllowedIps<Peer>();
  readonly drops = new Map<DropReason, number>();
  private readonly peersByKey = new Map<string, Peer>();
  private readonly indices = new Map<number, IndexEntry>();
  private readonly outputs: DeviceOutputs;
  private readonly prologue: NoisePrologue;
  private readonly underLoadThreshold: number;
  private readonly rateLimiter = new RateLimiter();
  /** Our static keys: `next` exists only during a key rotation. */
  private readonly identities: Record<KeySlot, LocalIdentity | null> = { current: null, next: null };
  private readonly txScratch = Buffer.alloc(MAX_DATAGRAM);
  private readonly rxScratch = Buffer.alloc(MAX_DATAGRAM);
  private handshakeWindowStart = -Infinity;
  private handshakesInWindow = 0;
  private underLoadUntil = -Infinity;
  mtu: number;
  wallClockOffsetMs: number;

  constructor(options: DeviceOptions) {
    this.outputs = options.outputs;
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.prologue = options.prologue ?? WIREGUARD_PROLOGUE;
    this.wallClockOffsetMs = options.wallClockOffsetMs ?? 0;
    this.underLoadThreshold = options.underLoadHandshakesPerSecond ?? DEFAULT_UNDER_LOAD_HANDSHAKES_PER_SECOND;
  }

  // ---- configuration ----------------------------------------------------------------------

  get publicKey(): Buffer | null {
    return this.identities.current?.publicKey ?? null;
  }

  get privateKey(): Buffer | null {
    return this.identities.current?.privateKey ?? null;
  }

  /** Our next public key while a key rotation is in progress. */
  get nextPublicKey(): Buffer | null {
    return this.identities.next?.publicKey ?? null;
  }

  peers(): IterableIterator<Peer> {
    return new Set(this.peersByKey.values()).values();
  }

  /** The peer with this public key (or this alternate key during the peer's own rotation). */
  peer(publicKey: Uint8Array): Peer | undefined {
    return this.peersByKey.get(keyToHex(publicKey));
  }

  /**
   * Sets (or with null, removes) the static private key, clamped. As in the kernel (reference 1.7):
   * a peer with the new public key is removed, static-static DH is recomputed for every peer, and
   * current and next keypairs stop being used for sending.
   */
  setPrivateKey(privateKey: Uint8Array | null): void {
    const clamped = privateKey ? clampPrivateKey(privateKey) : null;
    const current = this.identities.current;
    if (clamped && current && constantTimeEqual(clamped, current.privateKey)) {
      wipe(clamped);
      return;
    }
    this.identities.current = clamped ? this.makeIdentity(clamped) : null;
    if (current) wipe(current.privateKey);
    for (const peer of this.peers()) {
      this.forgetStaticStatics(peer);
      for (const keypair of [peer.current, peer.next]) keypair?.expireForSending();
      this.releaseHandshake(peer);
    }
  }

  /**
   * Starts a zero-downtime key rotation: until it completes we hold both static keys, answer
   * handshakes addressed to either, and initiate with the next key (falling back to the current one
   * for a peer that does not answer it). Existing sessions keep running meanwhile.
   */
  beginKeyRotation(nextPrivateKey: Uint8Array, now: number): void {
    const clamped = clampPrivateKey(nextPrivateKey);
    const existing = this.identities.next;
    if (existing && constantTimeEqual(existing.privateKey, clamped)) {
      wipe(clamped);
      return;
    }
    if (existing) this.abortKeyRotation();
    this.identities.next = this.makeIdentity(clamped);
    for (const peer of this.peers()) {
      peer.unansweredNextKeyInitiations = 0;
      if (!peer.endpoint) continue;
      peer.lastSentHandshakeAt = -Infinity; // move now, not at the next rekey
      this.sendInitiation(peer, now, false);
    }
  }

  /** Per peer: which of our keys its current session uses. The rotation is done when all say next. */
  rotationStatus(): { inProgress: boolean; peers: { peer: Peer; localKey: KeySlot }[]; complete: boolean } {
    const peers = [...this.peers()].map((peer) => ({ peer, localKey: peer.localKeyInUse }));
    const inProgress = this.identities.next !== null;
    return { inProgress, peers, complete: inProgress && peers.every((p) => p.localKey === 'next') };
  }

  /** Makes the next key the current one. Sessions made with it carry on untouched. */
  completeKeyRotation(): void {
    const next = this.identities.next;
    if (!next) return;
    const old = this.identities.current;
    this.identities.current = next;
    this.identities.next = null;
    if (old) wipe(old.privateKey);
    for (const peer of this.peers()) {
      this.forgetStaticStatics(peer);
      peer.localKeyInUse = 'current';
      for (const keypair of peer.keypairs()) keypair.localKey = 'current';
      if (peer.handshake.kind === 'initiation-sent') peer.handshake.slot = 'current';
    }
  }

  /** Drops the next key; peers that moved to it keep their sessions until the next rekey. */
  abortKeyRotation(): void {
    const next = this.identities.next;
    if (!next) return;
    this.identities.next = null;
    wipe(next.privateKey);
    for (const peer of this.peers()) {
      this.forgetStaticStatics(peer);
      peer.localKeyInUse = 'current';
    }
  }

  /** The peer's next public key during its own rotation (null to stop accepting it). */
  setAlternatePublicKey(peer: Peer, alternate: Uint8Array | null): void {
    if (peer.alternatePublicKey) {
      this.peersByKey.delete(keyToHex(peer.alternatePublicKey));
      if (peer.remoteKeyInUse === peer.alternatePublicKey) peer.remoteKeyInUse = peer.publicKey;
    }
    peer.alternatePublicKey = alternate ? Buffer.from(alternate) : null;
    if (peer.alternatePublicKey) this.peersByKey.set(keyToHex(peer.alternatePublicKey), peer);
  }

  /** The peer finished its rotation: its alternate key becomes its public key, sessions untouched. */
  promoteAlternatePublicKey(peer: Peer): void {
    const alternate = peer.alternatePublicKey;
    if (!alternate) return;
    this.peersByKey.delete(keyToHex(peer.publicKey));
    peer.publicKey = alternate;
    peer.alternatePublicKey = null;
    peer.remoteKeyInUse = alternate;
    this.forgetStaticStatics(peer);
  }

  /** Returns the peer for `publicKey`, creating it; undefined for our own public key (ignored). */
  addPeer(publicKey: Uint8Array): Peer | undefined {
    if (publicKey.length !== KEY_LENGTH) throw new RangeError('a public key is 32 bytes');
    if (this.isOwnKey(publicKey)) return undefined;
    const existing = this.peer(publicKey);
    if (existing) return existing;
    const peer = new Peer(Buffer.from(publicKey));
    this.peersByKey.set(keyToHex(publicKey), peer);
    return peer;
  }

  removePeer(peer: Peer): void {
    if (this.peersByKey.get(keyToHex(peer.publicKey)) !== peer) return;
    this.zeroKeyMaterial(peer);
    this.forgetStaticStatics(peer);
    wipe(peer.presharedKey);
    peer.forgetCookies();
    peer.staged.length = 0;
    this.allowedIps.removePeer(peer);
    this.peersByKey.delete(keyToHex(peer.publicKey));
    if (peer.alternatePublicKey) this.peersByKey.delete(keyToHex(peer.alternatePublicKey));
  }

  removeAllPeers(): void {
    for (const peer of this.peers()) this.removePeer(peer);
  }

  /** Turning persistent keepalive on sends a keepalive at once (kernel netlink.c, wireguard-go pkaOn). */
  setPersistentKeepalive(peer: Peer, seconds: number, now: number): void {
    const wasOff = peer.persistentKeepaliveInterval === 0;
    peer.persistentKeepaliveInterval = seconds;
    if (seconds === 0) peer.deadlines.persistentKeepalive = null;
    else if (wasOff) this.sendKeepalive(peer, now);
  }

  private makeIdentity(privateKey: Buffer): LocalIdentity {
    const publicKey = publicKeyOf(privateKey);
    const self = this.peer(publicKey);
    if (self) this.removePeer(self);
    return { privateKey, publicKey, cookies: new CookieChecker(publicKey) };
  }

  private isOwnKey(publicKey: Uint8Array): boolean {
    return [this.identities.current, this.identities.next].some((id) => id !== null && constantTimeEqual(publicKey, id.publicKey));
  }

  /** DH(our key in `slot`, `remoteKey`), cached per peer; null when impossible (no key, low order). */
  private staticStatic(peer: Peer, slot: KeySlot, remoteKey: Buffer): Buffer | null {
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

  private forgetStaticStatics(peer: Peer): void {
    for (const shared of peer.staticStatics.values()) wipe(shared);
    peer.staticStatics.clear();
  }

  // ---- time ---------------------------------------------------------------------------------

  /** The earliest time at which `tick` has work to do, or Infinity. */
  nextDeadline(): number {
    let earliest = Infinity;
    for (const peer of this.peersByKey.values()) earliest = Math.min(earliest, peer.nextDeadline());
    return earliest;
  }

  /** Fires every timer whose deadline has passed. */
  tick(now: number): void {
    for (const peer of [...this.peersByKey.values()]) {
      for (const name of TIMER_NAMES) {
        const at = peer.deadlines[name];
        if (at !== null && at <= now) {
          peer.deadlines[name] = null;
          this.fireTimer(peer, name, now);
        }
      }
    }
  }

  private fireTimer(peer: Peer, name: TimerName, now: number): void {
    switch (name) {
      case 'retransmitHandshake':
        if (peer.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
          // Give up (REKEY_ATTEMPT_TIME passed): forget queued data, schedule key erasure.
          peer.deadlines.sendKeepalive = null;
          for (let i = 0; i < peer.staged.length; i++) this.drop('handshake-gave-up');
          peer.staged.length = 0;
          peer.deadlines.zeroKeyMaterial ??= now + ZERO_KEY_MATERIAL_AFTER;
          this.outputs.event?.({ type: 'handshake-gave-up', peer });
        } else {
          peer.handshakeAttempts++;
          this.forgetSourceAddress(peer);
          this.sendInitiation(peer, now, true);
        }
        return;
      case 'sendKeepalive':
        this.sendKeepalive(peer, now);
        if (peer.needAnotherKeepalive) {
          peer.needAnotherKeepalive = false;
          peer.onDataReceived(now);
        }
        return;
      case 'newHandshake':
        this.forgetSourceAddress(peer);
        this.sendInitiation(peer, now, false);
        return;
      case 'zeroKeyMaterial':
        this.zeroKeyMaterial(peer);
        this.outputs.event?.({ type: 'keys-zeroed', peer });
        return;
      case 'persistentKeepalive':
        if (peer.persistentKeepaliveInterval > 0) this.sendKeepalive(peer, now);
        return;
      case 'rotateKey':
        if (this.identities.next && peer.localKeyInUse === 'current') this.sendInitiation(peer, now, false);
        return;
    }
  }

  private forgetSourceAddress(peer: Peer): void {
    if (peer.endpoint?.localAddress !== undefined && this.outputs.forgetSourceAddress) {
      peer.endpoint = this.outputs.forgetSourceAddress(peer.endpoint);
    }
  }

  private unixMs(now: number): number {
    return now + this.wallClockOffsetMs;
  }

  // ---- outbound -------------------------------------------------------------------------------

  /** An IP packet read from the TUN: route it by destination, encrypt it or queue it. */
  sendPacket(packet: Buffer, now: number): void {
    const peer = this.routeOutbound(packet);
    if (!peer) return this.drop('no-route');
    if (!peer.endpoint) return this.drop('no-endpoint');
    const keypair = peer.current;
    if (peer.staged.length === 0 && keypair && keypair.canSend(now)) {
      this.encryptAndTransmit(peer, keypair, packet, now);
      this.keepKeyFreshOnSend(peer, now);
      return;
    }
    if (!peer.stage(Buffer.from(packet))) this.drop('staged-overflow');
    this.sendStaged(peer, now);
  }

  private routeOutbound(packet: Buffer): Peer | undefined {
    const version = packet.length > 0 ? packet[0]! >> 4 : 0;
    if (version === 4 && packet.length >= 20) return this.allowedIps.lookupIPv4(packet, 16);
    if (version === 6 && packet.length >= 40) return this.allowedIps.lookupIPv6(packet, 24);
    return undefined;
  }

  /** Sends queued packets if a current keypair can carry them, else asks for a handshake. */
  private sendStaged(peer: Peer, now: number): void {
    const keypair = peer.current;
    if (!keypair || !keypair.canSend(now)) {
      this.sendInitiation(peer, now, false);
      return;
    }
    while (peer.staged.length > 0) {
      if (!keypair.canSend(now)) {
        this.sendInitiation(peer, now, false);
        return;
      }
      this.encryptAndTransmit(peer, keypair, peer.staged.shift()!, now);
    }
    this.keepKeyFreshOnSend(peer, now);
  }

  private sendKeepalive(peer: Peer, now: number): void {
    if (peer.staged.length === 0) peer.stage(EMPTY);
    this.sendStaged(peer, now);
  }

  private encryptAndTransmit(peer: Peer, keypair: Keypair, plaintext: Uint8Array, now: number): void {
    const endpoint = peer.endpoint;
    if (!endpoint) return this.drop('no-endpoint');
    const counter = keypair.sendCounter++;
    const padded = paddedLength(plaintext.length, this.mtu);
    const total = TRANSPORT_HEADER_LENGTH + padded + 16;
    const out = this.txScratch;
    writeUint32(out, 0, MessageType.Transport);
    writeUint32(out, Transport.receiverIndex, keypair.remoteIndex);
    out.writeBigUInt64LE(counter, Transport.counter);
    out.set(plaintext, Transport.payload);
    out.fill(0, Transport.payload + plaintext.length, Transport.payload + padded);
    const unsealed = this.outputs.transmitUnsealed;
    if (!unsealed) {
      aeadSeal(
        keypair.sendKey, counter, out.subarray(Transport.payload, Transport.payload + padded), null,
        out.subarray(Transport.payload, total),
      );
    }
    peer.txBytes += total;
    peer.onAuthenticatedPacketTraversal(now);
    peer.onAuthenticatedPacketSent();
    if (plaintext.length > 0) peer.onDataSent(now);
    if (unsealed) unsealed(out.subarray(0, total), keypair.sendKey, counter, endpoint);
    else this.outputs.transmit(out.subarray(0, total), endpoint);
  }

  /** Rekey on send: after REKEY_AFTER_MESSAGES, or REKEY_AFTER_TIME for the initiator (reference 1.7). */
  private keepKeyFreshOnSend(peer: Peer, now: number): void {
    const keypair = peer.current;
    if (!keypair || !keypair.valid) return;
    if (keypair.sendCounter > REKEY_AFTER_MESSAGES || (keypair.isInitiator && keypair.ageAt(now) > REKEY_AFTER_TIME)) {
      peer.unansweredNextKeyInitiations = 0; // a routine rekey may try the next key again
      this.sendInitiation(peer, now, false);
    }
  }

  /** Rekey on receive: the initiator renews once a session nears REJECT_AFTER_TIME (165 s). */
  private keepKeyFreshOnReceive(peer: Peer, now: number): void {
    const keypair = peer.current;
    if (!keypair || !keypair.valid || !keypair.isInitiator || peer.sentLastMinuteHandshake) return;
    if (keypair.ageAt(now) > REKEY_ON_RECEIVE_AGE) {
      peer.sentLastMinuteHandshake = true;
      this.sendInitiation(peer, now, false);
    }
  }

  /** Sends a handshake initiation, at most one per REKEY_TIMEOUT per peer. */
  private sendInitiation(peer: Peer, now: number, isRetry: boolean): void {
    if (!isRetry) peer.handshakeAttempts = 0;
    if (now - peer.lastSentHandshakeAt < REKEY_TIMEOUT) return;
    const slot = this.initiationSlot(peer);
    const identity = this.identities[slot];
    const endpoint = peer.endpoint;
    const remoteKey = peer.remoteKeyInUse;
    const staticStatic = identity && this.staticStatic(peer, slot, remoteKey);
    if (!identity || !endpoint || !staticStatic) return;
    this.releaseHandshake(peer);
    const noise = createInitiation({
      prologue: this.prologue,
      local: identity,
      remoteStatic: remoteKey,
      staticStatic,
      payload: tai64nFromUnixMs(this.unixMs(now)),
    });
    if (!noise) return;
    const localIndex = this.allocateIndex({ peer, keypair: null });
    const message = Buffer.alloc(INITIATION_LENGTH);
    writeUint32(message, 0, MessageType.Initiation);
    writeUint32(message, Initiation.senderIndex, localIndex);
    noise.message.copy(message, Initiation.ephemeral);
    peer.cookiesFor(remoteKey).addMacs(message, now);
    peer.handshake = { kind: 'initiation-sent', localIndex, handshake: noise.handshake, sentAt: now, slot };
    if (slot === 'next') peer.unansweredNextKeyInitiations++;
    peer.lastSentHandshakeAt = now;
    peer.onAuthenticatedPacketTraversal(now);
    peer.onAuthenticatedPacketSent();
    peer.txBytes += message.length;
    this.outputs.transmit(message, endpoint);
    peer.onHandshakeInitiated(now);
    this.outputs.event?.({ type: 'handshake-initiated', peer, retry: isRetry });
  }

  /**
   * A session made with the current key during a rotation (the peer initiated, or we fell back) gets
   * another try with the next key shortly, unless the peer already ignored it twice this round.
   */
  private scheduleMoveToNextKey(peer: Peer, now: number): void {
    if (this.identities.next && peer.localKeyInUse === 'current' && peer.unansweredNextKeyInitiations < NEXT_KEY_ATTEMPTS) {
      peer.deadlines.rotateKey = now + REKEY_TIMEOUT;
    }
  }

  /** During a rotation, initiate with the next key unless the peer keeps ignoring it. */
  private initiationSlot(peer: Peer): KeySlot {
    if (!this.identities.next) return 'current';
    if (!this.identities.current) return 'next';
    return peer.unansweredNextKeyInitiations < NEXT_KEY_ATTEMPTS ? 'next' : 'current';
  }

  // ---- inbound ------------------------------------------------------------------------------

  /** A UDP datagram from `source`. Never throws; anything not accepted is counted in `drops`. */
  /**
   * `opened`: an I/O shell that opens transport payloads in batches (with transportReceiveKey) has
   * already authenticated and decrypted this transport datagram's payload in place.
   */
  receiveDatagram(datagram: Buffer, source: Endpoint, now: number, opened = false): void {
    const type = classifyDatagram(datagram);
    switch (type) {
      case MessageType.Transport:
        return this.receiveTransport(datagram, source, now, opened);
      case MessageType.Initiation:
      case MessageType.Response:
        return this.receiveHandshake(type, datagram, source, now);
      case MessageType.CookieReply:
        return this.receiveCookieReply(datagram, now);
      default:
        return this.drop(type as DropReason);
    }
  }

  /** Decides whether handshakes are arriving faster than we want to do DH for. */
  private isUnderLoad(now: number): boolean {
    if (now - this.handshakeWindowStart >= 1000) {
      this.handshakeWindowStart = now;
      this.handshakesInWindow = 0;
    }
    if (++this.handshakesInWindow > this.underLoadThreshold) this.underLoadUntil = now + UNDER_LOAD_HOLD;
    return now < this.underLoadUntil;
  }

  /** mac1 always; under load a valid mac2 (else a cookie reply) and the per-source rate limit. */
  private receiveHandshake(type: number, message: Buffer, source: Endpoint, now: number): void {
    const underLoad = this.isUnderLoad(now);
    if (!this.identities.current && !this.identities.next) return this.drop('no-private-key');
    // mac1 is keyed by the public key the sender addressed: it tells which of our keys to use.
    const slot = KEY_SLOTS.find((candidate) => this.identities[candidate]?.cookies.isMac1Valid(message));
    if (!slot) return this.drop('invalid-mac1');
    const identity = this.identities[slot]!;
    if (underLoad) {
      const sourceAddress = endpointAddress(source);
      if (!sourceAddress) return this.drop('rate-limited');
      if (!identity.cookies.isMac2Valid(message, withPort(sourceAddress, source.port), now)) {
        const senderIndex = readUint32(message, 4);
        this.outputs.transmit(identity.cookies.createReply(message, senderIndex, withPort(sourceAddress, source.port), now), source);
        this.outputs.event?.({ type: 'cookie-sent', endpoint: source });
        return this.drop('cookie-required');
      }
      if (!this.rateLimiter.allow(sourceAddress, now)) return this.drop('rate-limited');
    }
    if (type === MessageType.Initiation) this.consumeInitiationMessage(slot, identity, message, source, now);
    else this.consumeResponseMessage(slot, identity, message, source, now);
  }

  private consumeInitiationMessage(slot: KeySlot, identity: LocalIdentity, message: Buffer, source: Endpoint, now: number): void {
    const consumed = consumeInitiation({
      prologue: this.prologue,
      local: identity,
      message: message.subarray(Initiation.ephemeral, Initiation.mac1),
      staticStaticFor: (remoteStatic) => {
        const peer = this.peer(remoteStatic);
        return (peer && this.staticStatic(peer, slot, remoteStatic)) ?? undefined;
      },
    });
    if (consumed === 'decrypt-failed') return this.drop('handshake-decrypt-failed');
    if (consumed === 'unknown-peer') return this.drop('unknown-peer');
    const peer = this.peer(consumed.remoteStatic)!;
    const timestamp = consumed.payload;
    if (peer.latestTimestamp && compareTai64n(timestamp, peer.latestTimestamp) <= 0) {
      wipeConsumedInitiation(consumed);
      return this.drop('replayed-timestamp');
    }
    if (now - peer.lastInitiationConsumedAt < MIN_INITIATION_INTERVAL) {
      wipeConsumedInitiation(consumed);
      return this.drop('initiation-flood');
    }
    peer.latestTimestamp = timestamp;
    peer.lastInitiationConsumedAt = now;
    peer.remoteKeyInUse = constantTimeEqual(consumed.remoteStatic, peer.publicKey) ? peer.publicKey : peer.alternatePublicKey!;
    peer.rxBytes += message.length;
    this.updateEndpoint(peer, source);
    peer.onAuthenticatedPacketReceived();
    peer.onAuthenticatedPacketTraversal(now);

    // Answer at once; our own pending initiation, if any, is abandoned as in the kernel.
    this.releaseHandshake(peer);
    const response = createResponse({ initiation: consumed, presharedKey: peer.presharedKey, payload: EMPTY });
    wipeConsumedInitiation(consumed);
    if (!response) return this.drop('handshake-decrypt-failed');
    const remoteIndex = readUint32(message, Initiation.senderIndex);
    const entry: IndexEntry = { peer, keypair: null };
    const localIndex = this.allocateIndex(entry);
    const keypair = new Keypair(response.keys.sendKey, response.keys.receiveKey, localIndex, remoteIndex, false, now);
    keypair.localKey = slot;
    entry.keypair = keypair;
    wipe(response.keys.handshakeHash);
    // Responder: the new keypair waits in `next` until the initiator's first packet confirms it.
    this.discardKeypair(peer.next);
    this.discardKeypair(peer.previous);
    peer.previous = null;
    peer.next = keypair;

    const out = Buffer.alloc(RESPONSE_LENGTH);
    writeUint32(out, 0, MessageType.Response);
    writeUint32(out, Response.senderIndex, localIndex);
    writeUint32(out, Response.receiverIndex, remoteIndex);
    response.message.copy(out, Response.ephemeral);
    peer.cookiesFor(peer.remoteKeyInUse).addMacs(out, now);
    peer.onAuthenticatedPacketTraversal(now);
    peer.onAuthenticatedPacketSent();
    peer.onSessionDerived(now);
    peer.txBytes += out.length;
    this.outputs.transmit(out, peer.endpoint!);
  }

  private consumeResponseMessage(slot: KeySlot, identity: LocalIdentity, message: Buffer, source: Endpoint, now: number): void {
    const localIndex = readUint32(message, Response.receiverIndex);
    const entry = this.indices.get(localIndex);
    const pending = entry?.peer.handshake;
    if (!entry || entry.keypair || pending?.kind !== 'initiation-sent' || pending.localIndex !== localIndex || pending.slot !== slot) {
      return this.drop('unexpected-response');
    }
    const peer = entry.peer;
    const finished = consumeResponse({
      handshake: pending.handshake,
      local: identity,
      presharedKey: peer.presharedKey,
      message: message.subarray(Response.ephemeral, Response.mac1),
    });
    if (!finished) return this.drop('handshake-decrypt-failed');
    wipe(finished.keys.handshakeHash);
    const remoteIndex = readUint32(message, Response.senderIndex);
    const keypair = new Keypair(finished.keys.sendKey, finished.keys.receiveKey, localIndex, remoteIndex, true, now);
    keypair.localKey = slot;
    peer.localKeyInUse = slot;
    if (slot === 'next') peer.unansweredNextKeyInitiations = 0;
    // The handshake's index now names the keypair (kernel wg_index_hashtable_replace).
    entry.keypair = keypair;
    peer.clearHandshake();
    // Initiator: the keypair is usable at once. A pending `next` slides to previous (kernel add_new_keypair).
    if (peer.next) {
      this.discardKeypair(peer.previous);
      this.discardKeypair(peer.current);
      peer.previous = peer.next;
      peer.next = null;
    } else {
      this.discardKeypair(peer.previous);
      peer.previous = peer.current;
    }
    peer.current = keypair;

    peer.rxBytes += message.length;
    this.updateEndpoint(peer, source);
    peer.onAuthenticatedPacketReceived();
    peer.onAuthenticatedPacketTraversal(now);
    peer.onHandshakeComplete(this.unixMs(now));
    peer.onSessionDerived(now);
    this.outputs.event?.({ type: 'handshake-complete', peer, role: 'initiator' });
    this.scheduleMoveToNextKey(peer, now);
    // The keepalive (or queued data) gives the responder its key confirmation.
    this.sendKeepalive(peer, now);
  }

  private receiveCookieReply(reply: Buffer, now: number): void {
    const entry = this.indices.get(readUint32(reply, 4));
    if (!entry || !entry.peer.lastCookies?.consumeReply(reply, now)) return this.drop('invalid-cookie-reply');
  }

  /**
   * For an I/O shell that opens transport payloads in batches: the receive key of the keypair the
   * transport datagram at data[offset..] is addressed to, or null (pass that one unopened).
   */
  transportReceiveKey(data: Uint8Array, offset: number, now: number): Uint8Array | null {
    const keypair = this.indices.get(readUint32(data, offset + Transport.receiverIndex))?.keypair;
    return keypair && keypair.canReceive(now) ? keypair.receiveKey : null;
  }

  private receiveTransport(datagram: Buffer, source: Endpoint, now: number, opened: boolean): void {
    const entry = this.indices.get(readUint32(datagram, Transport.receiverIndex));
    const keypair = entry?.keypair;
    if (!entry || !keypair) return this.drop('unknown-index');
    if (!keypair.canReceive(now)) return this.drop('expired-keypair');
    const counter = datagram.readBigUInt64LE(Transport.counter);
    const plaintextLength = datagram.length - TRANSPORT_HEADER_LENGTH - 16;
    let plaintext: Buffer;
    if (opened) {
      plaintext = datagram.subarray(Transport.payload, Transport.payload + plaintextLength);
    } else {
      plaintext = this.rxScratch.subarray(0, plaintextLength);
      if (!aeadOpen(keypair.receiveKey, counter, datagram.subarray(Transport.payload), null, plaintext)) {
        return this.drop('decrypt-failed');
      }
    }
    // Only now, after authentication, may the packet move the replay window (reference 1.8).
    if (!keypair.replay.validate(counter)) return this.drop('replayed-counter');
    const peer = entry.peer;
    this.updateEndpoint(peer, source);
    peer.rxBytes += datagram.length;
    if (keypair === peer.next) this.confirmNextKeypair(peer, now);
    this.keepKeyFreshOnReceive(peer, now);
    peer.onAuthenticatedPacketReceived();
    peer.onAuthenticatedPacketTraversal(now);
    if (plaintextLength === 0) return; // keepalive
    peer.onDataReceived(now);

    const innerLength = innerPacketLength(plaintext);
    if (innerLength === 0) return this.drop('invalid-inner-packet');
    const version = plaintext[0]! >> 4;
    const owner = version === 4 ? this.allowedIps.lookupIPv4(plaintext, 12) : this.allowedIps.lookupIPv6(plaintext, 8);
    if (owner !== peer) return this.drop('source-not-allowed');
    this.outputs.deliver(plaintext.subarray(0, innerLength), peer);
  }

  /** The responder's first packet under `next`: it becomes current (kernel wg_noise_received_with_keypair). */
  private confirmNextKeypair(peer: Peer, now: number): void {
    this.discardKeypair(peer.previous);
    peer.previous = peer.current;
    peer.current = peer.next;
    peer.next = null;
    peer.localKeyInUse = peer.current!.localKey;
    peer.onHandshakeComplete(this.unixMs(now));
    this.outputs.event?.({ type: 'handshake-complete', peer, role: 'responder' });
    this.scheduleMoveToNextKey(peer, now);
    if (peer.staged.length > 0) this.sendStaged(peer, now);
  }

  private updateEndpoint(peer: Peer, source: Endpoint): void {
    if (sameEndpoint(peer.endpoint, source)) return;
    peer.endpoint = source;
    this.outputs.event?.({ type: 'endpoint-changed', peer, endpoint: source });
  }

  // ---- indices and key material ---------------------------------------------------------------

  private allocateIndex(entry: IndexEntry): number {
    let index: number;
    do index = randomUint32();
    while (this.indices.has(index));
    this.indices.set(index, entry);
    return index;
  }

  private releaseHandshake(peer: Peer): void {
    const handshake = peer.handshake;
    if (handshake.kind === 'initiation-sent') this.indices.delete(handshake.localIndex);
    peer.clearHandshake();
  }

  private discardKeypair(keypair: Keypair | null): void {
    if (!keypair) return;
    this.indices.delete(keypair.localIndex);
    keypair.wipe();
  }

  private zeroKeyMaterial(peer: Peer): void {
    this.releaseHandshake(peer);
    for (const keypair of peer.keypairs()) this.discardKeypair(keypair);
    peer.previous = peer.current = peer.next = null;
    peer.deadlines.zeroKeyMaterial = null;
  }

  private drop(reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}

/** The IP total length of a decrypted packet, or 0 if it is not a well-formed IPv4/IPv6 header. */
function innerPacketLength(packet: Uint8Array): number {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  let length = 0;
  if (version === 4 && packet.length >= 20) length = (packet[2]! << 8) | packet[3]!;
  else if (version === 6 && packet.length >= 40) length = 40 + ((packet[4]! << 8) | packet[5]!);
  const minimum = version === 4 ? 20 : 40;
  return length >= minimum && length <= packet.length ? length : 0;
}

function endpointAddress(endpoint: Endpoint): Uint8Array | null {
  try {
    return parseAddress(endpoint.address.replace(/%.*$/, ''));
  } catch {
    return null;
  }
}

function withPort(address: Uint8Array, port: number): Buffer {
  const out = Buffer.alloc(address.length + 2);
  out.set(address);
  out.writeUInt16BE(port, address.length);
  return out;
}
