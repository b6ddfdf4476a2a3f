/*
 * The handshake-flood path of a responder under load, for a whole received batch in two calls
 * (agent/wg/handshake-fast-path.ts; the rules are the core's, agent/core/cookie.ts, docs/protocol.md 1.5):
 *
 * handshakeTriage(data, slot, meta, count, mac1Keys, keyMask, classes) -> handshakes without mac2
 *   Classifies every datagram of a recvBatch (meta records as recvBatch leaves them) into classes[i]:
 *   other (transport and the rest), cookie reply, handshake with no valid mac1 for any of our keys,
 *   handshake with a mac2 (the core decides), handshake without mac2 whose mac1 is valid for key 0 or
 *   key 1 (mac1Keys holds two 32-byte keys; keyMask says which exist). mac1 compared in constant time.
 *
 * cookieReplies(data, slot, meta, count, classes, wanted, cookieKey, secret, out, outMeta) -> replies
 *   For every datagram of class `wanted`: the 64-byte cookie reply (receiver = the sender's index,
 *   a random 24-byte nonce, XChaCha20-Poly1305 under cookieKey of the cookie MAC(secret, address ||
 *   port) with the message's mac1 as associated data) into out, and a sendBatch meta record back to
 *   its source into outMeta. The caller sends them with sendBatch.
 */
#define NAPI_VERSION 8
#include "cookie_batch.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "blake2s.h"

#define RECV_META 48
#define RECV_OFFSET 44
#define SEND_META 48
#define MAC_LENGTH 16
#define KEY_LENGTH 32
#define NONCE_LENGTH 24
#define INITIATION_LENGTH 148
#define RESPONSE_LENGTH 92
#define COOKIE_REPLY_LENGTH 64
#define MAX_NONCES 256

enum { CLASS_OTHER, CLASS_COOKIE_REPLY, CLASS_BAD_MAC1, CLASS_WITH_MAC2, CLASS_WITHOUT_MAC2 };

static void wipe(void *p, size_t n) {
  volatile uint8_t *b = (volatile uint8_t *)p;
  while (n--) *b++ = 0;
}

static int buffer_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

static int count_of(napi_env env, napi_value value, int64_t *out) {
  return napi_get_value_int64(env, value, out) == napi_ok && *out >= 0;
}

static napi_value number(napi_env env, int64_t n) {
  napi_value result;
  napi_create_int64(env, n, &result);
  return result;
}

/* Datagram i of a recvBatch: its bytes and length (at most slot), or NULL when outside data. */
static const uint8_t *datagram(const uint8_t *data, size_t data_length, const uint8_t *meta, int64_t i, uint32_t slot,
                               uint32_t *length) {
  uint32_t offset;
  memcpy(length, meta + i * RECV_META, 4);
  memcpy(&offset, meta + i * RECV_META + RECV_OFFSET, 4);
  if (*length > slot) *length = slot;
  if ((size_t)offset + *length > data_length) return NULL;
  return data + offset;
}

static int handshake_length(const uint8_t *message, uint32_t length) {
  if (length < 4 || message[1] || message[2] || message[3]) return 0;
  return (message[0] == 1 && length == INITIATION_LENGTH) || (message[0] == 2 && length == RESPONSE_LENGTH);
}

static int mac1_valid(const blake2s_keyed *key, const uint8_t *message, uint32_t length) {
  uint8_t computed[MAC_LENGTH];
  blake2s_keyed_mac(computed, key, message, length - 2 * MAC_LENGTH);
  uint8_t difference = 0;
  for (int i = 0; i < MAC_LENGTH; i++) difference |= computed[i] ^ message[length - 2 * MAC_LENGTH + i];
  return difference == 0;
}

napi_value handshake_triage(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  uint8_t *data, *meta, *keys, *classes;
  size_t data_length, meta_length, keys_length, classes_length;
  int64_t slot, count, mask;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7 ||
      !buffer_of(env, argv[0], &data, &data_length) || !count_of(env, argv[1], &slot) ||
      !buffer_of(env, argv[2], &meta, &meta_length) || !count_of(env, argv[3], &count) ||
      !buffer_of(env, argv[4], &keys, &keys_length) || keys_length != 2 * KEY_LENGTH ||
      !count_of(env, argv[5], &mask) || !buffer_of(env, argv[6], &classes, &classes_length) ||
      (size_t)count * RECV_META > meta_length || (size_t)count > classes_length) {
    napi_throw_type_error(env, NULL, "handshakeTriage(data, slot, meta, count, mac1Keys, keyMask, classes)");
    return NULL;
  }
  /* The key blocks once per batch: each mac1 is then two compressions, not three. */
  blake2s_keyed mac1_keys[2];
  for (int k = 0; k < 2; k++) blake2s_keyed_init(&mac1_keys[k], MAC_LENGTH, keys + k * KEY_LENGTH, KEY_LENGTH);
  int64_t without_mac2 = 0;
  for (int64_t i = 0; i < count; i++) {
    uint32_t length;
    const uint8_t *message = datagram(data, data_length, meta, i, (uint32_t)slot, &length);
    classes[i] = CLASS_OTHER;
    if (!message) continue;
    if (length == COOKIE_REPLY_LENGTH && message[0] == 3 && !message[1] && !message[2] && !message[3]) {
      classes[i] = CLASS_COOKIE_REPLY;
      continue;
    }
    if (!handshake_length(message, length)) continue;
    int key = -1;
    for (int k = 0; k < 2 && key < 0; k++)
      if ((mask >> k & 1) && mac1_valid(&mac1_keys[k], message, length)) key = k;
    if (key < 0) {
      classes[i] = CLASS_BAD_MAC1;
      continue;
    }
    uint8_t mac2 = 0;
    for (int j = 0; j < MAC_LENGTH; j++) mac2 |= message[length - MAC_LENGTH + j];
    if (mac2) {
      classes[i] = CLASS_WITH_MAC2;
    } else {
      classes[i] = (uint8_t)(CLASS_WITHOUT_MAC2 + key);
      without_mac2++;
    }
  }
  wipe(mac1_keys, sizeof mac1_keys);
  return number(env, without_mac2);
}

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define QUARTER(a, b, c, d)                                                                                            \
  a += b, d = ROTL(d ^ a, 16), c += d, b = ROTL(b ^ c, 12), a += b, d = ROTL(d ^ a, 8), c += d, b = ROTL(b ^ c, 7)

static uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* HChaCha20 (draft-irtf-cfrg-xchacha 2.2): the subkey XChaCha20 encrypts with for a 16-byte nonce prefix. */
static void hchacha20(uint8_t out[KEY_LENGTH], const uint8_t key[KEY_LENGTH], const uint8_t nonce[16]) {
  uint32_t x[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (int i = 0; i < 8; i++) x[4 + i] = load32(key + 4 * i);
  for (int i = 0; i < 4; i++) x[12 + i] = load32(nonce + 4 * i);
  for (int round = 0; round < 10; round++) {
    QUARTER(x[0], x[4], x[8], x[12]);
    QUARTER(x[1], x[5], x[9], x[13]);
    QUARTER(x[2], x[6], x[10], x[14]);
    QUARTER(x[3], x[7], x[11], x[15]);
    QUARTER(x[0], x[5], x[10], x[15]);
    QUARTER(x[1], x[6], x[11], x[12]);
    QUARTER(x[2], x[7], x[8], x[13]);
    QUARTER(x[3], x[4], x[9], x[14]);
  }
  const int words[8] = {0, 1, 2, 3, 12, 13, 14, 15};
  for (int i = 0; i < 8; i++)
    for (int b = 0; b < 4; b++) out[4 * i + b] = (uint8_t)(x[words[i]] >> (8 * b));
  wipe(x, sizeof x);
}

/* XChaCha20-Poly1305 of one 16-byte cookie: out gets the ciphertext and its 16-byte tag. */
static int seal_cookie(EVP_CIPHER_CTX *ctx, uint8_t out[2 * MAC_LENGTH], const uint8_t key[KEY_LENGTH],
                       const uint8_t nonce[NONCE_LENGTH], const uint8_t cookie[MAC_LENGTH], const uint8_t ad[MAC_LENGTH]) {
  uint8_t subkey[KEY_LENGTH];
  uint8_t ietf_nonce[12] = {0};
  hchacha20(subkey, key, nonce);
  memcpy(ietf_nonce + 4, nonce + 16, 8);
  int n, ok = EVP_EncryptInit_ex(ctx, NULL, NULL, subkey, ietf_nonce) &&
              EVP_EncryptUpdate(ctx, NULL, &n, ad, MAC_LENGTH) && EVP_EncryptUpdate(ctx, out, &n, cookie, MAC_LENGTH) &&
              EVP_EncryptFinal_ex(ctx, out + n, &n) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, MAC_LENGTH, out + MAC_LENGTH);
  wipe(subkey, sizeof subkey);
  return ok;
}

napi_value cookie_replies(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  uint8_t *data, *meta, *classes, *cookie_key, *secret, *out, *out_meta;
  size_t data_length, meta_length, classes_length, cookie_key_length, secret_length, out_length, out_meta_length;
  int64_t slot, count, wanted;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 10 ||
      !buffer_of(env, argv[0], &data, &data_length) || !count_of(env, argv[1], &slot) ||
      !buffer_of(env, argv[2], &meta, &meta_length) || !count_of(env, argv[3], &count) ||
      !buffer_of(env, argv[4], &classes, &classes_length) || !count_of(env, argv[5], &wanted) ||
      !buffer_of(env, argv[6], &cookie_key, &cookie_key_length) || cookie_key_length != KEY_LENGTH ||
      !buffer_of(env, argv[7], &secret, &secret_length) || secret_length != KEY_LENGTH ||
      !buffer_of(env, argv[8], &out, &out_length) || !buffer_of(env, argv[9], &out_meta, &out_meta_length) ||
      (size_t)count * RECV_META > meta_length || (size_t)count > classes_length ||
      (size_t)count * COOKIE_REPLY_LENGTH > out_length || (size_t)count * SEND_META > out_meta_length) {
    napi_throw_type_error(env, NULL,
                          "cookieReplies(data, slot, meta, count, classes, wanted, cookieKey, secret, out, outMeta)");
    return NULL;
  }
  /* The cipher is set up once; each reply then sets only its own key and nonce. */
  static EVP_CIPHER_CTX *ctx;
  if (!ctx) ctx = EVP_CIPHER_CTX_new();
  if (!ctx || !EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL)) return number(env, 0);
  uint8_t nonces[MAX_NONCES * NONCE_LENGTH];
  int nonces_left = 0;
  uint8_t cookie[MAC_LENGTH], source[18], last_source[20];
  int have_cookie = 0;
  int64_t replies = 0;
  for (int64_t i = 0; i < count; i++) {
    if (classes[i] != wanted) continue;
    uint32_t length;
    const uint8_t *message = datagram(data, data_length, meta, i, (uint32_t)slot, &length);
    if (!message || !handshake_length(message, length)) continue;
    const uint8_t *record = meta + i * RECV_META;
    /* family, hasLocal, port, address: a run of datagrams from one source shares its cookie. */
    if (!have_cookie || memcmp(last_source, record + 4, sizeof last_source) != 0) {
      size_t address_length = record[4] == 6 ? 16 : 4;
      uint16_t port;
      memcpy(&port, record + 6, 2);
      memcpy(source, record + 8, address_length);
      source[address_length] = (uint8_t)(port >> 8);
      source[address_length + 1] = (uint8_t)port;
      blake2s(cookie, MAC_LENGTH, secret, KEY_LENGTH, source, address_length + 2);
      memcpy(last_source, record + 4, sizeof last_source);
      have_cookie = 1;
    }
    if (nonces_left == 0) {
      if (getrandom(nonces, sizeof nonces, 0) != (ssize_t)sizeof nonces) break;
      nonces_left = MAX_NONCES;
    }
    const uint8_t *nonce = nonces + (MAX_NONCES - nonces_left--) * NONCE_LENGTH;
    uint8_t *reply = out + replies * COOKIE_REPLY_LENGTH;
    memset(reply, 0, 4);
    reply[0] = 3;
    memcpy(reply + 4, message + 4, 4);
    memcpy(reply + 8, nonce, NONCE_LENGTH);
    if (!seal_cookie(ctx, reply + 8 + NONCE_LENGTH, cookie_key, nonce, cookie, message + length - 2 * MAC_LENGTH))
      break;
    uint8_t *send = out_meta + replies * SEND_META;
    uint32_t offset = (uint32_t)(replies * COOKIE_REPLY_LENGTH), reply_length = COOKIE_REPLY_LENGTH;
    memcpy(send, &offset, 4);
    memcpy(send + 4, &reply_length, 4);
    memcpy(send + 8, record + 4, SEND_META - 8);
    replies++;
  }
  wipe(cookie, sizeof cookie);
  wipe(nonces, sizeof nonces);
  return number(env, replies);
}
