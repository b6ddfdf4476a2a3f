/* Keyed BLAKE2s (RFC 7693) for WireGuard's mac1, mac2 and cookies; see blake2s.c. */
#ifndef WIREMESH_BLAKE2S_H
#define WIREMESH_BLAKE2S_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* Keyed BLAKE2s: out_length <= 32 bytes of MAC, key_length <= 32 (0: unkeyed hash). */
void blake2s(uint8_t *out, size_t out_length, const uint8_t *key, size_t key_length, const uint8_t *in,
             size_t in_length);

/* A keyed BLAKE2s with its key block compressed once, to MAC many inputs (of >= 1 byte) under one key. */
typedef struct {
  uint32_t h[8];
  size_t out_length;
} blake2s_keyed;
void blake2s_keyed_init(blake2s_keyed *state, size_t out_length, const uint8_t *key, size_t key_length);
void blake2s_keyed_mac(uint8_t *out, const blake2s_keyed *state, const uint8_t *in, size_t in_length);

napi_value blake2s_mac_into(napi_env env, napi_callback_info info);
napi_value blake2s_mac_verify(napi_env env, napi_callback_info info);

#endif
