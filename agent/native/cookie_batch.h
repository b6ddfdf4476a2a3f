/* A received batch's handshake triage and cookie replies under load; see cookie_batch.c. */
#ifndef WIREMESH_COOKIE_BATCH_H
#define WIREMESH_COOKIE_BATCH_H
#include <node_api.h>

napi_value handshake_triage(napi_env env, napi_callback_info info);
napi_value cookie_replies(napi_env env, napi_callback_info info);

#endif
