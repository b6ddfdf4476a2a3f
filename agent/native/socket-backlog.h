/* How full a socket's receive queue is; see socket-backlog.c. */
#ifndef WIREMESH_SOCKET_BACKLOG_H
#define WIREMESH_SOCKET_BACKLOG_H
#include <node_api.h>

napi_value socket_receive_backlog(napi_env env, napi_callback_info info);

#endif
