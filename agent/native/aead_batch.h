/* Batched ChaCha20-Poly1305 over OpenSSL EVP (aead_batch.c). */
#ifndef WIREMESH_AEAD_BATCH_H
#define WIREMESH_AEAD_BATCH_H
#include <node_api.h>
napi_value aead_batch(napi_env env, napi_callback_info info);
#endif
