// The subset of sodium-native that wiremesh uses. The published @types package predates the
// IETF ChaCha20-Poly1305 functions, so we declare what we call ourselves.
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  export function randombytes_buf(buffer: Bytes): void;
  export function sodium_memzero(buffer: Bytes): void;
  export function sodium_memcmp(a: Bytes, b: Bytes): boolean;
  export function crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
  export function crypto_scalarmult_base(q: Bytes, n: Bytes): void;
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Bytes,
    m: Bytes,
    ad: Bytes | null,
    nsec: null,
    npub: Bytes,
    k: Bytes,
  ): number;
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Bytes,
    nsec: null,
    c: Bytes,
    ad: Bytes | null,
    npub: Bytes,
    k: Bytes,
  ): number;
  export function crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Bytes,
    m: Bytes,
    ad: Bytes | null,
    nsec: null,
    npub: Bytes,
    k: Bytes,
  ): number;
  export function crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Bytes,
    nsec: null,
    c: Bytes,
    ad: Bytes | null,
    npub: Bytes,
    k: Bytes,
  ): number;
}
