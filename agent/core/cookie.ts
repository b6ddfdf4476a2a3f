/**
 * mac1, mac2 and cookie replies (kernel src/cookie.c, wireguard-go device/cookie.go; docs/protocol.md 1.5).
 * The checker is the responder's side for one local static key; the generator is the initiator's
 * side for one peer.
 */
import {
  MAC_LENGTH, XAEAD_NONCE_LENGTH, constantTimeEqual, hash, mac, randomBytes, wipe, xaeadOpen, xaeadSeal,
} from '../crypto/primitives';
import { COOKIE_SECRET_LATENCY, COOKIE_SECRET_MAX_AGE } from './constants';
import { COOKIE_REPLY_LENGTH, CookieReply, MessageType, writeUint32 } from './messages';

const LABEL_MAC1 = Buffer.from('mac1----');
const LABEL_COOKIE = Buffer.from('cookie--');

/** mac1 covers everything before the two macs; mac2 covers everything before itself. */
function mac1Offset(message: Uint8Array): number {
  return message.length - 2 * MAC_LENGTH;
}
function mac2Offset(message: Uint8Array): number {
  return message.length - MAC_LENGTH;
}

/** Responder side: validates macs on incoming handshakes and issues cookie replies under load. */
export class CookieChecker {
  private readonly mac1Key: Buffer;
  private readonly cookieKey: Buffer;
  private secret: Buffer = Buffer.alloc(32);
  private secretBornAt = -Infinity;

  constructor(localPublicKey: Uint8Array) {
    this.mac1Key = hash(LABEL_MAC1, localPublicKey);
    this.cookieKey = hash(LABEL_COOKIE, localPublicKey);
  }

  isMac1Valid(message: Uint8Array): boolean {
    const offset = mac1Offset(message);
    return constantTimeEqual(mac(this.mac1Key, message.subarray(0, offset)), message.subarray(offset, offset + MAC_LENGTH));
  }

  /** `source` is the sender's address bytes followed by its port (network order). */
  isMac2Valid(message: Uint8Array, source: Uint8Array, now: number): boolean {
    const offset = mac2Offset(message);
    return constantTimeEqual(mac(this.cookieFor(source, now), message.subarray(0, offset)), message.subarray(offset));
  }

  /** A 64-byte cookie reply to `message`, whose sender index is `senderIndex`. */
  createReply(message: Uint8Array, senderIndex: number, source: Uint8Array, now: number): Buffer {
    const reply = Buffer.alloc(COOKIE_REPLY_LENGTH);
    writeUint32(reply, 0, MessageType.CookieReply);
    writeUint32(reply, CookieReply.receiverIndex, senderIndex);
    const nonce = randomBytes(XAEAD_NONCE_LENGTH);
    nonce.copy(reply, CookieReply.nonce);
    const mac1 = message.subarray(mac1Offset(message), mac2Offset(message));
    const cookie = this.cookieFor(source, now);
    xaeadSeal(this.cookieKey, nonce, cookie, mac1).copy(reply, CookieReply.encryptedCookie);
    wipe(cookie);
    return reply;
  }

  /** The cookie for a source: MAC(secret, source), the secret regenerated every 120 s. */
  private cookieFor(source: Uint8Array, now: number): Buffer {
    if (now - this.secretBornAt >= COOKIE_SECRET_MAX_AGE) {
      wipe(this.secret);
      this.secret = randomBytes(32);
      this.secretBornAt = now;
    }
    return mac(this.secret, source);
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
    const mac1 = mac(this.mac1Key, message.subarray(0, offset1));
    mac1.copy(message, offset1);
    this.lastMac1Sent = mac1;
    const offset2 = mac2Offset(message);
    if (this.cookie && now - this.cookieReceivedAt < COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) {
      mac(this.cookie, message.subarray(0, offset2)).copy(message, offset2);
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
