/*
 * receiveBacklog(fd) -> number: the share of a socket's receive buffer that queued datagrams occupy
 * (SO_MEMINFO: rmem_alloc / rcvbuf, 0..1, Linux 3.6+). The userspace device reads it once per batch
 * to shed handshake work only when it is really falling behind, as the kernel drops handshakes once
 * its handshake queue is half full (agent/wg/receive-scheduler.ts).
 */
#define NAPI_VERSION 8
#include "socket-backlog.h"

#include <linux/sock_diag.h>
#include <stdint.h>
#include <sys/socket.h>

napi_value socket_receive_backlog(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "receiveBacklog(fd)");
    return NULL;
  }
  uint32_t meminfo[SK_MEMINFO_VARS] = {0};
  socklen_t length = sizeof meminfo;
  double share = 0;
  /* An error (not a socket, or an old kernel) reads as an empty queue: never shed on a guess. */
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) == 0 && meminfo[SK_MEMINFO_RCVBUF] > 0) {
    share = (double)meminfo[SK_MEMINFO_RMEM_ALLOC] / (double)meminfo[SK_MEMINFO_RCVBUF];
  }
  napi_value result;
  napi_create_double(env, share, &result);
  return result;
}
