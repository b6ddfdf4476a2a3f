/*
 * Batched ChaCha20-Poly1305 (RFC 8439) with WireGuard's transport nonce (32 zero bits, then the
 * 64-bit little-endian counter), over OpenSSL's EVP interface: the OpenSSL that Node links and
 * exports to addons. One N-API call seals or opens a whole batch of packets with one key, so the
 * per-packet cost is the cipher itself rather than a JS -> native crossing. Measured against one
 * sodium-native call per packet in bench/aead.ts.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "aead_batch.h"

static EVP_CIPHER_CTX *context(void) {
  static __thread EVP_CIPHER_CTX *ctx; /* one per data-plane thread */
  if (!ctx) ctx = EVP_CIPHER_CTX_new();
  return ctx;
}

static void nonce_of(uint64_t counter, uint8_t nonce[12]) {
  memset(nonce, 0, 4);
  for (int i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

static int get_buffer(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

/*
 * aeadBatch(seal, key, data, spans, counters, count) -> packets done. spans: u32 (offset, length)
 * of each plaintext (seal) or ciphertext with its tag (open) in data; counters: u64 LE per packet.
 * Sealing writes the ciphertext in place and the 16-byte tag right after the plaintext (the span
 * needs 16 bytes of room behind it). Opening decrypts in place and stops at the first packet that
 * fails authentication, returning its index.
 */
napi_value aead_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  bool seal;
  uint8_t *key, *data, *span_bytes, *counter_bytes;
  size_t key_length, data_length, spans_length, counters_length;
  int64_t count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 ||
      napi_get_value_bool(env, argv[0], &seal) != napi_ok || !get_buffer(env, argv[1], &key, &key_length) || key_length != 32 ||
      !get_buffer(env, argv[2], &data, &data_length) || !get_buffer(env, argv[3], &span_bytes, &spans_length) ||
      !get_buffer(env, argv[4], &counter_bytes, &counters_length) || napi_get_value_int64(env, argv[5], &count) != napi_ok ||
      count < 0 || (size_t)count * 8 > spans_length || (size_t)count * 8 > counters_length) {
    napi_throw_type_error(env, NULL, "aeadBatch(seal, key, data, spans, counters, count)");
    return NULL;
  }
  EVP_CIPHER_CTX *ctx = context();
  napi_value result;
  int64_t done = 0;
  if (!ctx || !EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, NULL, seal ? 1 : 0)) goto out;
  for (; done < count; done++) {
    uint32_t offset, length;
    uint64_t counter;
    memcpy(&offset, span_bytes + done * 8, 4);
    memcpy(&length, span_bytes + done * 8 + 4, 4);
    memcpy(&counter, counter_bytes + done * 8, 8);
    size_t text = seal ? length : length - 16;
    if ((!seal && length < 16) || (size_t)offset + text + 16 > data_length) break;
    uint8_t nonce[12];
    nonce_of(counter, nonce);
    uint8_t *p = data + offset;
    int n;
    if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1)) break;
    if (!seal && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, p + text)) break;
    if (!EVP_CipherUpdate(ctx, p, &n, p, (int)text)) break;
    if (!EVP_CipherFinal_ex(ctx, p + n, &n)) break; /* open: authentication failed */
    if (seal && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, p + text)) break;
  }
out:
  napi_create_int64(env, done, &result);
  return result;
}
