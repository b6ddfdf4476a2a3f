/** Text encodings of 32-byte WireGuard keys: base64 (wg, configs) and lowercase hex (UAPI). */
import { KEY_LENGTH } from './primitives';

const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;
const HEX_KEY = /^[0-9a-f]{64}$/;

export class KeyFormatError extends Error {}

/** Decodes a base64 key exactly as `wg` accepts it; the message never echoes the input. */
export function keyFromBase64(text: string): Buffer {
  const trimmed = text.trim();
  if (!BASE64_KEY.test(trimmed)) {
    throw new KeyFormatError(`a key must be ${KEY_LENGTH} bytes in base64 (44 characters ending in "=")`);
  }
  return Buffer.from(trimmed, 'base64');
}

export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

export function keyFromHex(text: string): Buffer {
  if (!HEX_KEY.test(text)) throw new KeyFormatError(`a key must be ${KEY_LENGTH * 2} lowercase hex characters`);
  return Buffer.from(text, 'hex');
}

export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}
