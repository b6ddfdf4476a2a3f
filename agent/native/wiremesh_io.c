/*
 * wiremesh's native I/O layer: the few Linux system calls Node does not expose, and nothing else.
 * The protocol stays in TypeScript; this file only moves bytes.
 *
 *  - TUN: open /dev/net/tun + TUNSETIFF, set MTU, batched non-blocking read()/write().
 *  - UDP: sockets with SO_MARK, forced buffer sizes and IP_PKTINFO, batched recvmmsg()/sendmmsg()
 *    (with the local source address as a PKTINFO control message: sticky source addresses).
 *  - Readiness: a libuv poll handle on the main loop, so JS drains each fd on the main thread when
 *    the kernel says it is readable; no thread crossing per packet.
 *  - The UAPI listening socket, bound under umask 077 so it can be handed to a daemon child.
 *
 * Buffers are laid out by the caller (agent/wg/native.ts documents the record formats).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include "blake2s.h"
#include "socket-backlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_BATCH 128
#define RECV_META 48
#define SEND_META 48
#define CONTROL_SPACE 64

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  char code[16];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  snprintf(code, sizeof code, "%d", err);
  napi_value error, msg, errno_value;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_throw(env, error);
  return NULL;
}

static int arg_int(napi_env env, napi_value value, int64_t *out) {
  return napi_get_value_int64(env, value, out) == napi_ok;
}

static int arg_buffer(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

static napi_value make_int(napi_env env, int64_t value) {
  napi_value out;
  napi_create_int64(env, value, &out);
  return out;
}

#define ARGS(n)                                                              \
  size_t argc = n;                                                           \
  napi_value argv[n];                                                        \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) { \
    napi_throw_type_error(env, NULL, "wrong number of arguments");          \
    return NULL;                                                             \
  }

/* tunOpen(name) -> [fd, name] */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[IFNAMSIZ] = {0};
  size_t name_length = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_length) != napi_ok) {
    napi_throw_type_error(env, NULL, "interface name must be a string");
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "ioctl TUNSETIFF", err);
  }
  napi_value result, fd_value, name_value;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fd, &fd_value);
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &name_value);
  napi_set_element(env, result, 0, fd_value);
  napi_set_element(env, result, 1, name_value);
  return result;
}

/* tunName(fd) -> name of the TUN interface behind an inherited fd */
static napi_value tun_name(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (!arg_int(env, argv[0], &fd)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl((int)fd, TUNGETIFF, &ifr) < 0) return throw_errno(env, "ioctl TUNGETIFF", errno);
  int flags = fcntl((int)fd, F_GETFL);
  if (flags >= 0) fcntl((int)fd, F_SETFL, flags | O_NONBLOCK);
  fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  napi_value name_value;
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &name_value);
  return name_value;
}

/* setMtu(name, mtu) */
static napi_value set_mtu(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[IFNAMSIZ] = {0};
  size_t name_length = 0;
  int64_t mtu;
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_length);
  if (!arg_int(env, argv[1], &mtu)) return NULL;
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return throw_errno(env, "socket", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  ifr.ifr_mtu = (int)mtu;
  int rc = ioctl(sock, SIOCSIFMTU, &ifr);
  int err = errno;
  close(sock);
  if (rc < 0) return throw_errno(env, "ioctl SIOCSIFMTU", err);
  return NULL;
}

static void force_buffer(int fd, int force_option, int option, int size) {
  if (size <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, force_option, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, option, &size, sizeof size);
  }
}

/* udpOpen(family, port, receiveBuffer, sendBuffer, fwmark) -> [fd, boundPort] */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  ARGS(5);
  int64_t family, port, rcvbuf, sndbuf, mark;
  if (!arg_int(env, argv[0], &family) || !arg_int(env, argv[1], &port) || !arg_int(env, argv[2], &rcvbuf) ||
      !arg_int(env, argv[3], &sndbuf) || !arg_int(env, argv[4], &mark)) {
    napi_throw_type_error(env, NULL, "numbers expected");
    return NULL;
  }
  int af = family == 6 ? AF_INET6 : AF_INET;
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  force_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, (int)rcvbuf);
  force_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, (int)sndbuf);
  if (mark != 0) {
    uint32_t value = (uint32_t)mark;
    if (setsockopt(fd, SOL_SOCKET, SO_MARK, &value, sizeof value) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, "setsockopt SO_MARK", err);
    }
  }
  struct sockaddr_storage addr;
  socklen_t addr_length;
  memset(&addr, 0, sizeof addr);
  if (af == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    a6->sin6_addr = in6addr_any;
    addr_length = sizeof *a6;
  } else {
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
    addr_length = sizeof *a4;
  }
  if (bind(fd, (struct sockaddr *)&addr, addr_length) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  addr_length = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &addr_length);
  int bound = af == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port) : ntohs(((struct sockaddr_in *)&addr)->sin_port);
  napi_value result;
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, make_int(env, fd));
  napi_set_element(env, result, 1, make_int(env, bound));
  return result;
}

/* setMark(fd, mark) */
static napi_value set_mark(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t fd, mark;
  if (!arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &mark)) return NULL;
  uint32_t value = (uint32_t)mark;
  if (setsockopt((int)fd, SOL_SOCKET, SO_MARK, &value, sizeof value) < 0) return throw_errno(env, "setsockopt SO_MARK", errno);
  return NULL;
}

/* closeFd(fd) */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (arg_int(env, argv[0], &fd)) close((int)fd);
  return NULL;
}

static struct mmsghdr messages[MAX_BATCH];
static struct iovec iovecs[MAX_BATCH];
static struct sockaddr_storage addresses[MAX_BATCH];
static uint8_t controls[MAX_BATCH][CONTROL_SPACE];

/*
 * recvBatch(fd, data, slotSize, meta, maxCount) -> count. Datagram i lands at data[i*slotSize];
 * meta record i (48 bytes): u32 length | u8 family | u8 hasLocal | u16 port | 16 remote address |
 * 16 local (destination) address | u32 interface index. Returns 0 when nothing is queued.
 */
static napi_value recv_batch(napi_env env, napi_callback_info info) {
  ARGS(5);
  int64_t fd, slot, max;
  uint8_t *data, *meta;
  size_t data_length, meta_length;
  if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &data_length) || !arg_int(env, argv[2], &slot) ||
      !arg_buffer(env, argv[3], &meta, &meta_length) || !arg_int(env, argv[4], &max)) {
    napi_throw_type_error(env, NULL, "recvBatch(fd, data, slotSize, meta, maxCount)");
    return NULL;
  }
  if (max > MAX_BATCH) max = MAX_BATCH;
  if ((size_t)(max * slot) > data_length || (size_t)(max * RECV_META) > meta_length) {
    napi_throw_range_error(env, NULL, "buffers too small for the batch");
    return NULL;
  }
  for (int i = 0; i < max; i++) {
    iovecs[i].iov_base = data + i * slot;
    iovecs[i].iov_len = (size_t)slot;
    memset(&messages[i].msg_hdr, 0, sizeof messages[i].msg_hdr);
    messages[i].msg_hdr.msg_iov = &iovecs[i];
    messages[i].msg_hdr.msg_iovlen = 1;
    messages[i].msg_hdr.msg_name = &addresses[i];
    messages[i].msg_hdr.msg_namelen = sizeof addresses[i];
    messages[i].msg_hdr.msg_control = controls[i];
    messages[i].msg_hdr.msg_controllen = CONTROL_SPACE;
  }
  int count = recvmmsg((int)fd, messages, (unsigned)max, MSG_DONTWAIT, NULL);
  if (count < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return make_int(env, 0);
    return throw_errno(env, "recvmmsg", errno);
  }
  for (int i = 0; i < count; i++) {
    uint8_t *record = meta + i * RECV_META;
    memset(record, 0, RECV_META);
    uint32_t length = messages[i].msg_len;
    memcpy(record, &length, 4);
    struct sockaddr_storage *from = &addresses[i];
    if (from->ss_family == AF_INET6) {
      struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)from;
      record[4] = 6;
      uint16_t port = ntohs(a6->sin6_port);
      memcpy(record + 6, &port, 2);
      memcpy(record + 8, &a6->sin6_addr, 16);
    } else {
      struct sockaddr_in *a4 = (struct sockaddr_in *)from;
      record[4] = 4;
      uint16_t port = ntohs(a4->sin_port);
      memcpy(record + 6, &port, 2);
      memcpy(record + 8, &a4->sin_addr, 4);
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr); c; c = CMSG_NXTHDR(&messages[i].msg_hdr, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(c);
        record[5] = 1;
        memcpy(record + 24, &pi->ipi_spec_dst, 4);
        uint32_t ifindex = (uint32_t)pi->ipi_ifindex;
        memcpy(record + 40, &ifindex, 4);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        struct in6_pktinfo *pi = (struct in6_pktinfo *)CMSG_DATA(c);
        record[5] = 1;
        memcpy(record + 24, &pi->ipi6_addr, 16);
        uint32_t ifindex = (uint32_t)pi->ipi6_ifindex;
        memcpy(record + 40, &ifindex, 4);
      }
    }
  }
  return make_int(env, count);
}

/*
 * sendBatch(fd, data, meta, count) -> sent. meta record i (48 bytes): u32 offset | u32 length |
 * u8 family | u8 hasLocal | u16 port | 16 remote address | 16 local address | u32 interface index.
 * Stops early (returning how many went out) when the socket buffer is full.
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  ARGS(4);
  int64_t fd, count;
  uint8_t *data, *meta;
  size_t data_length, meta_length;
  if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &data_length) ||
      !arg_buffer(env, argv[2], &meta, &meta_length) || !arg_int(env, argv[3], &count)) {
    napi_throw_type_error(env, NULL, "sendBatch(fd, data, meta, count)");
    return NULL;
  }
  if (count > MAX_BATCH) count = MAX_BATCH;
  if ((size_t)(count * SEND_META) > meta_length) {
    napi_throw_range_error(env, NULL, "meta buffer too small");
    return NULL;
  }
  for (int i = 0; i < count; i++) {
    uint8_t *record = meta + i * SEND_META;
    uint32_t offset, length;
    uint16_t port;
    memcpy(&offset, record, 4);
    memcpy(&length, record + 4, 4);
    memcpy(&port, record + 10, 2);
    if ((size_t)offset + length > data_length) {
      napi_throw_range_error(env, NULL, "datagram outside the data buffer");
      return NULL;
    }
    iovecs[i].iov_base = data + offset;
    iovecs[i].iov_len = length;
    memset(&messages[i].msg_hdr, 0, sizeof messages[i].msg_hdr);
    messages[i].msg_hdr.msg_iov = &iovecs[i];
    messages[i].msg_hdr.msg_iovlen = 1;
    memset(&addresses[i], 0, sizeof addresses[i]);
    int has_local = record[9];
    uint32_t ifindex;
    memcpy(&ifindex, record + 44, 4);
    if (record[8] == 6) {
      struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addresses[i];
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons(port);
      memcpy(&a6->sin6_addr, record + 12, 16);
      messages[i].msg_hdr.msg_namelen = sizeof *a6;
      if (has_local) {
        messages[i].msg_hdr.msg_control = controls[i];
        messages[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
        struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
        struct in6_pktinfo *pi = (struct in6_pktinfo *)CMSG_DATA(c);
        memset(pi, 0, sizeof *pi);
        memcpy(&pi->ipi6_addr, record + 28, 16);
        pi->ipi6_ifindex = ifindex;
      }
    } else {
      struct sockaddr_in *a4 = (struct sockaddr_in *)&addresses[i];
      a4->sin_family = AF_INET;
      a4->sin_port = htons(port);
      memcpy(&a4->sin_addr, record + 12, 4);
      messages[i].msg_hdr.msg_namelen = sizeof *a4;
      if (has_local) {
        messages[i].msg_hdr.msg_control = controls[i];
        messages[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
        struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(c);
        memset(pi, 0, sizeof *pi);
        memcpy(&pi->ipi_spec_dst, record + 28, 4);
        pi->ipi_ifindex = 0; /* route by source address only, as the kernel's src4 cache does */
      }
    }
    messages[i].msg_hdr.msg_name = &addresses[i];
  }
  int sent = 0;
  while (sent < count) {
    int n = sendmmsg((int)fd, messages + sent, (unsigned)(count - sent), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      struct msghdr *failed = &messages[sent].msg_hdr;
      if (failed->msg_control && (errno == EINVAL || errno == EADDRNOTAVAIL || errno == ENETUNREACH)) {
        /* The sticky source address is gone (the host roamed): let routing pick one, as the kernel does. */
        failed->msg_control = NULL;
        failed->msg_controllen = 0;
        continue;
      }
      /* An unreachable peer must not stop the rest of the batch. */
      sent++;
      continue;
    }
    sent += n;
  }
  return make_int(env, sent);
}

/* tunReadBatch(fd, data, slotSize, lengths(u32 LE per slot), maxCount) -> count */
static napi_value tun_read_batch(napi_env env, napi_callback_info info) {
  ARGS(5);
  int64_t fd, slot, max;
  uint8_t *data, *lengths;
  size_t data_length, lengths_length;
  if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &data_length) || !arg_int(env, argv[2], &slot) ||
      !arg_buffer(env, argv[3], &lengths, &lengths_length) || !arg_int(env, argv[4], &max)) {
    napi_throw_type_error(env, NULL, "tunReadBatch(fd, data, slotSize, lengths, maxCount)");
    return NULL;
  }
  if ((size_t)(max * slot) > data_length || (size_t)(max * 4) > lengths_length) {
    napi_throw_range_error(env, NULL, "buffers too small for the batch");
    return NULL;
  }
  int count = 0;
  while (count < max) {
    ssize_t n = read((int)fd, data + count * slot, (size_t)slot);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (count > 0) break;
      return throw_errno(env, "read tun", errno);
    }
    uint32_t length = (uint32_t)n;
    memcpy(lengths + count * 4, &length, 4);
    count++;
  }
  return make_int(env, count);
}

/* tunWriteBatch(fd, data, spans(u32 offset, u32 length), count) -> written */
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  ARGS(4);
  int64_t fd, count;
  uint8_t *data, *spans;
  size_t data_length, spans_length;
  if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &data_length) ||
      !arg_buffer(env, argv[2], &spans, &spans_length) || !arg_int(env, argv[3], &count)) {
    napi_throw_type_error(env, NULL, "tunWriteBatch(fd, data, spans, count)");
    return NULL;
  }
  if ((size_t)(count * 8) > spans_length) {
    napi_throw_range_error(env, NULL, "spans buffer too small");
    return NULL;
  }
  int written = 0;
  for (int i = 0; i < count; i++) {
    uint32_t offset, length;
    memcpy(&offset, spans + i * 8, 4);
    memcpy(&length, spans + i * 8 + 4, 4);
    if ((size_t)offset + length > data_length) break;
    ssize_t n;
    do n = write((int)fd, data + offset, length);
    while (n < 0 && errno == EINTR);
    if (n >= 0) written++;
  }
  return make_int(env, written);
}

/* unixListen(path) -> fd: a listening UAPI socket, replacing a stale one, bound under umask 077. */
static napi_value unix_listen(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &length) != napi_ok ||
      length >= sizeof addr.sun_path - 1) {
    napi_throw_type_error(env, NULL, "socket path must be a short string");
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  mode_t old_mask = umask(0077);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  if (rc < 0 && errno == EADDRINUSE) {
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int live = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (probe >= 0) close(probe);
    if (live) {
      umask(old_mask);
      close(fd);
      return throw_errno(env, "UAPI socket in use", EADDRINUSE);
    }
    unlink(addr.sun_path);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  }
  int err = errno;
  umask(old_mask);
  if (rc < 0) {
    close(fd);
    return throw_errno(env, "bind UAPI socket", err);
  }
  if (listen(fd, 128) < 0) {
    err = errno;
    close(fd);
    return throw_errno(env, "listen", err);
  }
  return make_int(env, fd);
}

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_ref resource;
  int closing;
} poller_t;

static void on_poll_closed(uv_handle_t *handle) {
  free(handle->data);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  poller_t *poller = (poller_t *)handle->data;
  if (poller->closing) return;
  napi_env env = poller->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value callback, resource, argv[1], result;
  napi_get_reference_value(env, poller->callback, &callback);
  napi_get_reference_value(env, poller->resource, &resource);
  napi_create_int32(env, status, &argv[0]);
  if (napi_make_callback(env, poller->context, resource, callback, 1, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

static void finalize_nothing(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  (void)hint;
}

/* pollStart(fd, callback(status)) -> handle: calls back on the main thread whenever fd is readable. */
static napi_value poll_start(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t fd;
  if (!arg_int(env, argv[0], &fd)) return NULL;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  poller_t *poller = calloc(1, sizeof *poller);
  if (!poller) return throw_errno(env, "calloc", ENOMEM);
  poller->env = env;
  napi_create_reference(env, argv[1], 1, &poller->callback);
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &poller->resource);
  napi_create_string_utf8(env, "wiremesh.poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &poller->context);
  int rc = uv_poll_init(loop, &poller->handle, (int)fd);
  if (rc == 0) {
    poller->handle.data = poller;
    rc = uv_poll_start(&poller->handle, UV_READABLE, on_readable);
  }
  if (rc != 0) {
    napi_delete_reference(env, poller->callback);
    napi_delete_reference(env, poller->resource);
    napi_async_destroy(env, poller->context);
    free(poller);
    return throw_errno(env, "uv_poll_start", -rc);
  }
  napi_value external;
  napi_create_external(env, poller, finalize_nothing, NULL, &external);
  return external;
}

/* pollStop(handle) */
static napi_value poll_stop(napi_env env, napi_callback_info info) {
  ARGS(1);
  poller_t *poller;
  if (napi_get_value_external(env, argv[0], (void **)&poller) != napi_ok || !poller || poller->closing) return NULL;
  poller->closing = 1;
  uv_poll_stop(&poller->handle);
  napi_delete_reference(env, poller->callback);
  napi_delete_reference(env, poller->resource);
  napi_async_destroy(env, poller->context);
  uv_close((uv_handle_t *)&poller->handle, on_poll_closed);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
    {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL},
    {"tunName", NULL, tun_name, NULL, NULL, NULL, napi_default, NULL},
    {"setMtu", NULL, set_mtu, NULL, NULL, NULL, napi_default, NULL},
    {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_default, NULL},
    {"setMark", NULL, set_mark, NULL, NULL, NULL, napi_default, NULL},
    {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
    {"recvBatch", NULL, recv_batch, NULL, NULL, NULL, napi_default, NULL},
    {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_default, NULL},
    {"tunReadBatch", NULL, tun_read_batch, NULL, NULL, NULL, napi_default, NULL},
    {"tunWriteBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_default, NULL},
    {"unixListen", NULL, unix_listen, NULL, NULL, NULL, napi_default, NULL},
    {"pollStart", NULL, poll_start, NULL, NULL, NULL, napi_default, NULL},
    {"pollStop", NULL, poll_stop, NULL, NULL, NULL, napi_default, NULL},
    {"macInto", NULL, blake2s_mac_into, NULL, NULL, NULL, napi_default, NULL},
    {"macVerify", NULL, blake2s_mac_verify, NULL, NULL, NULL, napi_default, NULL},
    {"receiveBacklog", NULL, socket_receive_backlog, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
