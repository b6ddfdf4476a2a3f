/**
 * The text form of a WireGuard key: 32 bytes in standard base64, 44 characters. The last character
 * before `=` carries only 2 bits, so it is one of 16 letters (wg(8) rejects the others).
 */
export const WIREGUARD_KEY_PATTERN = '[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=';

/** A string that is exactly one key (JSON Schema `pattern` form: {@link WIREGUARD_KEY_SCHEMA_PATTERN}). */
export const WIREGUARD_KEY_EXACT = new RegExp(`^${WIREGUARD_KEY_PATTERN}$`);
export const WIREGUARD_KEY_SCHEMA_PATTERN = `^${WIREGUARD_KEY_PATTERN}$`;
/** What a field that fails the key pattern is told. */
export const WIREGUARD_KEY_MESSAGE = 'must be a base64 WireGuard key (44 characters ending in "=")';

/** A key anywhere in a text, not as part of a longer base64 run (for leak checks). */
export function wireguardKeysIn(text: string): RegExpMatchArray[] {
  return [...text.matchAll(new RegExp(`(?<![A-Za-z0-9+/])${WIREGUARD_KEY_PATTERN}(?![A-Za-z0-9+/=])`, 'g'))];
}

/**
 * Clamps 32 bytes into an X25519 private key (RFC 7748 §5: clear bits 0-2 and 255, set bit 254),
 * exactly as `wg genkey` does. Returns a new array; the input is not modified.
 */
export function clampPrivateKey(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 32) throw new Error(`an X25519 private key is 32 bytes, got ${bytes.length}`);
  const key = Uint8Array.from(bytes);
  key[0]! &= 248;
  key[31]! &= 127;
  key[31]! |= 64;
  return key;
}

/**
 * `text` with every key in it replaced, even one inside a longer run: for messages built from
 * input that may hold a key in the wrong place (a pasted key in an address, a YAML syntax error).
 */
export function withoutKeys(text: string): string {
  return text.replace(new RegExp(WIREGUARD_KEY_PATTERN, 'g'), '(a key)');
}
