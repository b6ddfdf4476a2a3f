/*
 * TUN offloads (IFF_VNET_HDR): splitting the kernel's large TSO/USO segments into MTU-sized packets
 * before encryption, and coalescing decrypted in-order TCP/UDP packets of one flow into one large
 * segment per TUN write (GRO). Pure functions over buffers, so tests can drive them without a TUN.
 * The layouts follow virtio_net_hdr (include/uapi/linux/virtio_net.h), little-endian as the TUN
 * driver uses it on x86 and arm64.
 */
#ifndef WIREMESH_OFFLOAD_H
#define WIREMESH_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VNET_HDR_LEN 10
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_UDP 3
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_ECN 0x80

/* The largest IP packet a vnet_hdr frame may carry, and the most segments one may split into. */
#define OFFLOAD_MAX_FRAME 65535
#define OFFLOAD_MAX_SEGMENTS 1024
/* Output space a caller must have free before splitting one frame: worst case is every segment
 * repeating a 120-byte IPv4+TCP header with options. */
#define OFFLOAD_SPLIT_RESERVE (OFFLOAD_MAX_FRAME + OFFLOAD_MAX_SEGMENTS * 120)

/* Counters shared with JS (a Float64Array would need conversions; u32 wraps are fine for rates). */
enum {
  STAT_FRAMES_READ,    /* vnet frames read from the TUN */
  STAT_GSO_FRAMES,     /* of which GSO segments that were split */
  STAT_SEGMENTS,       /* packets produced by splitting (non-GSO frames count 1) */
  STAT_INVALID,        /* frames dropped: bad header, bad csum_start, bad gso_size, truncated */
  STAT_FRAMES_WRITTEN, /* vnet frames written to the TUN */
  STAT_COALESCED,      /* packets that went out as part of a coalesced (GRO) frame */
  STAT_WRITE_ERRORS,   /* TUN writes refused by the kernel */
  STAT_COUNT
};

typedef struct {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} vnet_hdr_t;

void vnet_hdr_read(const uint8_t *in, vnet_hdr_t *hdr);
void vnet_hdr_write(uint8_t *out, const vnet_hdr_t *hdr);

/*
 * Splits one frame (vnet header + IP packet, `length` bytes) into packets appended at out[*used...],
 * recording (offset, length) u32 pairs in spans from index *count. Returns the number of packets
 * produced, or -1 (and counts STAT_INVALID) when the frame is malformed. The caller guarantees
 * OFFLOAD_SPLIT_RESERVE free bytes and OFFLOAD_MAX_SEGMENTS free spans.
 */
int gso_split(const uint8_t *frame, size_t length, uint8_t *out, size_t *used, uint32_t *spans, uint32_t *count,
              uint32_t *stats);

/* Frames planned by gro_plan: each is a vnet header followed by iovecs (the packet bytes). */
typedef struct {
  uint8_t hdr[VNET_HDR_LEN];
  uint32_t first_iov;
  uint32_t iov_count;
} gro_frame_t;

#define GRO_MAX_PACKETS 512

/*
 * Groups `count` IP packets (data + spans of u32 offset/length) into frames: in-order TCP (and, when
 * `udp` is set, UDP) packets of one flow become one GSO frame, everything else one plain frame.
 * Rewrites the heads of coalesced groups in place (lengths, checksums). `iov` needs room for
 * count + 1 entries per frame at most, i.e. 2 * count. Returns the number of frames.
 */
uint32_t gro_plan(uint8_t *data, size_t data_length, const uint32_t *spans, uint32_t count, int udp, gro_frame_t *frames,
                  struct iovec *iov, uint32_t *stats);

#endif
