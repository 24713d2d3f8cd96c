/*
 * UDP coalescing for TUN records (on the way out of a TUN read; optionally, GRO-style, before a
 * TUN write), as wireguard-go's tun/offload_linux.go and Tailscale do: consecutive packets of one UDP flow, each
 * handed out by the kernel with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM), become one
 * VIRTIO_NET_HDR_GSO_UDP_L4 super-packet that the receiving kernel (TUN_F_USO4/6, Linux >= 6.2)
 * splits again into the same datagrams. One record instead of ~45 per 64 KiB: fewer records for
 * the VPN to route and check in JavaScript, fewer write() calls into the TUN.
 *
 * What merges: the same addresses, ports, TOS/TTL (IPv4: no options, not a fragment, consecutive
 * IP ids, same DF) or traffic class/flow label/hop limit (IPv6: UDP right after the fixed header);
 * every segment the size of the first except possibly a shorter last one; at most 64 segments
 * and 65535 bytes of IP packet. A packet with a full checksum is never merged (the merge would
 * drop the evidence of its integrity); anything else passes through untouched.
 */
#ifndef DMSNET_UDP_GRO_H
#define DMSNET_UDP_GRO_H

#include <stddef.h>
#include <stdint.h>

/* Segments below this payload size are not merged (the VPN refuses gso_size < 88 from peers). */
#define GRO_MIN_SEGMENT 88
#define GRO_MAX_SEGMENTS 64
/* Most segments a record from a peer may carry and still be cut (65535 / 88, rounded up). */
#define GSO_SPLIT_MAX_SEGMENTS 745

typedef struct {
  int open;            /* a run of records that may still grow */
  size_t rec_off;      /* offset of the run's 4-byte record length in the buffer */
  size_t iphl;         /* IP header length (20 or 40) */
  int v6;
  uint16_t gso_size;   /* payload bytes of each full segment */
  uint16_t segs;
  uint16_t next_id;    /* IPv4: id the next segment must carry */
  int last_short;      /* a shorter segment was merged: nothing may follow */
  size_t pkt_len;      /* IP packet length so far */
} gro_run_t;

/*
 * Appends the record `pkt` (virtio_net_hdr + IP packet, `n` bytes) at `buf + off`, merging it into
 * the open run when it can. `pkt` may lie at `buf + off + 4` already (read in place) or anywhere
 * else (it is copied). Returns the new end of the buffer; `*merged` counts merged packets.
 */
size_t gro_add(gro_run_t *r, uint8_t *buf, size_t off, const uint8_t *pkt, size_t n, uint64_t *merged);

/* Closes the open run: writes the GSO header and fixes lengths and checksums when it merged any. */
void gro_finish(gro_run_t *r, uint8_t *buf);

/*
 * The other way round, before a write: a GSO_UDP_L4 record (NEEDS_CSUM, as gro_finish makes them)
 * of more than `max_segs` segments is cut into records of at most `max_segs` segments (1: plain
 * datagrams), appended at `out` (room for the input plus 4 + 10 + 40 + 8 bytes per segment is
 * enough). Why: a TUN without USO refuses GSO_UDP_L4 records, and the kernel queues a written
 * GSO packet's datagrams on the receiving socket together, which a small socket buffer without
 * UDP_GRO may not take; one write per few datagrams is paced by the writes themselves.
 * Returns the bytes appended, or 0 when the record is not one to cut (the caller copies it).
 */
size_t gso_split(const uint8_t *pkt, size_t n, unsigned max_segs, uint8_t *out, uint64_t *made);

/* Bytes gso_split may need at most for a record of `n` bytes. */
#define GSO_SPLIT_BOUND(n) ((n) + (size_t)GSO_SPLIT_MAX_SEGMENTS * (4 + 10 + 40 + 8))

#endif
