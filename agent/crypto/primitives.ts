/// <reference path="./sodium-native.d.ts" />
/**
 * Every cryptographic primitive WireGuard needs, behind one module so the choice of backend is made
 * once. Choices follow the costs measured in docs/crypto-costs.md:
 *  - ChaCha20-Poly1305, XChaCha20-Poly1305, X25519, randomness, wiping, constant-time compare:
 *    sodium-native (libsodium, 2.2 us per 1420 B seal vs 10 us for node:crypto).
 *  - BLAKE2s-256 and HMAC-BLAKE2s: node:crypto (OpenSSL), faster than any JS implementation.
 *  - Keyed BLAKE2s-128 (mac1, mac2, cookies): the native addon's, else @noble/hashes (./mac.ts),
 *    since neither OpenSSL's digests nor libsodium expose keyed or short-output BLAKE2s.
 */
import { clampPrivateKey as clampKeyBytes } from '../../common/keys';
import type * as NodeCrypto from 'node:crypto';
import sodium from 'sodium-native';
import { MAC_LENGTH, macBackend } from './mac';

export { MAC_LENGTH };

export const KEY_LENGTH = 32;
export const AEAD_TAG_LENGTH = 16;
export const XAEAD_NONCE_LENGTH = 24;

/** Fresh random bytes from libsodium's CSPRNG. */
export function randomBytes(length: number): Buffer {
  const out = Buffer.alloc(length);
  sodium.randombytes_buf(out);
  return out;
}

/** Fills `out` with random bytes, for scratch buffers that are reused. */
export function randomFill(out: Uint8Array): void {
  sodium.randombytes_buf(out);
}

// randomUint32 runs per data packet (the rekey timer's jitter): drawn from one reused pool, refilled
// from the CSPRNG, so no Buffer is made per call. Timer jitter and session indices are not secrets.
const randomPool = new Uint32Array(64);
const randomPoolBytes = new Uint8Array(randomPool.buffer);
let randomPoolNext = randomPool.length;

/** A uniformly random unsigned 32-bit integer. */
export function randomUint32(): number {
  if (randomPoolNext === randomPool.length) {
    sodium.randombytes_buf(randomPoolBytes);
    randomPoolNext = 0;
  }
  return randomPool[randomPoolNext++]!;
}

/** RFC 7748 clamping, as `wg genkey` and the kernel's curve25519_clamp_secret do. */
/** RFC 7748 clamping (common/keys.ts), as a Buffer over the clamped copy. */
export function clampPrivateKey(key: Uint8Array): Buffer {
  const clamped = clampKeyBytes(key);
  return Buffer.from(clamped.buffer, clamped.byteOffset, clamped.byteLength);
}

export function generatePrivateKey(): Buffer {
  const raw = randomBytes(KEY_LENGTH);
  const clamped = clampPrivateKey(raw);
  wipe(raw);
  return clamped;
}

export function publicKeyOf(privateKey: Uint8Array): Buffer {
  const out = Buffer.alloc(KEY_LENGTH);
  sodium.crypto_scalarmult_base(out, privateKey);
  return out;
}

/**
 * X25519(privateKey, publicKey). Returns null when the shared secret is all zeros (the peer sent a
 * low-order point), which must abort the handshake.
 */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Buffer | null {
  const out = Buffer.alloc(KEY_LENGTH);
  try {
    // libsodium refuses (throws) when the result is all zeros.
    sodium.crypto_scalarmult(out, privateKey, publicKey);
  } catch {
    return null;
  }
  return isAllZero(out) ? null : out;
}

let nodeCrypto: typeof NodeCrypto | undefined;
/**
 * node:crypto, loaded on first use: only the userspace engine hashes, and an agent on the kernel or
 * wireguard-go plane stays ~0.6 MiB smaller without it (bench/memory.ts).
 */
const openssl = (): typeof NodeCrypto => (nodeCrypto ??= require('node:crypto') as typeof NodeCrypto);

/** BLAKE2s-256 over the concatenation of the parts. */
export function hash(...parts: Uint8Array[]): Buffer {
  const h = openssl().createHash('blake2s256');
  for (const part of parts) h.update(part);
  return h.digest();
}

/** HMAC-BLAKE2s (RFC 2104, 64-byte block). */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = openssl().createHmac('blake2s256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

const ONE = Buffer.from([1]);

/** WireGuard's HKDF: tau0 = HMAC(key, input); tau_i = HMAC(tau0, tau_(i-1) || i). Returns tau_1..tau_n. */
export function kdf(count: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Buffer[] {
  const prk = hmac(key, input);
  const out: Buffer[] = [];
  let previous = hmac(prk, ONE);
  out.push(previous);
  for (let i = 2; i <= count; i++) {
    previous = hmac(prk, previous, Buffer.from([i]));
    out.push(previous);
  }
  wipe(prk);
  return out;
}

/** Keyed BLAKE2s with a 16-byte output: WireGuard's MAC(key, input). */
export function mac(key: Uint8Array, input: Uint8Array): Buffer {
  const out = Buffer.alloc(MAC_LENGTH);
  macBackend.macInto(key, input, input.length, out, 0, MAC_LENGTH);
  return out;
}

/** MAC(key, input[0:inputLength]) written at out[outOffset], allocating nothing. */
export function macInto(
  key: Uint8Array,
  input: Uint8Array,
  inputLength: number,
  out: Uint8Array,
  outOffset: number,
): void {
  macBackend.macInto(key, input, inputLength, out, outOffset, MAC_LENGTH);
}

/** Whether message[length : length+16] is MAC(key, message[0:length]), compared in constant time. */
export function macVerify(key: Uint8Array, message: Uint8Array, length: number): boolean {
  return macBackend.macVerify(key, message, length);
}

// One scratch nonce: JS is single-threaded and every call fills it completely before use.
const transportNonce = Buffer.alloc(12);

function setCounterNonce(counter: bigint): Buffer {
  transportNonce.writeUInt32LE(0, 0);
  transportNonce.writeBigUInt64LE(counter, 4);
  return transportNonce;
}

/**
 * ChaCha20-Poly1305 with WireGuard's nonce (32 zero bits, then the 64-bit little-endian counter).
 * `out` must be exactly plaintext.length + 16 bytes; it may start at the same address as
 * `plaintext` (in-place encryption).
 */
export function aeadSeal(
  key: Uint8Array,
  counter: bigint,
  plaintext: Uint8Array,
  ad: Uint8Array | null,
  out: Uint8Array,
): void {
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, setCounterNonce(counter), key);
}

/** Opens into `out` (ciphertext.length - 16 bytes). Returns false when authentication fails. */
export function aeadOpen(
  key: Uint8Array,
  counter: bigint,
  ciphertext: Uint8Array,
  ad: Uint8Array | null,
  out: Uint8Array,
): boolean {
  if (ciphertext.length < AEAD_TAG_LENGTH) return false;
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, setCounterNonce(counter), key);
    return true;
  } catch {
    return false;
  }
}

/** XChaCha20-Poly1305 into `out`, which must be exactly plaintext.length + 16 bytes. */
export function xaeadSealInto(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): void {
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
}

/** Returns the plaintext, or null when authentication fails. */
export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Buffer | null {
  if (ciphertext.length < AEAD_TAG_LENGTH) return null;
  const out = Buffer.alloc(ciphertext.length - AEAD_TAG_LENGTH);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce, key);
    return out;
  } catch {
    return null;
  }
}

/** Constant-time equality (the length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.sodium_memcmp(a, b);
}

/** Whether bytes[from:to] are all zero, in time that depends only on the length. */
export function isAllZero(bytes: Uint8Array, from = 0, to = bytes.length): boolean {
  let acc = 0;
  for (let i = from; i < to; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** Overwrites key material with zeros in a way the optimiser cannot remove. */
export function wipe(bytes: Uint8Array | null | undefined): void {
  if (bytes && bytes.length > 0) sodium.sodium_memzero(bytes);
}
