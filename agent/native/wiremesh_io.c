/*
 * wiremesh's native I/O layer: the few Linux system calls Node does not expose, and nothing else.
 * The protocol stays in TypeScript; this file only moves bytes.
 *
 *  - TUN: open /dev/net/tun + TUNSETIFF, set MTU, batched non-blocking read()/write(); with
 *    IFF_VNET_HDR and TSO/USO offloads, large segments are split on read and in-order packets of a
 *    flow coalesced on write (offload.c).
 *  - UDP: sockets with SO_MARK, forced buffer sizes and IP_PKTINFO, batched recvmmsg()/sendmmsg()
 *    (with the local source address as a PKTINFO control message: sticky source addresses), UDP GSO
 *    (UDP_SEGMENT) on send and UDP GRO on receive where the kernel takes them.
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
#include "cookie_batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include "aead_batch.h"
#include "offload.h"

/* Newer than the libc headers on some build hosts (Linux 6.2). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define MAX_BATCH 128
#define RECV_META 48
#define SEND_META 48
#define CONTROL_SPACE 64
/* The kernel's UDP_MAX_SEGMENTS on older kernels; newer ones take 128. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
/* recvBatch with UDP GRO: one message may carry up to 64 datagrams (UDP_GRO_CNT_MAX). */
#define GRO_MAX_SEGMENTS 64

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

/*
 * tunOpen(name, vnetHeader = false) -> [fd, name]. The TUN is multi-queue: opening it again by name
 * attaches another queue (one per data-plane thread); the kernel spreads flows over the queues.
 */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool vnet = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "tunOpen(name, vnetHeader)");
    return NULL;
  }
  if (argc > 1) napi_get_value_bool(env, argv[1], &vnet);
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
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (vnet ? IFF_VNET_HDR : 0);
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

/* Per thread: data-plane worker threads (worker_threads) call these at the same time. */
static __thread struct mmsghdr messages[MAX_BATCH];
static __thread struct iovec iovecs[MAX_BATCH];
static __thread struct sockaddr_storage addresses[MAX_BATCH];
static __thread uint8_t controls[MAX_BATCH][CONTROL_SPACE];

/*
 * recvBatch(fd, data, slotSize, meta, maxCount) -> record count. Message i lands at data[i*slotSize];
 * meta record r (48 bytes): u32 length | u8 family | u8 hasLocal | u16 port | 16 remote address |
 * 16 local (destination) address | u32 interface index | u32 offset of the datagram in data. With
 * UDP GRO one message holds several datagrams of one sender: each gets its own record, so the meta
 * buffer should have room for GRO_MAX_SEGMENTS records per message (fewer messages are read
 * otherwise). Returns 0 when nothing is queued.
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
  size_t record_capacity = meta_length / RECV_META;
  /* Leave room to expand every message into GRO_MAX_SEGMENTS records. */
  if ((size_t)max * GRO_MAX_SEGMENTS > record_capacity) {
    max = (int64_t)(record_capacity / GRO_MAX_SEGMENTS);
    if (max < 1) max = 1;
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
  size_t records = 0;
  for (int i = 0; i < count; i++) {
    uint8_t *record = meta + records * RECV_META;
    memset(record, 0, RECV_META);
    uint32_t length = messages[i].msg_len;
    uint32_t segment = 0;
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
      } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int size;
        memcpy(&size, CMSG_DATA(c), sizeof size);
        if (size > 0) segment = (uint32_t)size;
      }
    }
    uint32_t base = (uint32_t)(i * slot);
    memcpy(record + 44, &base, 4);
    records++;
    if (segment > 0 && segment < length) {
      /* A GRO batch: equal-size datagrams (the last may be shorter) from one sender. */
      uint32_t first = segment;
      memcpy(record, &first, 4);
      for (uint32_t at = segment; at < length && records < record_capacity; at += segment) {
        uint8_t *next = meta + records * RECV_META;
        memcpy(next, record, RECV_META);
        uint32_t part = length - at < segment ? length - at : segment;
        uint32_t offset = base + at;
        memcpy(next, &part, 4);
        memcpy(next + 44, &offset, 4);
        records++;
      }
    }
  }
  return make_int(env, (int64_t)records);
}

/* Records i and j go to the same place from the same source, so one GSO send can carry both. */
static int same_destination(const uint8_t *a, const uint8_t *b) {
  return memcmp(a + 8, b + 8, SEND_META - 8) == 0;
}

/*
 * sendBatch(fd, data, meta, count, state?) -> sent. meta record i (48 bytes): u32 offset | u32 length |
 * u8 family | u8 hasLocal | u16 port | 16 remote address | 16 local address | u32 interface index.
 * state (u32[3]: gsoEnabled | gsoRefusals | gsoSends), when given and enabled, lets runs of
 * equal-size datagrams to one destination that sit back to back in data go out as one UDP_SEGMENT
 * send; if the kernel refuses one, GSO is switched off in state and the run is sent plainly.
 * Stops early (returning how many datagrams went out) when the socket buffer is full.
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int64_t fd, count;
  uint8_t *data, *meta, *state_bytes = NULL;
  size_t data_length, meta_length, state_length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !arg_int(env, argv[0], &fd) ||
      !arg_buffer(env, argv[1], &data, &data_length) || !arg_buffer(env, argv[2], &meta, &meta_length) ||
      !arg_int(env, argv[3], &count) || (argc > 4 && !arg_buffer(env, argv[4], &state_bytes, &state_length))) {
    napi_throw_type_error(env, NULL, "sendBatch(fd, data, meta, count, state?)");
    return NULL;
  }
  uint32_t *state = state_length >= 12 ? (uint32_t *)state_bytes : NULL;
  int gso = state && state[0];
  if (count > MAX_BATCH) count = MAX_BATCH;
  if ((size_t)(count * SEND_META) > meta_length) {
    napi_throw_range_error(env, NULL, "meta buffer too small");
    return NULL;
  }
  /* first[m] and runs[m]: the records message m carries (runs > 1 only with GSO). */
  static __thread int first[MAX_BATCH], runs[MAX_BATCH];
  int message_count = 0;
  for (int r = 0; r < count;) {
    uint8_t *record = meta + r * SEND_META;
    uint32_t offset, length;
    uint16_t port;
    memcpy(&offset, record, 4);
    memcpy(&length, record + 4, 4);
    memcpy(&port, record + 10, 2);
    if ((size_t)offset + length > data_length) {
      napi_throw_range_error(env, NULL, "datagram outside the data buffer");
      return NULL;
    }
    int run = 1;
    uint32_t span = length;
    if (gso && length > 0) {
      while (r + run < count && run < GSO_MAX_SEGMENTS && span + length <= GSO_MAX_BYTES) {
        const uint8_t *next = meta + (r + run) * SEND_META;
        uint32_t next_offset, next_length;
        memcpy(&next_offset, next, 4);
        memcpy(&next_length, next + 4, 4);
        if (next_offset != offset + span || next_length > length || next_length == 0 || !same_destination(record, next) ||
            (size_t)next_offset + next_length > data_length)
          break;
        span += next_length;
        run++;
        if (next_length < length) break; /* only the last segment may be shorter */
      }
    }
    int i = message_count++;
    first[i] = r;
    runs[i] = run;
    r += run;
    iovecs[i].iov_base = data + offset;
    iovecs[i].iov_len = span;
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
    if (run > 1) {
      struct msghdr *h = &messages[i].msg_hdr;
      size_t used = h->msg_control ? h->msg_controllen : 0;
      h->msg_control = controls[i];
      struct cmsghdr *c = (struct cmsghdr *)(controls[i] + used);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t size = (uint16_t)length;
      memcpy(CMSG_DATA(c), &size, sizeof size);
      h->msg_controllen = used + CMSG_SPACE(sizeof(uint16_t));
    }
  }
  int sent = 0; /* messages */
  int datagrams = 0;
  while (sent < message_count) {
    int n = sendmmsg((int)fd, messages + sent, (unsigned)(message_count - sent), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      struct msghdr *failed = &messages[sent].msg_hdr;
      size_t segment_space = runs[sent] > 1 ? CMSG_SPACE(sizeof(uint16_t)) : 0;
      int has_pktinfo = failed->msg_controllen > segment_space;
      if (has_pktinfo && (errno == EINVAL || errno == EADDRNOTAVAIL || errno == ENETUNREACH)) {
        /* The sticky source address is gone (the host roamed): let routing pick one, as the kernel
         * does. The UDP_SEGMENT message, if any, sits after the PKTINFO one: move it first. */
        size_t pktinfo_space = failed->msg_controllen - segment_space;
        uint8_t *control = (uint8_t *)failed->msg_control;
        if (segment_space) memmove(control, control + pktinfo_space, segment_space);
        failed->msg_controllen = segment_space;
        if (!segment_space) failed->msg_control = NULL;
        continue;
      }
      if (segment_space && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOPROTOOPT)) {
        /* The kernel or the egress device refuses GSO: switch it off, and send this run plainly. */
        state[0] = 0;
        state[1]++;
        int resent = 0;
        for (int k = 0; k < runs[sent]; k++) {
          const uint8_t *record = meta + (first[sent] + k) * SEND_META;
          uint32_t offset, length;
          memcpy(&offset, record, 4);
          memcpy(&length, record + 4, 4);
          struct iovec one = {data + offset, length};
          struct msghdr plain = *failed;
          plain.msg_iov = &one;
          plain.msg_iovlen = 1;
          plain.msg_controllen -= segment_space;
          if (plain.msg_controllen == 0) plain.msg_control = NULL;
          if (sendmsg((int)fd, &plain, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          resent++;
        }
        datagrams += resent;
        if (resent < runs[sent]) break;
        sent++;
        continue;
      }
      /* An unreachable peer must not stop the rest of the batch. */
      datagrams += runs[sent];
      sent++;
      continue;
    }
    for (int k = 0; k < n; k++) {
      datagrams += runs[sent + k];
      if (runs[sent + k] > 1) state[2]++;
    }
    sent += n;
  }
  return make_int(env, datagrams);
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

/*
 * tunSetOffloads(fd, udp) -> the TUN_F_* mask now enabled, or -1 when the TUN has no vnet header.
 * Asks for checksum, TSO4/TSO6 and (with udp) USO4/USO6, then without USO for older kernels; 0 when
 * the kernel refuses offloads altogether (frames still carry a header, with gso_type NONE).
 */
static napi_value tun_set_offloads(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t fd;
  bool udp = false;
  if (!arg_int(env, argv[0], &fd)) return NULL;
  napi_get_value_bool(env, argv[1], &udp);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl((int)fd, TUNGETIFF, &ifr) < 0) return throw_errno(env, "ioctl TUNGETIFF", errno);
  if (!(ifr.ifr_flags & IFF_VNET_HDR)) return make_int(env, -1);
  int size = VNET_HDR_LEN;
  if (ioctl((int)fd, TUNSETVNETHDRSZ, &size) < 0) return throw_errno(env, "ioctl TUNSETVNETHDRSZ", errno);
  unsigned masks[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6};
  for (size_t i = udp ? 0 : 1; i < sizeof masks / sizeof masks[0]; i++) {
    if (ioctl((int)fd, TUNSETOFFLOAD, masks[i]) == 0) return make_int(env, masks[i]);
  }
  ioctl((int)fd, TUNSETOFFLOAD, 0);
  return make_int(env, 0);
}

static uint32_t *stats_of(napi_env env, napi_value value) {
  uint8_t *bytes;
  size_t length;
  if (!arg_buffer(env, value, &bytes, &length) || length < STAT_COUNT * 4) return NULL;
  return (uint32_t *)bytes;
}

/*
 * tunReadSegments(fd, data, spans, maxSpans, stats) -> packets. Reads vnet frames and splits them:
 * packet i is data[spans[2i], +spans[2i+1]] (u32 LE). The last 64 KiB of data are the read buffer.
 * Malformed frames are dropped and counted in stats (u32[STAT_COUNT], see offload.h).
 */
static napi_value tun_read_segments(napi_env env, napi_callback_info info) {
  ARGS(5);
  int64_t fd, max_spans;
  uint8_t *data, *span_bytes;
  size_t data_length, spans_length;
  uint32_t *stats = stats_of(env, argv[4]);
  if (!arg_int(env, argv[0], &fd) || !arg_buffer(env, argv[1], &data, &data_length) ||
      !arg_buffer(env, argv[2], &span_bytes, &spans_length) || !arg_int(env, argv[3], &max_spans) || !stats) {
    napi_throw_type_error(env, NULL, "tunReadSegments(fd, data, spans, maxSpans, stats)");
    return NULL;
  }
  size_t frame_space = VNET_HDR_LEN + OFFLOAD_MAX_FRAME;
  if (data_length < frame_space + OFFLOAD_SPLIT_RESERVE || (size_t)max_spans * 8 > spans_length) {
    napi_throw_range_error(env, NULL, "buffers too small for tunReadSegments");
    return NULL;
  }
  uint8_t *frame = data + data_length - frame_space;
  size_t capacity = data_length - frame_space;
  uint32_t *spans = (uint32_t *)span_bytes;
  size_t used = 0;
  uint32_t count = 0;
  while (capacity - used >= OFFLOAD_SPLIT_RESERVE && (uint32_t)max_spans - count >= OFFLOAD_MAX_SEGMENTS) {
    ssize_t n = read((int)fd, frame, frame_space);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (count > 0) break;
      return throw_errno(env, "read tun", errno);
    }
    gso_split(frame, (size_t)n, data, &used, spans, &count, stats);
  }
  return make_int(env, count);
}

static __thread gro_frame_t gro_frames[GRO_MAX_PACKETS];
static __thread struct iovec gro_iov[2 * GRO_MAX_PACKETS + 1];

/* The spans/count arguments shared by tunWriteFrames and groCoalesce. */
static int gro_args(napi_env env, napi_value *argv, uint8_t **data, size_t *data_length, uint32_t **spans, int64_t *count,
                    bool *udp) {
  uint8_t *span_bytes;
  size_t spans_length;
  if (!arg_buffer(env, argv[0], data, data_length) || !arg_buffer(env, argv[1], &span_bytes, &spans_length) ||
      !arg_int(env, argv[2], count) || napi_get_value_bool(env, argv[3], udp) != napi_ok)
    return 0;
  if (*count > GRO_MAX_PACKETS) *count = GRO_MAX_PACKETS;
  if ((size_t)*count * 8 > spans_length) return 0;
  *spans = (uint32_t *)span_bytes;
  return 1;
}

/*
 * tunWriteFrames(fd, data, spans, count, udp, stats) -> frames written. Writes IP packets to a vnet
 * TUN, in-order TCP (and with udp, UDP) packets of a flow coalesced into one GSO frame each.
 */
static napi_value tun_write_frames(napi_env env, napi_callback_info info) {
  ARGS(6);
  int64_t fd, count;
  uint8_t *data;
  size_t data_length;
  uint32_t *spans;
  bool udp;
  uint32_t *stats = stats_of(env, argv[5]);
  if (!arg_int(env, argv[0], &fd) || !gro_args(env, argv + 1, &data, &data_length, &spans, &count, &udp) || !stats) {
    napi_throw_type_error(env, NULL, "tunWriteFrames(fd, data, spans, count, udp, stats)");
    return NULL;
  }
  uint32_t frames = gro_plan(data, data_length, spans, (uint32_t)count, udp, gro_frames, gro_iov + 1, stats);
  int written = 0;
  for (uint32_t f = 0; f < frames; f++) {
    struct iovec *iov = gro_iov + 1 + gro_frames[f].first_iov - 1;
    if (iov[1].iov_len == 0) continue;
    /* The slot before a frame's first iovec is free (the previous frame's data is written). */
    iov[0].iov_base = gro_frames[f].hdr;
    iov[0].iov_len = VNET_HDR_LEN;
    ssize_t n;
    do n = writev((int)fd, iov, (int)gro_frames[f].iov_count + 1);
    while (n < 0 && errno == EINTR);
    if (n >= 0) written++;
    else stats[STAT_WRITE_ERRORS]++;
  }
  stats[STAT_FRAMES_WRITTEN] += (uint32_t)written;
  return make_int(env, written);
}

/* gsoSplit(frame, out, spans, stats) -> packets or -1: the read path's splitting, for tests. */
static napi_value gso_split_js(napi_env env, napi_callback_info info) {
  ARGS(4);
  uint8_t *frame, *out, *span_bytes;
  size_t frame_length, out_length, spans_length;
  uint32_t *stats = stats_of(env, argv[3]);
  if (!arg_buffer(env, argv[0], &frame, &frame_length) || !arg_buffer(env, argv[1], &out, &out_length) ||
      !arg_buffer(env, argv[2], &span_bytes, &spans_length) || !stats) {
    napi_throw_type_error(env, NULL, "gsoSplit(frame, out, spans, stats)");
    return NULL;
  }
  if (out_length < OFFLOAD_SPLIT_RESERVE || spans_length < OFFLOAD_MAX_SEGMENTS * 8) {
    napi_throw_range_error(env, NULL, "buffers too small for gsoSplit");
    return NULL;
  }
  size_t used = 0;
  uint32_t count = 0;
  return make_int(env, gso_split(frame, frame_length, out, &used, (uint32_t *)span_bytes, &count, stats));
}

/*
 * groCoalesce(data, spans, count, udp, out, outSpans, stats) -> frames: the write path's coalescing,
 * for tests. Frame i (vnet header + packet) is copied to out[outSpans[2i], +outSpans[2i+1]].
 */
static napi_value gro_coalesce_js(napi_env env, napi_callback_info info) {
  ARGS(7);
  int64_t count;
  uint8_t *data, *out, *out_span_bytes;
  size_t data_length, out_length, out_spans_length;
  uint32_t *spans;
  bool udp;
  uint32_t *stats = stats_of(env, argv[6]);
  if (!gro_args(env, argv, &data, &data_length, &spans, &count, &udp) || !arg_buffer(env, argv[4], &out, &out_length) ||
      !arg_buffer(env, argv[5], &out_span_bytes, &out_spans_length) || !stats) {
    napi_throw_type_error(env, NULL, "groCoalesce(data, spans, count, udp, out, outSpans, stats)");
    return NULL;
  }
  uint32_t frames = gro_plan(data, data_length, spans, (uint32_t)count, udp, gro_frames, gro_iov, stats);
  uint32_t *out_spans = (uint32_t *)out_span_bytes;
  size_t used = 0;
  for (uint32_t f = 0; f < frames && (f + 1) * 8 <= out_spans_length; f++) {
    size_t start = used;
    if (used + VNET_HDR_LEN > out_length) break;
    memcpy(out + used, gro_frames[f].hdr, VNET_HDR_LEN);
    used += VNET_HDR_LEN;
    for (uint32_t k = 0; k < gro_frames[f].iov_count; k++) {
      struct iovec *v = &gro_iov[gro_frames[f].first_iov + k];
      if (used + v->iov_len > out_length) break;
      memcpy(out + used, v->iov_base, v->iov_len);
      used += v->iov_len;
    }
    out_spans[f * 2] = (uint32_t)start;
    out_spans[f * 2 + 1] = (uint32_t)(used - start);
  }
  return make_int(env, frames);
}

/*
 * udpSetOffloads(fd) -> bits: 1 = the kernel takes UDP_SEGMENT (GSO) sends, 2 = UDP GRO is on for
 * receives. Probed once per socket; either may be missing on old kernels.
 */
static napi_value udp_set_offloads(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (!arg_int(env, argv[0], &fd)) return NULL;
  int bits = 0, value = 0, one = 1;
  socklen_t length = sizeof value;
  if (getsockopt((int)fd, SOL_UDP, UDP_SEGMENT, &value, &length) == 0) bits |= 1;
  if (setsockopt((int)fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0) bits |= 2;
  return make_int(env, bits);
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

/* dupFd(fd) -> a new descriptor for the same socket or TUN queue, close-on-exec: a worker thread owns its copy. */
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (!arg_int(env, argv[0], &fd)) return NULL;
  int copy = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return throw_errno(env, "fcntl F_DUPFD_CLOEXEC", errno);
  return make_int(env, copy);
}

/* tunDetachQueue(fd): the kernel stops steering packets to this queue; it can no longer be read or written. */
static napi_value tun_detach_queue(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (!arg_int(env, argv[0], &fd)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_DETACH_QUEUE;
  if (ioctl((int)fd, TUNSETQUEUE, &ifr) < 0) return throw_errno(env, "ioctl TUNSETQUEUE", errno);
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
    {"dupFd", NULL, dup_fd, NULL, NULL, NULL, napi_default, NULL},
    {"tunDetachQueue", NULL, tun_detach_queue, NULL, NULL, NULL, napi_default, NULL},
    {"recvBatch", NULL, recv_batch, NULL, NULL, NULL, napi_default, NULL},
    {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_default, NULL},
    {"tunReadBatch", NULL, tun_read_batch, NULL, NULL, NULL, napi_default, NULL},
    {"tunWriteBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_default, NULL},
    {"tunSetOffloads", NULL, tun_set_offloads, NULL, NULL, NULL, napi_default, NULL},
    {"tunReadSegments", NULL, tun_read_segments, NULL, NULL, NULL, napi_default, NULL},
    {"tunWriteFrames", NULL, tun_write_frames, NULL, NULL, NULL, napi_default, NULL},
    {"gsoSplit", NULL, gso_split_js, NULL, NULL, NULL, napi_default, NULL},
    {"groCoalesce", NULL, gro_coalesce_js, NULL, NULL, NULL, napi_default, NULL},
    {"udpSetOffloads", NULL, udp_set_offloads, NULL, NULL, NULL, napi_default, NULL},
    {"aeadBatch", NULL, aead_batch, NULL, NULL, NULL, napi_default, NULL},
    {"unixListen", NULL, unix_listen, NULL, NULL, NULL, napi_default, NULL},
    {"pollStart", NULL, poll_start, NULL, NULL, NULL, napi_default, NULL},
    {"pollStop", NULL, poll_stop, NULL, NULL, NULL, napi_default, NULL},
    {"macInto", NULL, blake2s_mac_into, NULL, NULL, NULL, napi_default, NULL},
    {"macVerify", NULL, blake2s_mac_verify, NULL, NULL, NULL, napi_default, NULL},
    {"receiveBacklog", NULL, socket_receive_backlog, NULL, NULL, NULL, napi_default, NULL},
    {"handshakeTriage", NULL, handshake_triage, NULL, NULL, NULL, napi_default, NULL},
    {"cookieReplies", NULL, cookie_replies, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
