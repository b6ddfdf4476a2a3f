/**
 * mac1, mac2 and cookie replies (kernel src/cookie.c, wireguard-go device/cookie.go; docs/protocol.md 1.5).
 * The checker is the responder's side for one local static key; the generator is the initiator's
 * side for one peer.
 *
 * The checker is the path a handshake flood takes, so it is built to reject cheaply: mac1 is verified
 * in place (no allocation), mac2 is only computed when the sender sent one (non-zero), a source's
 * cookie is computed once per secret period and cached, and cookie replies are sealed into one
 * reused buffer.
 */
import {
  MAC_LENGTH,
  XAEAD_NONCE_LENGTH,
  hash,
  isAllZero,
  macInto,
  macVerify,
  randomBytes,
  randomFill,
  wipe,
  xaeadOpen,
  xaeadSealInto,
} from '../crypto/primitives';
import { COOKIE_SECRET_LATENCY, COOKIE_SECRET_MAX_AGE } from './constants';
import { endpointAddress } from './endpoint';
import { COOKIE_REPLY_LENGTH, CookieReply, MessageType, writeUint32 } from './messages';
import type { Endpoint } from './endpoint';

const LABEL_MAC1 = Buffer.from('mac1----');
const LABEL_COOKIE = Buffer.from('cookie--');
/** Address (4 or 16 bytes) and port (2). */
const MAX_SOURCE_LENGTH = 18;
/** Reply nonces drawn from the CSPRNG this many at a time: one call per nonce costs a third of a reply. */
const NONCES_PER_DRAW = 256;

/** mac1 covers everything before the two macs; mac2 covers everything before itself. */
function mac1Offset(message: Uint8Array): number {
  return message.length - 2 * MAC_LENGTH;
}
function mac2Offset(message: Uint8Array): number {
  return message.length - MAC_LENGTH;
}

/** A source's cookie, valid while the secret it was made from is. */
interface CachedCookie {
  cookie: Buffer;
  secretGeneration: number;
}

/** What an I/O shell needs to seal cookie replies for a whole batch itself (agent/native/cookie_batch.c). */
export interface CookieReplyKeys {
  /** HASH("cookie--" || our public key): the key cookie replies are sealed with. */
  cookieKey: Buffer;
  /** The current secret: a source's cookie is MAC(secret, address || port). */
  secret: Buffer;
}

/** Responder side: validates macs on incoming handshakes and issues cookie replies under load. */
export class CookieChecker {
  /** HASH("mac1----" || our public key), for an I/O shell's batch mac1 check. */
  readonly mac1Key: Buffer;
  private readonly cookieKey: Buffer;
  private secret: Buffer = Buffer.alloc(32);
  private secretBornAt = -Infinity;
  private secretGeneration = 0;
  /**
   * Keyed by endpoint object: the I/O shell hands the same object for the same source, so a flood
   * from one source costs one cookie per secret period; entries go with the shell's endpoints.
   */
  private readonly cookies = new WeakMap<Endpoint, CachedCookie>();
  private readonly sourceScratch = Buffer.alloc(MAX_SOURCE_LENGTH);
  private readonly mac1Scratch = Buffer.alloc(MAC_LENGTH);
  private readonly reply = Buffer.alloc(COOKIE_REPLY_LENGTH);
  private readonly replyNonce = this.reply.subarray(CookieReply.nonce, CookieReply.encryptedCookie);
  private readonly replyCiphertext = this.reply.subarray(CookieReply.encryptedCookie);
  private readonly nonces = Buffer.alloc(NONCES_PER_DRAW * XAEAD_NONCE_LENGTH);
  private noncesUsed = NONCES_PER_DRAW;

  constructor(localPublicKey: Uint8Array) {
    this.mac1Key = hash(LABEL_MAC1, localPublicKey);
    this.cookieKey = hash(LABEL_COOKIE, localPublicKey);
    writeUint32(this.reply, 0, MessageType.CookieReply);
  }

  isMac1Valid(message: Uint8Array): boolean {
    return macVerify(this.mac1Key, message, mac1Offset(message));
  }

  /** Whether the message carries a mac2 made with this source's current cookie (all zeros: none sent). */
  hasValidMac2(message: Uint8Array, source: Endpoint, now: number): boolean {
    const offset = mac2Offset(message);
    if (isAllZero(message, offset)) return false;
    const cookie = this.cookieFor(source, now);
    return cookie !== null && macVerify(cookie, message, offset);
  }

  /**
   * A cookie reply to `message` (whose sender index is `senderIndex`), or null when the source has no
   * address to make a cookie for. The buffer is reused by the next call.
   */
  createReply(message: Uint8Array, senderIndex: number, source: Endpoint, now: number): Buffer | null {
    const cookie = this.cookieFor(source, now);
    if (!cookie) return null;
    writeUint32(this.reply, CookieReply.receiverIndex, senderIndex);
    this.nextNonce();
    // The AD is the mac1 we answer; copied so no view of the message is allocated.
    const mac1 = mac1Offset(message);
    for (let i = 0; i < MAC_LENGTH; i++) this.mac1Scratch[i] = message[mac1 + i]!;
    xaeadSealInto(this.replyCiphertext, this.cookieKey, this.replyNonce, cookie, this.mac1Scratch);
    return this.reply;
  }

  /** The reply keys as of `now` (the secret rotated when due), for sealing replies in batches. */
  replyKeys(now: number): CookieReplyKeys {
    this.rotateSecret(now);
    return { cookieKey: this.cookieKey, secret: this.secret };
  }

  /** A fresh random nonce into the reply, each one used once. */
  private nextNonce(): void {
    if (this.noncesUsed === NONCES_PER_DRAW) {
      randomFill(this.nonces);
      this.noncesUsed = 0;
    }
    const start = this.noncesUsed++ * XAEAD_NONCE_LENGTH;
    for (let i = 0; i < XAEAD_NONCE_LENGTH; i++) this.replyNonce[i] = this.nonces[start + i]!;
  }

  /** The cookie for a source: MAC(secret, address || port), the secret regenerated every 120 s. */
  private cookieFor(source: Endpoint, now: number): Buffer | null {
    this.rotateSecret(now);
    const cached = this.cookies.get(source);
    if (cached && cached.secretGeneration === this.secretGeneration) return cached.cookie;
    const address = endpointAddress(source);
    if (!address) return null;
    const length = address.length + 2;
    this.sourceScratch.set(address);
    this.sourceScratch.writeUInt16BE(source.port, address.length);
    const entry = cached ?? { cookie: Buffer.alloc(MAC_LENGTH), secretGeneration: 0 };
    macInto(this.secret, this.sourceScratch, length, entry.cookie, 0);
    entry.secretGeneration = this.secretGeneration;
    if (!cached) this.cookies.set(source, entry);
    return entry.cookie;
  }

  private rotateSecret(now: number): void {
    if (now - this.secretBornAt < COOKIE_SECRET_MAX_AGE) return;
    wipe(this.secret);
    this.secret = randomBytes(32);
    this.secretBornAt = now;
    this.secretGeneration++;
  }
}

/** Initiator side: adds macs to outgoing handshakes and remembers the latest cookie. */
export class CookieGenerator {
  private readonly mac1Key: Buffer;
  private readonly cookieKey: Buffer;
  private cookie: Buffer | null = null;
  private cookieReceivedAt = -Infinity;
  private lastMac1Sent: Buffer | null = null;

  constructor(remotePublicKey: Uint8Array) {
    this.mac1Key = hash(LABEL_MAC1, remotePublicKey);
    this.cookieKey = hash(LABEL_COOKIE, remotePublicKey);
  }

  /** Writes mac1 and, if a fresh cookie is held, mac2 into the last 32 bytes of `message`. */
  addMacs(message: Buffer, now: number): void {
    const offset1 = mac1Offset(message);
    macInto(this.mac1Key, message, offset1, message, offset1);
    this.lastMac1Sent = Buffer.from(message.subarray(offset1, offset1 + MAC_LENGTH));
    const offset2 = mac2Offset(message);
    if (this.cookie && now - this.cookieReceivedAt < COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) {
      macInto(this.cookie, message, offset2, message, offset2);
    } else {
      message.fill(0, offset2);
    }
  }

  /** Stores the cookie from a reply to our last handshake. Returns false if it does not decrypt. */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (!this.lastMac1Sent) return false;
    const cookie = xaeadOpen(
      this.cookieKey,
      reply.subarray(CookieReply.nonce, CookieReply.encryptedCookie),
      reply.subarray(CookieReply.encryptedCookie),
      this.lastMac1Sent,
    );
    if (!cookie) return false;
    wipe(this.cookie);
    this.cookie = cookie;
    this.cookieReceivedAt = now;
    // One reply per sent mac1, as the kernel's have_sent_mac1 flag enforces.
    this.lastMac1Sent = null;
    return true;
  }

  clear(): void {
    wipe(this.cookie);
    this.cookie = null;
    this.lastMac1Sent = null;
  }
}
