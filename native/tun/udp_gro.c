/* UDP coalescing for TUN records: see udp_gro.h for what and why. */
#include "udp_gro.h"

#include <string.h>

#define VNET_HDR_LEN 10
#define F_NEEDS_CSUM 1
#define GSO_NONE 0
#define GSO_UDP_L4 5
#define PROTO_UDP 17

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put_be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += be16(p + i);
  if (n & 1) acc += (uint32_t)p[n - 1] << 8;
  return acc;
}

static uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return (uint16_t)acc;
}

/*
 * The UDP payload length of `pkt` (vnet header + IP packet) when it may start or join a run, else
 * -1; `*iphl` and `*v6` describe its IP header.
 */
static int candidate(const uint8_t *pkt, size_t n, size_t *iphl, int *v6) {
  if (n < VNET_HDR_LEN + 20 + 8) return -1;
  if (pkt[0] != F_NEEDS_CSUM || pkt[1] != GSO_NONE) return -1;
  const uint8_t *ip = pkt + VNET_HDR_LEN;
  size_t plen = n - VNET_HDR_LEN;
  uint8_t ver = ip[0] >> 4;
  size_t hl;
  if (ver == 4) {
    if (ip[0] != 0x45 || ip[9] != PROTO_UDP) return -1;
    if ((be16(ip + 6) & 0x3fff) != 0) return -1; /* MF or a fragment offset */
    if (be16(ip + 2) != plen) return -1;
    hl = 20;
    *v6 = 0;
  } else if (ver == 6) {
    if (plen < 40 + 8 || ip[6] != PROTO_UDP) return -1;
    if ((size_t)be16(ip + 4) + 40 != plen) return -1;
    hl = 40;
    *v6 = 1;
  } else {
    return -1;
  }
  if (le16(pkt + 6) != hl || le16(pkt + 8) != 6) return -1;
  const uint8_t *udp = ip + hl;
  if (be16(udp + 4) != plen - hl) return -1;
  *iphl = hl;
  return (int)(plen - hl - 8);
}

/* Same flow and mergeable IP header fields as the run's first packet (at `head`, an IP header). */
static int same_flow(const uint8_t *head, const uint8_t *ip, int v6) {
  if (v6) {
    /* version/traffic class/flow label, next header + hop limit, addresses, ports */
    return memcmp(head, ip, 4) == 0 && memcmp(head + 6, ip + 6, 2) == 0 && memcmp(head + 8, ip + 8, 32 + 4) == 0;
  }
  /* version/ihl/TOS, DF, TTL/protocol, addresses, ports */
  return head[0] == ip[0] && head[1] == ip[1] && (head[6] & 0x40) == (ip[6] & 0x40) &&
         head[8] == ip[8] && head[9] == ip[9] && memcmp(head + 12, ip + 12, 8 + 4) == 0;
}

void gro_finish(gro_run_t *r, uint8_t *buf) {
  if (!r->open) return;
  r->open = 0;
  if (r->segs < 2) return;
  uint8_t *hdr = buf + r->rec_off + 4;
  uint8_t *ip = hdr + VNET_HDR_LEN;
  uint8_t *udp = ip + r->iphl;
  hdr[0] = F_NEEDS_CSUM;
  hdr[1] = GSO_UDP_L4;
  put_le16(hdr + 2, (uint16_t)(r->iphl + 8));
  put_le16(hdr + 4, r->gso_size);
  put_le16(hdr + 6, (uint16_t)r->iphl);
  put_le16(hdr + 8, 6);
  uint16_t udp_len = (uint16_t)(r->pkt_len - r->iphl);
  uint32_t acc;
  if (r->v6) {
    put_be16(ip + 4, udp_len);
    acc = sum16(ip + 8, 32, 0);
  } else {
    put_be16(ip + 2, (uint16_t)r->pkt_len);
    ip[10] = ip[11] = 0;
    put_be16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
    acc = sum16(ip + 12, 8, 0);
  }
  put_be16(udp + 4, udp_len);
  /* CHECKSUM_PARTIAL: the field holds the (uncomplemented) pseudo-header sum; the kernel adds the rest */
  acc += PROTO_UDP + udp_len;
  put_be16(udp + 6, fold(acc));
}

size_t gro_add(gro_run_t *r, uint8_t *buf, size_t off, const uint8_t *pkt, size_t n, uint64_t *merged) {
  size_t iphl = 0;
  int v6 = 0;
  int payload = candidate(pkt, n, &iphl, &v6);
  if (payload > 0 && r->open && !r->last_short && v6 == r->v6 && r->rec_off + 4 + VNET_HDR_LEN + r->pkt_len == off &&
      payload <= r->gso_size && r->segs < GRO_MAX_SEGMENTS && r->pkt_len + (size_t)payload <= 65535) {
    const uint8_t *head = buf + r->rec_off + 4 + VNET_HDR_LEN;
    const uint8_t *ip = pkt + VNET_HDR_LEN;
    if (same_flow(head, ip, v6) && (v6 || be16(ip + 4) == r->next_id)) {
      memmove(buf + off, ip + iphl + 8, (size_t)payload);
      r->pkt_len += (size_t)payload;
      r->segs++;
      r->next_id++;
      if (payload < r->gso_size) r->last_short = 1;
      put_be32(buf + r->rec_off, (uint32_t)(VNET_HDR_LEN + r->pkt_len));
      (*merged)++;
      return off + (size_t)payload;
    }
  }
  gro_finish(r, buf);
  put_be32(buf + off, (uint32_t)n);
  if (pkt != buf + off + 4) memmove(buf + off + 4, pkt, n);
  if (payload >= GRO_MIN_SEGMENT) {
    r->open = 1;
    r->rec_off = off;
    r->iphl = iphl;
    r->v6 = v6;
    r->gso_size = (uint16_t)payload;
    r->segs = 1;
    r->last_short = 0;
    r->pkt_len = n - VNET_HDR_LEN;
    r->next_id = v6 ? 0 : (uint16_t)(be16(pkt + VNET_HDR_LEN + 4) + 1);
  }
  return off + 4 + n;
}

size_t gso_split(const uint8_t *pkt, size_t n, unsigned max_segs, uint8_t *out, uint64_t *made) {
  if (n < VNET_HDR_LEN + 20 + 8 || pkt[0] != F_NEEDS_CSUM || pkt[1] != GSO_UDP_L4) return 0;
  const uint8_t *ip = pkt + VNET_HDR_LEN;
  size_t plen = n - VNET_HDR_LEN;
  size_t hl;
  int v6;
  if ((ip[0] >> 4) == 4) {
    if (ip[0] != 0x45 || ip[9] != PROTO_UDP || be16(ip + 2) != plen) return 0;
    hl = 20;
    v6 = 0;
  } else if ((ip[0] >> 4) == 6) {
    if (plen < 48 || ip[6] != PROTO_UDP || (size_t)be16(ip + 4) + 40 != plen) return 0;
    hl = 40;
    v6 = 1;
  } else {
    return 0;
  }
  size_t gso = le16(pkt + 4);
  if (le16(pkt + 6) != hl || le16(pkt + 8) != 6 || gso == 0) return 0;
  const uint8_t *data = ip + hl + 8;
  size_t total = plen - hl - 8;
  size_t segs = (total + gso - 1) / gso;
  if (segs <= max_segs || segs > GSO_SPLIT_MAX_SEGMENTS || max_segs == 0) return 0;
  uint16_t id = v6 ? 0 : be16(ip + 4);
  size_t o = 0;
  for (size_t first = 0; first < segs; first += max_segs) {
    size_t k = segs - first < max_segs ? segs - first : max_segs;
    size_t start = first * gso;
    size_t len = k * gso;
    if (start + len > total) len = total - start;
    size_t rec = VNET_HDR_LEN + hl + 8 + len;
    put_be32(out + o, (uint32_t)rec);
    uint8_t *h = out + o + 4;
    memset(h, 0, VNET_HDR_LEN);
    h[0] = F_NEEDS_CSUM;
    put_le16(h + 6, (uint16_t)hl);
    put_le16(h + 8, 6);
    if (k > 1) {
      h[1] = GSO_UDP_L4;
      put_le16(h + 2, (uint16_t)(hl + 8));
      put_le16(h + 4, (uint16_t)gso);
    }
    uint8_t *nip = h + VNET_HDR_LEN;
    memcpy(nip, ip, hl + 8);
    uint16_t udp_len = (uint16_t)(8 + len);
    uint32_t acc;
    if (v6) {
      put_be16(nip + 4, udp_len);
      acc = sum16(nip + 8, 32, 0);
    } else {
      put_be16(nip + 2, (uint16_t)(hl + udp_len));
      put_be16(nip + 4, (uint16_t)(id + first));
      nip[10] = nip[11] = 0;
      put_be16(nip + 10, (uint16_t)~fold(sum16(nip, 20, 0)));
      acc = sum16(nip + 12, 8, 0);
    }
    put_be16(nip + hl + 4, udp_len);
    put_be16(nip + hl + 6, fold(acc + PROTO_UDP + udp_len));
    memcpy(nip + hl + 8, data + start, len);
    o += 4 + rec;
    (*made)++;
  }
  return o;
}
