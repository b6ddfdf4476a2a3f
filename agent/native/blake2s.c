/*
 * Keyed BLAKE2s (RFC 7693), the MAC of WireGuard's mac1, mac2 and cookies. Neither node:crypto nor
 * libsodium exposes keyed or short-output BLAKE2s, and the pure-JS fallback costs about 20 times more
 * per MAC (bench/cookie.ts), which is what a handshake flood made the responder spend its CPU on.
 * OpenSSL 3's BLAKE2SMAC would do too, but only through the OpenSSL symbols of whichever Node loads
 * the addon; this file has no such dependency. One-shot only: every WireGuard MAC input is in one
 * buffer.
 *
 *  - macInto(key, input, inputLength, out, outOffset, outLength): BLAKE2s(key, input[0:inputLength])
 *    written to out[outOffset:outOffset+outLength]; key 0..32 bytes, outLength 1..32.
 *  - macVerify(key, message, length): whether the 16-byte MAC of message[0:length] equals
 *    message[length:length+16], compared in constant time (mac1 and mac2 sit right after what they
 *    cover). No allocation, so a rejected packet costs only the hash.
 */
#define NAPI_VERSION 8
#include "blake2s.h"

#include <stdint.h>
#include <string.h>

#define BLOCK 64
#define MAX_OUT 32
#define MAX_KEY 32
#define MAC_LENGTH 16

static const uint32_t IV[8] = {
  0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
};

static const uint8_t SIGMA[10][16] = {
  {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
  {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
  {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
  {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
  {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
  {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
  {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
  {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
  {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
  {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

static inline uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#define G(a, b, c, d, x, y)      \
  do {                           \
    a = a + b + (x);             \
    d = rotr32(d ^ a, 16);       \
    c = c + d;                   \
    b = rotr32(b ^ c, 12);       \
    a = a + b + (y);             \
    d = rotr32(d ^ a, 8);        \
    c = c + d;                   \
    b = rotr32(b ^ c, 7);        \
  } while (0)

/* RFC 7693 section 3.2: F(h, m, t, f). `bytes` is the counter t after this block. */
static void compress(uint32_t h[8], const uint8_t block[BLOCK], uint64_t bytes, int last) {
  uint32_t m[16], v[16];
  for (int i = 0; i < 16; i++) m[i] = load32(block + 4 * i);
  for (int i = 0; i < 8; i++) {
    v[i] = h[i];
    v[i + 8] = IV[i];
  }
  v[12] ^= (uint32_t)bytes;
  v[13] ^= (uint32_t)(bytes >> 32);
  if (last) v[14] = ~v[14];
  /* Unrolled, the message schedule indexes are constants and v stays in registers (~18% faster). */
#pragma GCC unroll 10
  for (int r = 0; r < 10; r++) {
    const uint8_t *s = SIGMA[r];
    G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
    G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
    G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
    G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
    G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
    G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
    G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
    G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
  }
  for (int i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

/* Zeroing the optimiser may not remove: key material passes through the stack. */
static void wipe(void *p, size_t n) {
  volatile uint8_t *b = (volatile uint8_t *)p;
  while (n--) *b++ = 0;
}

static void initial_state(uint32_t h[8], size_t out_length, size_t key_length) {
  memcpy(h, IV, 8 * sizeof h[0]);
  h[0] ^= 0x01010000 ^ ((uint32_t)key_length << 8) ^ (uint32_t)out_length;
}

/* The key, zero-padded, is the first block (the last one when there is no input). */
static void key_block(uint32_t h[8], const uint8_t *key, size_t key_length, int last) {
  uint8_t block[BLOCK];
  memset(block, 0, BLOCK);
  memcpy(block, key, key_length);
  compress(h, block, BLOCK, last);
  wipe(block, sizeof block);
}

static void output(uint32_t h[8], uint8_t *out, size_t out_length) {
  uint8_t digest[MAX_OUT];
  for (int i = 0; i < 8; i++) {
    digest[4 * i] = (uint8_t)h[i];
    digest[4 * i + 1] = (uint8_t)(h[i] >> 8);
    digest[4 * i + 2] = (uint8_t)(h[i] >> 16);
    digest[4 * i + 3] = (uint8_t)(h[i] >> 24);
  }
  memcpy(out, digest, out_length);
  wipe(digest, sizeof digest);
  wipe(h, 8 * sizeof h[0]);
}

/* The input blocks after `bytes` already compressed, the last one padded, then the digest. */
static void finish(uint32_t h[8], uint64_t bytes, const uint8_t *in, size_t in_length, uint8_t *out,
                   size_t out_length) {
  uint8_t block[BLOCK];
  while (in_length > BLOCK) {
    bytes += BLOCK;
    compress(h, in, bytes, 0);
    in += BLOCK;
    in_length -= BLOCK;
  }
  memset(block, 0, BLOCK);
  memcpy(block, in, in_length);
  bytes += in_length;
  compress(h, block, bytes, 1);
  wipe(block, sizeof block);
  output(h, out, out_length);
}

void blake2s_keyed_init(blake2s_keyed *state, size_t out_length, const uint8_t *key, size_t key_length) {
  initial_state(state->h, out_length, key_length);
  key_block(state->h, key, key_length, 0);
  state->out_length = out_length;
}

void blake2s_keyed_mac(uint8_t *out, const blake2s_keyed *state, const uint8_t *in, size_t in_length) {
  uint32_t h[8];
  memcpy(h, state->h, sizeof h);
  finish(h, BLOCK, in, in_length, out, state->out_length);
}

void blake2s(uint8_t *out, size_t out_length, const uint8_t *key, size_t key_length, const uint8_t *in,
             size_t in_length) {
  if (key_length > 0 && in_length > 0) {
    blake2s_keyed state;
    blake2s_keyed_init(&state, out_length, key, key_length);
    blake2s_keyed_mac(out, &state, in, in_length);
    wipe(&state, sizeof state);
    return;
  }
  uint32_t h[8];
  initial_state(h, out_length, key_length);
  if (key_length > 0) {
    key_block(h, key, key_length, 1);
    output(h, out, out_length);
  } else {
    finish(h, 0, in, in_length, out, out_length);
  }
}

static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  return napi_get_typedarray_info(env, value, &type, length, (void **)data, &buffer, &offset) == napi_ok &&
         type == napi_uint8_array;
}

static int size_of(napi_env env, napi_value value, size_t *out) {
  int64_t n;
  if (napi_get_value_int64(env, value, &n) != napi_ok || n < 0) return 0;
  *out = (size_t)n;
  return 1;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

/* macInto(key, input, inputLength, out, outOffset, outLength) */
napi_value blake2s_mac_into(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) return fail(env, "macInto: 6 arguments");
  uint8_t *key, *in, *out;
  size_t key_length, in_size, in_length, out_size, out_offset, out_length;
  if (!bytes_of(env, argv[0], &key, &key_length) || !bytes_of(env, argv[1], &in, &in_size) ||
      !size_of(env, argv[2], &in_length) || !bytes_of(env, argv[3], &out, &out_size) ||
      !size_of(env, argv[4], &out_offset) || !size_of(env, argv[5], &out_length)) {
    return fail(env, "macInto(key, input, inputLength, out, outOffset, outLength): bad argument types");
  }
  if (key_length > MAX_KEY) return fail(env, "macInto: key longer than 32 bytes");
  if (in_length > in_size) return fail(env, "macInto: inputLength beyond input");
  if (out_length == 0 || out_length > MAX_OUT || out_offset > out_size || out_size - out_offset < out_length) {
    return fail(env, "macInto: output does not fit");
  }
  blake2s(out + out_offset, out_length, key, key_length, in, in_length);
  return NULL;
}

/* macVerify(key, message, length) -> boolean */
napi_value blake2s_mac_verify(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return fail(env, "macVerify: 3 arguments");
  uint8_t *key, *message;
  size_t key_length, message_size, length;
  if (!bytes_of(env, argv[0], &key, &key_length) || !bytes_of(env, argv[1], &message, &message_size) ||
      !size_of(env, argv[2], &length)) {
    return fail(env, "macVerify(key, message, length): bad argument types");
  }
  if (key_length > MAX_KEY) return fail(env, "macVerify: key longer than 32 bytes");
  if (length > message_size || message_size - length < MAC_LENGTH) return fail(env, "macVerify: no MAC after length");
  uint8_t computed[MAC_LENGTH];
  blake2s(computed, MAC_LENGTH, key, key_length, message, length);
  uint8_t difference = 0;
  for (int i = 0; i < MAC_LENGTH; i++) difference |= computed[i] ^ message[length + i];
  wipe(computed, sizeof computed);
  napi_value result;
  napi_get_boolean(env, difference == 0, &result);
  return result;
}
