/** Text encodings of 32-byte WireGuard keys: base64 (wg, configs) and lowercase hex (UAPI). */
import { WIREGUARD_KEY_EXACT } from '../../common/keys';
import { KEY_LENGTH } from './primitives';

export class KeyFormatError extends Error {}

/** Decodes a base64 key exactly as `wg` accepts it; the message never echoes the input. */
export function keyFromBase64(text: string): Buffer {
  const trimmed = text.trim();
  if (!WIREGUARD_KEY_EXACT.test(trimmed)) {
    throw new KeyFormatError(`a key must be ${KEY_LENGTH} bytes in base64 (44 characters ending in "=")`);
  }
  return Buffer.from(trimmed, 'base64');
}

export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}
