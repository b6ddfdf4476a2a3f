/**
 * The sans-IO WireGuard device: a set of peers behind one static identity (two during a key rotation). It owns no sockets, TUN
 * or timers. The I/O shell feeds it datagrams from UDP (`receiveDatagram`), IP packets from the TUN
 * (`sendPacket`) and the passage of time (`tick`, waking it at `nextDeadline()`); the device answers
 * through `DeviceOutputs` synchronously. Buffers handed to outputs are reused: consume or copy them
 * before returning.
 *
 * Protocol behaviour follows the kernel (src/noise.c, send.c, receive.c, timers.c); sections of
 * docs/protocol.md are cited where a rule is applied. The timers (./timers), the handshake framing
 * (./handshake) and the receiver-index table (./index-table) are their own modules, as in
 * wireguard-go's device/; this class owns the peers and keypair slots and orchestrates them.
 */
import {
  KEY_LENGTH,
  aeadOpen,
  aeadSeal,
  clampPrivateKey,
  constantTimeEqual,
  publicKeyOf,
  wipe,
} from '../crypto/primitives';
import { keyToHex } from '../crypto/keys';
import { AllowedIps } from './allowedips';
import { DEFAULT_MTU } from '../../common/defaults';
import {
  MAX_TIMER_HANDSHAKES,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_ON_RECEIVE_AGE,
  REKEY_TIMEOUT,
  ZERO_KEY_MATERIAL_AFTER,
} from './constants';
import { CookieChecker, type CookieReplyKeys } from './cookie';
import { Handshakes, NEXT_KEY_ATTEMPTS, forgetStaticStatics, type IndexEntry, type LocalIdentity } from './handshake';
import { IndexTable } from './index-table';
import { CounterLimit, type KeySlot, type Keypair } from './keypair';
import {
  MessageType,
  TRANSPORT_HEADER_LENGTH,
  Transport,
  classifyDatagram,
  paddedLength,
  readUint32,
  writeUint32,
  type DropReason,
} from './messages';
import { WIREGUARD_PROLOGUE, type NoisePrologue } from './noise';
import { Peer, sameEndpoint, type Endpoint } from './peer';
import * as timers from './timers';

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
  /** Optional, instead of deliver: the packet as data[offset, offset + length), so no view is made per packet. */
  deliverSpan?(data: Buffer, offset: number, length: number, peer: Peer): void;
  /** Notable protocol events, for logs and metrics. */
  event?(event: DeviceEvent): void;
  /**
   * The same endpoint without its sticky source address; the core calls it when a handshake is
   * retried, so a stale local address is not used forever (kernel: dst_cache_reset).
   */
  forgetSourceAddress?(endpoint: Endpoint): Endpoint;
  /**
   * Optional: send the transport message data[0, length) whose payload (bytes 16 .. length - 16)
   * is still plaintext, to be sealed with ChaCha20-Poly1305 under `key` and the counter in its
   * header (bytes 8..16, WireGuard's nonce) before it leaves, so an I/O shell can seal a whole
   * batch in one call. Without it the core seals each message itself and calls transmit. `key` may
   * be zeroed once the call returns: copy it. `data` is reused after the call.
   */
  transmitUnsealed?(data: Buffer, length: number, key: Uint8Array, endpoint: Endpoint): void;
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

const MAX_DATAGRAM = 65535 + 64;
const EMPTY = Buffer.alloc(0);
const REKEY_AFTER_MESSAGES_LIMIT = new CounterLimit(REKEY_AFTER_MESSAGES);
const DEFAULT_UNDER_LOAD_HANDSHAKES_PER_SECOND = 512;

export class WireGuardDevice {
  readonly allowedIps = new AllowedIps<Peer>();
  readonly drops = new Map<DropReason, number>();
  private readonly peersByKey = new Map<string, Peer>();
  private readonly indices = new IndexTable<IndexEntry>();
  private readonly handshakes: Handshakes;
  /** Our static keys (the handshake layer's): `next` exists only during a key rotation. */
  private readonly identities: Record<KeySlot, LocalIdentity | null>;
  private readonly outputs: DeviceOutputs;
  private readonly txScratch = Buffer.alloc(MAX_DATAGRAM);
  private readonly rxScratch = Buffer.alloc(MAX_DATAGRAM);
  mtu: number;
  wallClockOffsetMs: number;

  constructor(options: DeviceOptions) {
    this.outputs = options.outputs;
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.wallClockOffsetMs = options.wallClockOffsetMs ?? 0;
    this.handshakes = new Handshakes({
      prologue: options.prologue ?? WIREGUARD_PROLOGUE,
      underLoadThreshold: options.underLoadHandshakesPerSecond ?? DEFAULT_UNDER_LOAD_HANDSHAKES_PER_SECOND,
      indices: this.indices,
      peer: (publicKey) => this.peer(publicKey),
    });
    this.identities = this.handshakes.identities;
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
   * Sets (or with null, removes) the static private key, clamped. As in the kernel (docs/protocol.md 1.7):
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
      forgetStaticStatics(peer);
      for (const keypair of [peer.current, peer.next]) keypair?.expireForSending();
      this.handshakes.release(peer);
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
      forgetStaticStatics(peer);
      peer.localKeyInUse = 'current';
      for (const keypair of peer.keypairs()) {
        if (keypair.localKey === 'current') keypair.retiredLocalKey = true;
        keypair.localKey = 'current';
      }
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
      forgetStaticStatics(peer);
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
    forgetStaticStatics(peer);
  }

  /** Returns the peer for `publicKey`, creating it; undefined for our own public key (ignored). */
  addPeer(publicKey: Uint8Array): Peer | undefined {
    if (publicKey.length !== KEY_LENGTH) throw new RangeError('a public key is 32 bytes');
    if (this.handshakes.isOwnKey(publicKey)) return undefined;
    const existing = this.peer(publicKey);
    if (existing) return existing;
    const peer = new Peer(Buffer.from(publicKey));
    this.peersByKey.set(keyToHex(publicKey), peer);
    return peer;
  }

  removePeer(peer: Peer): void {
    if (this.peersByKey.get(keyToHex(peer.publicKey)) !== peer) return;
    this.zeroKeyMaterial(peer);
    forgetStaticStatics(peer);
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

  // ---- time ---------------------------------------------------------------------------------

  /** The earliest time at which `tick` has work to do, or Infinity. */
  nextDeadline(): number {
    let earliest = Infinity;
    for (const peer of this.peersByKey.values()) earliest = Math.min(earliest, timers.earliestDeadline(peer));
    return earliest;
  }

  /**
   * Fires every timer whose deadline has passed. A peer whose alternate key is added meanwhile may
   * be visited twice: its expired timers are disarmed by then, so nothing fires twice.
   */
  tick(now: number): void {
    for (const peer of this.peersByKey.values()) timers.expireTimers(peer, now, this.fireTimerOf);
  }

  private readonly fireTimerOf = (peer: Peer, name: timers.TimerName, now: number): void =>
    this.fireTimer(peer, name, now);

  private fireTimer(peer: Peer, name: timers.TimerName, now: number): void {
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
          timers.onDataReceived(peer, now);
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
    this.sendPacketAt(packet, 0, packet.length, now);
  }

  /** sendPacket for the packet at data[start, start + length): no view is made for it. */
  sendPacketAt(data: Buffer, start: number, length: number, now: number): void {
    const peer = this.routeOutbound(data, start, length);
    if (!peer) return this.drop('no-route');
    if (!peer.endpoint) return this.drop('no-endpoint');
    const keypair = peer.current;
    if (peer.staged.length === 0 && keypair && keypair.canSend(now)) {
      this.encryptAndTransmit(peer, keypair, data, start, length, now);
      this.keepKeyFreshOnSend(peer, now);
      return;
    }
    if (!peer.stage(Buffer.from(data.subarray(start, start + length)))) this.drop('staged-overflow');
    this.sendStaged(peer, now);
  }

  private routeOutbound(data: Buffer, start: number, length: number): Peer | undefined {
    const version = length > 0 ? data[start]! >> 4 : 0;
    if (version === 4 && length >= 20) return this.allowedIps.lookupIPv4(data, start + 16);
    if (version === 6 && length >= 40) return this.allowedIps.lookupIPv6(data, start + 24);
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
      const packet = peer.staged.shift()!;
      this.encryptAndTransmit(peer, keypair, packet, 0, packet.length, now);
    }
    this.keepKeyFreshOnSend(peer, now);
  }

  private sendKeepalive(peer: Peer, now: number): void {
    if (peer.staged.length === 0) peer.stage(EMPTY);
    this.sendStaged(peer, now);
  }

  /** Encrypts data[start, start + length) under `keypair`; with transmitUnsealed, no object is made per packet. */
  private encryptAndTransmit(
    peer: Peer,
    keypair: Keypair,
    data: Buffer,
    start: number,
    length: number,
    now: number,
  ): void {
    const endpoint = peer.endpoint;
    if (!endpoint) return this.drop('no-endpoint');
    const counter = keypair.takeSendCounter();
    const padded = paddedLength(length, this.mtu);
    const total = TRANSPORT_HEADER_LENGTH + padded + 16;
    const out = this.txScratch;
    writeUint32(out, 0, MessageType.Transport);
    writeUint32(out, Transport.receiverIndex, keypair.remoteIndex);
    if (typeof counter === 'number') {
      out.writeUInt32LE(counter >>> 0, Transport.counter);
      out.writeUInt32LE(Math.floor(counter / 0x100000000), Transport.counter + 4);
    } else {
      out.writeBigUInt64LE(counter, Transport.counter);
    }
    data.copy(out, Transport.payload, start, start + length);
    out.fill(0, Transport.payload + length, Transport.payload + padded);
    const unsealed = this.outputs.transmitUnsealed;
    if (!unsealed) {
      aeadSeal(
        keypair.sendKey,
        BigInt(counter),
        out.subarray(Transport.payload, Transport.payload + padded),
        null,
        out.subarray(Transport.payload, total),
      );
    }
    peer.txBytes += total;
    timers.onAuthenticatedPacketTraversal(peer, now);
    timers.onAuthenticatedPacketSent(peer);
    if (length > 0) timers.onDataSent(peer, now);
    if (unsealed) unsealed(out, total, keypair.sendKey, endpoint);
    else this.outputs.transmit(out.subarray(0, total), endpoint);
  }

  /**
   * Data packets for `peer` that data-plane worker threads sent under its current keypair since the
   * last call: the timers and the rekey-on-send check our own sends would have run.
   */
  noteDataSentByWorkers(peer: Peer, now: number): void {
    timers.onAuthenticatedPacketTraversal(peer, now);
    timers.onAuthenticatedPacketSent(peer);
    timers.onDataSent(peer, now);
    this.keepKeyFreshOnSend(peer, now);
  }

  /** Rekey on send: after REKEY_AFTER_MESSAGES, or REKEY_AFTER_TIME for the initiator (docs/protocol.md 1.7). */
  private keepKeyFreshOnSend(peer: Peer, now: number): void {
    const keypair = peer.current;
    if (!keypair || !keypair.valid) return;
    if (
      keypair.sendCounterAbove(REKEY_AFTER_MESSAGES_LIMIT) ||
      (keypair.isInitiator && keypair.ageAt(now) > REKEY_AFTER_TIME)
    ) {
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
    const message = this.handshakes.createInitiation(peer, now, this.unixMs(now));
    if (!message) return;
    timers.onAuthenticatedPacketTraversal(peer, now);
    timers.onAuthenticatedPacketSent(peer);
    peer.txBytes += message.length;
    this.outputs.transmit(message, peer.endpoint!);
    timers.onHandshakeInitiated(peer, now);
    this.outputs.event?.({ type: 'handshake-initiated', peer, retry: isRetry });
  }

  /**
   * A session made with the current key during a rotation (the peer initiated, or we fell back) gets
   * another try with the next key shortly, unless the peer already ignored it twice this round.
   */
  private scheduleMoveToNextKey(peer: Peer, now: number): void {
    if (
      this.identities.next &&
      peer.localKeyInUse === 'current' &&
      peer.unansweredNextKeyInitiations < NEXT_KEY_ATTEMPTS
    ) {
      peer.deadlines.rotateKey = now + REKEY_TIMEOUT;
    }
  }

  // ---- inbound ------------------------------------------------------------------------------

  /** A UDP datagram from `source`. Never throws; anything not accepted is counted in `drops`. */
  /**
   * `opened`: an I/O shell that opens transport payloads in batches (with transportReceiveKey) has
   * already authenticated and decrypted this transport datagram's payload in place.
   */
  receiveDatagram(datagram: Buffer, source: Endpoint, now: number, opened = false): void {
    this.receiveDatagramAt(datagram, 0, datagram.length, source, now, opened);
  }

  /** receiveDatagram for the datagram at data[offset, offset + length): transport makes no view. */
  receiveDatagramAt(data: Buffer, offset: number, length: number, source: Endpoint, now: number, opened = false): void {
    const type = classifyDatagram(data, offset, length);
    switch (type) {
      case MessageType.Transport:
        return this.receiveTransport(data, offset, length, source, now, opened);
      case MessageType.Initiation:
      case MessageType.Response:
        return this.receiveHandshake(type, data.subarray(offset, offset + length), source, now);
      case MessageType.CookieReply:
        return this.receiveCookieReply(data.subarray(offset, offset + length), now);
      default:
        return this.drop(type as DropReason);
    }
  }

  private receiveHandshake(type: number, message: Buffer, source: Endpoint, now: number): void {
    const admission = this.handshakes.admit(message, source, now);
    if ('drop' in admission) {
      if (admission.cookieReply) {
        this.outputs.transmit(admission.cookieReply, source);
        this.outputs.event?.({ type: 'cookie-sent', endpoint: source });
      }
      return this.drop(admission.drop);
    }
    if (type === MessageType.Initiation)
      this.receiveInitiation(admission.slot, admission.identity, message, source, now);
    else this.receiveResponse(admission.slot, admission.identity, message, source, now);
  }

  private receiveInitiation(
    slot: KeySlot,
    identity: LocalIdentity,
    message: Buffer,
    source: Endpoint,
    now: number,
  ): void {
    const accepted = this.handshakes.consumeInitiation(slot, identity, message, now);
    if (typeof accepted === 'string') return this.drop(accepted);
    const { peer, consumed } = accepted;
    peer.rxBytes += message.length;
    this.updateEndpoint(peer, source);
    timers.onAuthenticatedPacketReceived(peer);
    timers.onAuthenticatedPacketTraversal(peer, now);

    const response = this.handshakes.createResponse(peer, consumed, slot, message, now);
    if (!response) return this.drop('handshake-decrypt-failed');
    // Responder: the new keypair waits in `next` until the initiator's first packet confirms it.
    this.discardKeypair(peer.next);
    this.discardKeypair(peer.previous);
    peer.previous = null;
    peer.next = response.keypair;
    this.holdBackIfSuperseded(peer, slot, now);
    timers.onAuthenticatedPacketTraversal(peer, now);
    timers.onAuthenticatedPacketSent(peer);
    timers.onSessionDerived(peer, now);
    peer.txBytes += response.message.length;
    this.outputs.transmit(response.message, peer.endpoint!);
  }

  /**
   * A peer that initiates to another of our keys than the one behind our session with it has
   * re-created its entry for that key (a one-key device does, at the end of our rotation) and so
   * dropped the session. What we send until its first packet confirms the new one is staged, not
   * sealed for a session it cannot open; our own initiation would only race the one in flight
   * (the kernel counts a sent response as a sent handshake too).
   */
  private holdBackIfSuperseded(peer: Peer, slot: KeySlot, now: number): void {
    const session = peer.current;
    if (!session || (!session.retiredLocalKey && session.localKey === slot)) return;
    session.expireForSending();
    peer.lastSentHandshakeAt = now;
  }

  private receiveResponse(
    slot: KeySlot,
    identity: LocalIdentity,
    message: Buffer,
    source: Endpoint,
    now: number,
  ): void {
    const accepted = this.handshakes.consumeResponse(slot, identity, message, now);
    if (typeof accepted === 'string') return this.drop(accepted);
    const { peer, keypair } = accepted;
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
    timers.onAuthenticatedPacketReceived(peer);
    timers.onAuthenticatedPacketTraversal(peer, now);
    timers.onHandshakeComplete(peer, this.unixMs(now));
    timers.onSessionDerived(peer, now);
    this.outputs.event?.({ type: 'handshake-complete', peer, role: 'initiator' });
    this.scheduleMoveToNextKey(peer, now);
    // The keepalive (or queued data) gives the responder its key confirmation.
    this.sendKeepalive(peer, now);
  }

  private receiveCookieReply(reply: Buffer, now: number): void {
    if (!this.handshakes.consumeCookieReply(reply, now)) this.drop('invalid-cookie-reply');
  }

  /**
   * For an I/O shell that opens transport payloads in batches: the receive key of the keypair the
   * transport datagram at data[offset..] is addressed to, or null (pass that one unopened).
   */
  transportReceiveKey(data: Uint8Array, offset: number, now: number): Uint8Array | null {
    const keypair = this.indices.get(readUint32(data, offset + Transport.receiverIndex))?.keypair;
    return keypair && keypair.canReceive(now) ? keypair.receiveKey : null;
  }

  /**
   * For an I/O shell that checks mac1 for a whole batch at once: our keys' mac1 keys, current then
   * next, into `out` (64 bytes); returns the mask of those that exist (bit 0 current, bit 1 next).
   */
  mac1Keys(out: Buffer): number {
    let mask = 0;
    for (const [bit, slot] of [
      [0, 'current'],
      [1, 'next'],
    ] as const) {
      const identity = this.identities[slot];
      if (!identity) continue;
      identity.cookies.mac1Key.copy(out, bit * 32);
      mask |= 1 << bit;
    }
    return mask;
  }

  /**
   * For an I/O shell that answers valid-mac1 handshakes without a mac2 itself: under load, the keys to
   * seal cookie replies from our key in `slot` with; otherwise null, and they go to receiveDatagram.
   */
  cookieReplyKeys(slot: KeySlot, now: number): CookieReplyKeys | null {
    const identity = this.identities[slot];
    return identity && this.handshakes.isUnderLoad(now, 0) ? identity.cookies.replyKeys(now) : null;
  }

  /** Counts `count` handshakes the I/O shell answered with cookie replies (arrivals, cookie-required drops). */
  countCookieReplies(count: number, now: number): void {
    this.handshakes.isUnderLoad(now, count);
    this.countDrops('cookie-required', count);
  }

  private receiveTransport(
    data: Buffer,
    offset: number,
    length: number,
    source: Endpoint,
    now: number,
    opened: boolean,
  ): void {
    const entry = this.indices.get(readUint32(data, offset + Transport.receiverIndex));
    const keypair = entry?.keypair;
    if (!entry || !keypair) return this.drop('unknown-index');
    if (!keypair.canReceive(now)) return this.drop('expired-keypair');
    const plaintextLength = length - TRANSPORT_HEADER_LENGTH - 16;
    // Batch-opened payloads are read in place: no copy, no view and no BigInt per packet.
    let plaintext = data;
    let start = offset + Transport.payload;
    if (!opened) {
      plaintext = this.rxScratch;
      start = 0;
      const counter = data.readBigUInt64LE(offset + Transport.counter);
      const into = this.rxScratch.subarray(0, plaintextLength);
      const sealed = data.subarray(offset + Transport.payload, offset + length);
      if (!aeadOpen(keypair.receiveKey, counter, sealed, null, into)) return this.drop('decrypt-failed');
    }
    // Only now, after authentication, may the packet move the replay window (docs/protocol.md 1.8).
    const low = data.readUInt32LE(offset + Transport.counter);
    const high = data.readUInt32LE(offset + Transport.counter + 4);
    if (!keypair.replay.validateHalves(low, high)) return this.drop('replayed-counter');
    const peer = entry.peer;
    this.updateEndpoint(peer, source);
    peer.rxBytes += length;
    if (keypair === peer.next) this.confirmNextKeypair(peer, now);
    this.keepKeyFreshOnReceive(peer, now);
    timers.onAuthenticatedPacketReceived(peer);
    timers.onAuthenticatedPacketTraversal(peer, now);
    if (plaintextLength === 0) return; // keepalive
    timers.onDataReceived(peer, now);

    const innerLength = innerPacketLength(plaintext, start, plaintextLength);
    if (innerLength === 0) return this.drop('invalid-inner-packet');
    const version = plaintext[start]! >> 4;
    const owner =
      version === 4
        ? this.allowedIps.lookupIPv4(plaintext, start + 12)
        : this.allowedIps.lookupIPv6(plaintext, start + 8);
    if (owner !== peer) return this.drop('source-not-allowed');
    if (this.outputs.deliverSpan) this.outputs.deliverSpan(plaintext, start, innerLength, peer);
    else this.outputs.deliver(plaintext.subarray(start, start + innerLength), peer);
  }

  /** The responder's first packet under `next`: it becomes current (kernel wg_noise_received_with_keypair). */
  private confirmNextKeypair(peer: Peer, now: number): void {
    this.discardKeypair(peer.previous);
    peer.previous = peer.current;
    peer.current = peer.next;
    peer.next = null;
    peer.localKeyInUse = peer.current!.localKey;
    timers.onHandshakeComplete(peer, this.unixMs(now));
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

  private discardKeypair(keypair: Keypair | null): void {
    if (!keypair) return;
    this.indices.delete(keypair.localIndex);
    keypair.wipe();
  }

  private zeroKeyMaterial(peer: Peer): void {
    this.handshakes.release(peer);
    for (const keypair of peer.keypairs()) this.discardKeypair(keypair);
    peer.previous = peer.current = peer.next = null;
    peer.deadlines.zeroKeyMaterial = null;
  }

  /** Counts datagrams dropped for `reason`; the I/O shell reports its own drops here too. */
  countDrops(reason: DropReason, count: number): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + count);
  }

  private drop(reason: DropReason): void {
    this.countDrops(reason, 1);
  }
}

/**
 * The IP total length of the decrypted packet at data[start, start + available), or 0 if it is not
 * a well-formed IPv4/IPv6 header.
 */
function innerPacketLength(data: Uint8Array, start: number, available: number): number {
  const version = available > 0 ? data[start]! >> 4 : 0;
  let length = 0;
  if (version === 4 && available >= 20) length = (data[start + 2]! << 8) | data[start + 3]!;
  else if (version === 6 && available >= 40) length = 40 + ((data[start + 4]! << 8) | data[start + 5]!);
  const minimum = version === 4 ? 20 : 40;
  return length >= minimum && length <= available ? length : 0;
}
