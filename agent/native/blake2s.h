/* Keyed BLAKE2s (RFC 7693) for WireGuard's mac1, mac2 and cookies; see blake2s.c. */
#ifndef WIREMESH_BLAKE2S_H
#define WIREMESH_BLAKE2S_H
#include <node_api.h>

napi_value blake2s_mac_into(napi_env env, napi_callback_info info);
napi_value blake2s_mac_verify(napi_env env, napi_callback_info info);

#endif
