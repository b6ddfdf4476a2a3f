/*
 * TUN offload segmentation and coalescing (see offload.h). Modelled on what the kernel's own
 * tcp_gso_segment / tcp_gro_receive do, and on wireguard-go's tun/offload_linux.go.
 */
#include "offload.h"

#include <string.h>

#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put_be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

void vnet_hdr_read(const uint8_t *in, vnet_hdr_t *hdr) {
  hdr->flags = in[0];
  hdr->gso_type = in[1];
  hdr->hdr_len = le16(in + 2);
  hdr->gso_size = le16(in + 4);
  hdr->csum_start = le16(in + 6);
  hdr->csum_offset = le16(in + 8);
}

void vnet_hdr_write(uint8_t *out, const vnet_hdr_t *hdr) {
  out[0] = hdr->flags;
  out[1] = hdr->gso_type;
  put_le16(out + 2, hdr->hdr_len);
  put_le16(out + 4, hdr->gso_size);
  put_le16(out + 6, hdr->csum_start);
  put_le16(out + 8, hdr->csum_offset);
}

/*
 * Ones' complement sum of big-endian 16-bit words, accumulated wide and folded once. Summing in host
 * order and storing the result with the same byte order gives the network-order checksum (RFC 1071
 * section 2(B)), so the loop loads words natively.
 */
static uint64_t sum_bytes(const uint8_t *p, size_t length, uint64_t sum) {
  while (length >= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    sum += (uint64_t)a + b;
    p += 8;
    length -= 8;
  }
  if (length >= 4) {
    uint32_t a;
    memcpy(&a, p, 4);
    sum += a;
    p += 4;
    length -= 4;
  }
  if (length >= 2) {
    uint16_t a;
    memcpy(&a, p, 2);
    sum += a;
    p += 2;
    length -= 2;
  }
  if (length) {
    uint8_t last[2] = {p[0], 0};
    uint16_t a;
    memcpy(&a, last, 2);
    sum += a;
  }
  return sum;
}

static uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* Pseudo-header sum (RFC 768/793, RFC 8200 8.1) in the same host-order convention. */
static uint64_t pseudo_sum(const uint8_t *ip, int v6, uint8_t proto, uint32_t l4_length) {
  uint8_t tail[8] = {0, 0, 0, 0, 0, 0, 0, proto};
  put_be32(tail, l4_length);
  uint64_t sum = v6 ? sum_bytes(ip + 8, 32, 0) : sum_bytes(ip + 12, 8, 0);
  return sum_bytes(tail, 8, sum);
}

static void store_sum(uint8_t *field, uint16_t value) { memcpy(field, &value, 2); }

static void ipv4_checksum(uint8_t *ip, size_t ihl) {
  ip[10] = ip[11] = 0;
  store_sum(ip + 10, (uint16_t)~fold(sum_bytes(ip, ihl, 0)));
}

/* Full L4 checksum of a packet whose header at ip is complete and whose checksum field is zeroed. */
static void l4_checksum(uint8_t *ip, int v6, size_t iphlen, uint8_t proto, size_t l4_length, size_t field) {
  uint8_t *l4 = ip + iphlen;
  l4[field] = l4[field + 1] = 0;
  uint16_t sum = (uint16_t)~fold(sum_bytes(l4, l4_length, pseudo_sum(ip, v6, proto, (uint32_t)l4_length)));
  if (proto == PROTO_UDP && sum == 0) sum = 0xffff;
  store_sum(l4 + field, sum);
}

static int invalid(uint32_t *stats) {
  stats[STAT_INVALID]++;
  return -1;
}

static void add_span(uint32_t *spans, uint32_t *count, size_t offset, size_t length) {
  spans[*count * 2] = (uint32_t)offset;
  spans[*count * 2 + 1] = (uint32_t)length;
  (*count)++;
}

int gso_split(const uint8_t *frame, size_t length, uint8_t *out, size_t *used, uint32_t *spans, uint32_t *count,
              uint32_t *stats) {
  stats[STAT_FRAMES_READ]++;
  if (length < VNET_HDR_LEN + 20 || length > VNET_HDR_LEN + OFFLOAD_MAX_FRAME) return invalid(stats);
  vnet_hdr_t hdr;
  vnet_hdr_read(frame, &hdr);
  const uint8_t *ip = frame + VNET_HDR_LEN;
  size_t ip_length = length - VNET_HDR_LEN;
  uint8_t gso = hdr.gso_type & (uint8_t)~VNET_GSO_ECN;

  if (gso == VNET_GSO_NONE) {
    uint8_t *packet = out + *used;
    memcpy(packet, ip, ip_length);
    if (hdr.flags & VNET_F_NEEDS_CSUM) {
      /* The field holds the pseudo-header sum; the rest of the packet completes it. */
      if ((size_t)hdr.csum_start + hdr.csum_offset + 2 > ip_length) return invalid(stats);
      uint16_t sum = (uint16_t)~fold(sum_bytes(packet + hdr.csum_start, ip_length - hdr.csum_start, 0));
      store_sum(packet + hdr.csum_start + hdr.csum_offset, sum);
    }
    add_span(spans, count, *used, ip_length);
    *used += ip_length;
    stats[STAT_SEGMENTS]++;
    return 1;
  }

  int version = ip[0] >> 4;
  int v6 = version == 6;
  size_t iphlen;
  uint8_t proto;
  if (version == 4) {
    iphlen = (size_t)(ip[0] & 0x0f) * 4;
    proto = ip[9];
    if (iphlen < 20 || (gso != VNET_GSO_TCPV4 && gso != VNET_GSO_UDP_L4)) return invalid(stats);
  } else if (v6) {
    iphlen = 40;
    proto = ip[6];
    if (gso != VNET_GSO_TCPV6 && gso != VNET_GSO_UDP_L4) return invalid(stats);
  } else {
    return invalid(stats);
  }
  if ((gso == VNET_GSO_UDP_L4) != (proto == PROTO_UDP) || (proto != PROTO_TCP && proto != PROTO_UDP)) return invalid(stats);
  /* The kernel points csum_start at the transport header; anything else is not a frame we understand. */
  if (hdr.csum_start != iphlen || iphlen + 8 > ip_length) return invalid(stats);
  size_t l4hlen = proto == PROTO_TCP ? (size_t)(ip[iphlen + 12] >> 4) * 4 : 8;
  if (l4hlen < 8 || (proto == PROTO_TCP && l4hlen < 20)) return invalid(stats);
  /* hdr_len from the kernel may be an estimate; the headers themselves are authoritative. */
  size_t hl = iphlen + l4hlen;
  if (hl > ip_length) return invalid(stats);
  size_t payload = ip_length - hl;
  if (hdr.gso_size == 0) return invalid(stats);
  size_t segments = payload == 0 ? 1 : (payload + hdr.gso_size - 1) / hdr.gso_size;
  if (segments > OFFLOAD_MAX_SEGMENTS) return invalid(stats);

  uint16_t id = v6 ? 0 : be16(ip + 4);
  uint32_t seq = proto == PROTO_TCP ? be32(ip + iphlen + 4) : 0;
  uint8_t tcp_flags = proto == PROTO_TCP ? ip[iphlen + 13] : 0;
  for (size_t i = 0; i < segments; i++) {
    size_t start = i * hdr.gso_size;
    size_t chunk = payload - start < hdr.gso_size ? payload - start : hdr.gso_size;
    size_t packet_length = hl + chunk;
    uint8_t *packet = out + *used;
    memcpy(packet, ip, hl);
    memcpy(packet + hl, ip + hl + start, chunk);
    if (v6) {
      put_be16(packet + 4, (uint16_t)(packet_length - 40));
    } else {
      put_be16(packet + 2, (uint16_t)packet_length);
      put_be16(packet + 4, (uint16_t)(id + i));
      ipv4_checksum(packet, iphlen);
    }
    uint8_t *l4 = packet + iphlen;
    if (proto == PROTO_TCP) {
      put_be32(l4 + 4, seq + (uint32_t)start);
      uint8_t flags = tcp_flags;
      if (i + 1 < segments) flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
      if (i > 0) flags &= (uint8_t)~TCP_CWR;
      l4[13] = flags;
      l4_checksum(packet, v6, iphlen, PROTO_TCP, packet_length - iphlen, 16);
    } else {
      put_be16(l4 + 4, (uint16_t)(packet_length - iphlen));
      l4_checksum(packet, v6, iphlen, PROTO_UDP, packet_length - iphlen, 6);
    }
    add_span(spans, count, *used, packet_length);
    *used += packet_length;
  }
  stats[STAT_GSO_FRAMES]++;
  stats[STAT_SEGMENTS] += (uint32_t)segments;
  return (int)segments;
}

/* ---- coalescing ------------------------------------------------------------------------------ */

typedef struct {
  uint8_t *ip;
  uint32_t length;
  uint32_t iphlen;
  uint32_t l4hlen;
  uint8_t proto;
  uint8_t v6;
  uint8_t coalescable;
} packet_t;

typedef struct {
  uint32_t head;         /* packet index */
  uint32_t members[64];  /* packet indexes after the head; the kernel's GRO stops at 64 too */
  uint32_t member_count;
  uint32_t gso_size;     /* the head's payload length */
  uint32_t total;        /* IP length of the coalesced packet */
  uint32_t next_seq;
  uint8_t open;
  uint8_t push;
  uint8_t head_checked;
} group_t;

static int checksum_valid(const packet_t *p) {
  uint32_t l4_length = p->length - p->iphlen;
  uint8_t *l4 = p->ip + p->iphlen;
  if (p->proto == PROTO_UDP && l4[6] == 0 && l4[7] == 0) return !p->v6; /* no checksum: IPv4 only */
  return fold(sum_bytes(l4, l4_length, pseudo_sum(p->ip, p->v6, p->proto, l4_length))) == 0xffff;
}

static void parse(packet_t *p, int udp) {
  uint8_t *ip = p->ip;
  p->coalescable = 0;
  if (p->length < 20) return;
  int version = ip[0] >> 4;
  if (version == 4) {
    if ((ip[0] & 0x0f) != 5 || be16(ip + 2) != p->length) return;
    if (be16(ip + 6) & 0x3fff) return; /* a fragment (MF or an offset) */
    p->iphlen = 20;
    p->proto = ip[9];
    p->v6 = 0;
  } else if (version == 6) {
    if (p->length < 40 || (uint32_t)be16(ip + 4) + 40 != p->length) return;
    p->iphlen = 40;
    p->proto = ip[6]; /* extension headers are not coalesced */
    p->v6 = 1;
  } else {
    return;
  }
  if (p->proto == PROTO_TCP) {
    if (p->length < p->iphlen + 20) return;
    p->l4hlen = (uint32_t)(ip[p->iphlen + 12] >> 4) * 4;
    if (p->l4hlen < 20 || p->iphlen + p->l4hlen >= p->length) return; /* pure ACKs stay as they are */
    uint8_t flags = ip[p->iphlen + 13];
    if ((flags & ~(TCP_ACK | TCP_PSH)) || !(flags & TCP_ACK)) return;
  } else if (p->proto == PROTO_UDP && udp) {
    p->l4hlen = 8;
    if (p->length <= p->iphlen + 8 || be16(ip + p->iphlen + 4) != p->length - p->iphlen) return;
  } else {
    return;
  }
  p->coalescable = 1;
}

/* Same flow and same everything the head's header stands for in the merged packet. */
static int same_flow(const packet_t *a, const packet_t *b) {
  if (a->v6 != b->v6 || a->proto != b->proto || a->l4hlen != b->l4hlen) return 0;
  const uint8_t *x = a->ip, *y = b->ip;
  if (a->v6) {
    if (memcmp(x, y, 4) || x[7] != y[7] || memcmp(x + 8, y + 8, 32)) return 0; /* class, flow, hop limit */
  } else {
    if (x[1] != y[1] || x[8] != y[8] || (x[6] & 0x40) != (y[6] & 0x40) || memcmp(x + 12, y + 12, 8)) return 0;
  }
  const uint8_t *l4x = x + a->iphlen, *l4y = y + b->iphlen;
  if (memcmp(l4x, l4y, 4)) return 0; /* ports */
  if (a->proto == PROTO_TCP) {
    if (memcmp(l4x + 8, l4y + 8, 4)) return 0;                        /* acknowledgment number */
    if (memcmp(l4x + 20, l4y + 20, a->l4hlen - 20)) return 0;         /* options, timestamps included */
  }
  return 1;
}

static void finish_group(group_t *g, packet_t *packets, gro_frame_t *frame, struct iovec *iov, uint32_t *iov_used,
                         uint32_t *stats) {
  packet_t *h = &packets[g->head];
  vnet_hdr_t hdr = {0};
  frame->first_iov = *iov_used;
  iov[(*iov_used)++] = (struct iovec){h->ip, h->length};
  if (g->member_count > 0) {
    uint8_t *ip = h->ip;
    uint8_t *l4 = ip + h->iphlen;
    uint32_t l4_length = g->total - h->iphlen;
    if (h->v6) {
      put_be16(ip + 4, (uint16_t)l4_length);
    } else {
      put_be16(ip + 2, (uint16_t)g->total);
      ipv4_checksum(ip, h->iphlen);
    }
    /* CHECKSUM_PARTIAL: the field carries the pseudo-header sum, the kernel adds the rest. */
    size_t field = h->proto == PROTO_TCP ? 16 : 6;
    if (h->proto == PROTO_TCP) {
      if (g->push) l4[13] |= TCP_PSH;
    } else {
      put_be16(l4 + 4, (uint16_t)l4_length);
    }
    store_sum(l4 + field, fold(pseudo_sum(ip, h->v6, h->proto, l4_length)));
    hdr.flags = VNET_F_NEEDS_CSUM;
    hdr.gso_type = h->proto == PROTO_UDP ? VNET_GSO_UDP_L4 : h->v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
    hdr.hdr_len = (uint16_t)(h->iphlen + h->l4hlen);
    hdr.gso_size = (uint16_t)g->gso_size;
    hdr.csum_start = (uint16_t)h->iphlen;
    hdr.csum_offset = (uint16_t)field;
    for (uint32_t i = 0; i < g->member_count; i++) {
      packet_t *m = &packets[g->members[i]];
      uint32_t hl = m->iphlen + m->l4hlen;
      iov[(*iov_used)++] = (struct iovec){m->ip + hl, m->length - hl};
    }
    stats[STAT_COALESCED] += g->member_count + 1;
  }
  vnet_hdr_write(frame->hdr, &hdr);
  frame->iov_count = *iov_used - frame->first_iov;
}

uint32_t gro_plan(uint8_t *data, size_t data_length, const uint32_t *spans, uint32_t count, int udp, gro_frame_t *frames,
                  struct iovec *iov, uint32_t *stats) {
  /* Per thread: each data-plane worker thread coalesces its own writes. */
  static __thread packet_t packets[GRO_MAX_PACKETS];
  static __thread group_t groups[GRO_MAX_PACKETS];
  if (count > GRO_MAX_PACKETS) count = GRO_MAX_PACKETS;
  uint32_t group_count = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t offset = spans[i * 2], length = spans[i * 2 + 1];
    packet_t *p = &packets[i];
    if ((size_t)offset + length > data_length) length = 0;
    p->ip = data + offset;
    p->length = length;
    parse(p, udp);
    if (p->coalescable) {
      /* The most recent open groups are where an in-order packet belongs. */
      uint32_t payload = p->length - p->iphlen - p->l4hlen;
      uint32_t searched = 0;
      for (uint32_t k = group_count; k-- > 0 && searched < 8;) {
        group_t *g = &groups[k];
        if (!g->open) continue;
        searched++;
        packet_t *h = &packets[g->head];
        if (!same_flow(h, p)) continue;
        int fits = payload <= g->gso_size && g->total + payload <= OFFLOAD_MAX_FRAME && g->member_count < 64;
        if (h->proto == PROTO_TCP) fits = fits && be32(p->ip + p->iphlen + 4) == g->next_seq;
        if (fits && !g->head_checked) {
          g->head_checked = 1;
          if (!checksum_valid(h)) g->open = 0;
        }
        if (!fits || !g->open || !checksum_valid(p)) {
          g->open = 0; /* a gap or a bad packet: later packets of the flow start afresh */
          break;
        }
        g->members[g->member_count++] = i;
        g->total += payload;
        g->next_seq += payload;
        uint8_t push = h->proto == PROTO_TCP && (p->ip[p->iphlen + 13] & TCP_PSH);
        if (push) g->push = 1;
        if (push || payload < g->gso_size) g->open = 0;
        goto next;
      }
    }
    {
      group_t *g = &groups[group_count++];
      g->head = i;
      g->member_count = 0;
      g->total = p->length;
      g->open = p->coalescable;
      g->push = 0;
      g->head_checked = 0;
      if (p->coalescable) {
        g->gso_size = p->length - p->iphlen - p->l4hlen;
        if (p->proto == PROTO_TCP) {
          g->next_seq = be32(p->ip + p->iphlen + 4) + g->gso_size;
          if (p->ip[p->iphlen + 13] & TCP_PSH) g->open = 0;
        }
      }
    }
  next:;
  }
  uint32_t iov_used = 0;
  for (uint32_t k = 0; k < group_count; k++) finish_group(&groups[k], packets, &frames[k], iov, &iov_used, stats);
  return group_count;
}
