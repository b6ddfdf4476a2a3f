/**
 * WireGuard wire layouts (kernel src/messages.h). All integers are little-endian; byte 0 is the type
 * and bytes 1-3 must be zero, so the first four bytes are read as one u32.
 */
export const MessageType = {
  Initiation: 1,
  Response: 2,
  CookieReply: 3,
  Transport: 4,
} as const;

export const INITIATION_LENGTH = 148;
export const RESPONSE_LENGTH = 92;
export const COOKIE_REPLY_LENGTH = 64;
export const TRANSPORT_HEADER_LENGTH = 16;
/** The Poly1305 tag after a transport payload. */
export const TRANSPORT_TAG_LENGTH = 16;
/** Header plus the Poly1305 tag: the size of a keepalive. */
const TRANSPORT_MINIMUM_LENGTH = TRANSPORT_HEADER_LENGTH + TRANSPORT_TAG_LENGTH;

/** Plaintext length after padding to a multiple of 16, capped at the MTU (kernel calculate_skb_padding). */
export function paddedLength(length: number, mtu: number): number {
  const lastUnit = length > mtu ? length % mtu : length;
  const padded = Math.min((lastUnit + 15) & ~15, mtu);
  return length + Math.max(0, padded - lastUnit);
}

export const Initiation = {
  senderIndex: 4,
  ephemeral: 8,
  encryptedStatic: 40,
  encryptedTimestamp: 88,
  mac1: 116,
  mac2: 132,
} as const;

export const Response = {
  senderIndex: 4,
  receiverIndex: 8,
  ephemeral: 12,
  encryptedNothing: 44,
  mac1: 60,
  mac2: 76,
} as const;

export const CookieReply = {
  receiverIndex: 4,
  nonce: 8,
  encryptedCookie: 32,
} as const;

export const Transport = {
  receiverIndex: 4,
  counter: 8,
  payload: 16,
} as const;

/** Why a datagram was not accepted. Every drop in the core is counted under one of these. */
export type DropReason =
  | 'truncated'
  | 'unknown-type'
  | 'invalid-size'
  | 'no-private-key'
  | 'invalid-mac1'
  | 'cookie-required'
  | 'rate-limited'
  | 'handshake-decrypt-failed'
  | 'unknown-peer'
  | 'replayed-timestamp'
  | 'initiation-flood'
  | 'unexpected-response'
  | 'invalid-cookie-reply'
  | 'unknown-index'
  | 'expired-keypair'
  | 'decrypt-failed'
  | 'replayed-counter'
  | 'invalid-inner-packet'
  | 'source-not-allowed'
  | 'no-route'
  | 'no-endpoint'
  | 'staged-overflow'
  | 'handshake-gave-up'
  /** Over the I/O shell's handshake budget for one loop turn (a flood), dropped before any crypto. */
  | 'handshake-over-budget';

/**
 * Returns the message type when the datagram has a known type with zero reserved bytes and the
 * exact (or, for transport data, minimum) length of that type; otherwise the reason to drop it.
 */
export function classifyDatagram(bytes: Uint8Array, offset = 0, length = bytes.length): number | DropReason {
  if (length < 4) return 'truncated';
  const type = readUint32(bytes, offset);
  switch (type) {
    case MessageType.Initiation:
      return length === INITIATION_LENGTH ? type : 'invalid-size';
    case MessageType.Response:
      return length === RESPONSE_LENGTH ? type : 'invalid-size';
    case MessageType.CookieReply:
      return length === COOKIE_REPLY_LENGTH ? type : 'invalid-size';
    case MessageType.Transport:
      return length >= TRANSPORT_MINIMUM_LENGTH ? type : 'invalid-size';
    default:
      return 'unknown-type';
  }
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = (value >>> 24) & 0xff;
}
