/*
 * udp_room: how full is the local UDP socket that a datagram written to the TUN will land in?
 *
 * Why: the VPN's receiver writes GSO_UDP_L4 records of up to ~45 datagrams, which the kernel
 * queues on the receiving socket at once. A socket buffer of the default size (~90 datagrams)
 * overflows whenever its reader waits for a core, and everything both nodes did for the dropped
 * datagrams is lost (docs/vpn.md, "Where the CPU goes"). Asking the kernel how much of the
 * socket's buffer is in use (sock_diag, one netlink round trip, a few microseconds) lets the
 * writer wait, briefly and boundedly, until the record fits (tun.c, wait_for_room). While it waits
 * the node reads nothing more from its peers, so the tunnel's flow control (yamux windows, the
 * sender's link queue, the sender pausing its TUN) moves the excess back to the sending TUN's
 * queue, where dropping it costs neither node anything.
 *
 * The socket is looked up like the kernel's UDP delivery does (udp_dump_one: remote address and
 * port as the packet's source, local as its destination), in the namespace this process was in
 * when the device was opened (as udp_drops.h). Anything unexpected (no such socket, not UDP, an
 * IPv6 extension header, netlink refused) answers "unknown", and the writer does not wait.
 *
 * Header-only (static functions) so that binding.gyp, which several areas share, stays as it is.
 */
#ifndef DMSNET_UDP_ROOM_H
#define DMSNET_UDP_ROOM_H

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int fd;        /* NETLINK_SOCK_DIAG socket; -1 not opened yet, -2 unavailable */
  uint32_t seq;
} udp_room_t;

static void udp_room_init(udp_room_t *r) {
  r->fd = -1;
  r->seq = 0;
}

static void udp_room_close(udp_room_t *r) {
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
}

/*
 * `pkt` is an IP packet (no vnet header) of `len` bytes carrying UDP. On success returns 1 and
 * sets the receiving socket's allocated receive memory and its receive buffer size (bytes, as the
 * kernel counts them: truesize); returns 0 when that cannot be known.
 */
static int udp_room_query(udp_room_t *r, const uint8_t *pkt, size_t len, uint32_t *rmem, uint32_t *rcvbuf) {
  if (r->fd == -2 || len < 1) return 0;
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  size_t l4;
  int v = pkt[0] >> 4;
  if (v == 4) {
    if (len < 20) return 0;
    l4 = (size_t)(pkt[0] & 0x0f) * 4;
    if (pkt[9] != IPPROTO_UDP || l4 < 20 || len < l4 + 8) return 0;
    msg.req.sdiag_family = AF_INET;
    memcpy(&msg.req.id.idiag_src[0], pkt + 12, 4);
    memcpy(&msg.req.id.idiag_dst[0], pkt + 16, 4);
  } else if (v == 6) {
    l4 = 40;
    if (len < l4 + 8 || pkt[6] != IPPROTO_UDP) return 0;
    msg.req.sdiag_family = AF_INET6;
    memcpy(msg.req.id.idiag_src, pkt + 8, 16);
    memcpy(msg.req.id.idiag_dst, pkt + 24, 16);
  } else {
    return 0;
  }
  /* udp_dump_one looks the socket up with the request's source as the remote end */
  memcpy(&msg.req.id.idiag_sport, pkt + l4, 2);
  memcpy(&msg.req.id.idiag_dport, pkt + l4 + 2, 2);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  msg.req.sdiag_protocol = IPPROTO_UDP;
  msg.req.idiag_states = ~0u;
  msg.req.idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.nlh.nlmsg_seq = ++r->seq;
  if (r->fd == -1) {
    r->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
    if (r->fd < 0) { r->fd = -2; return 0; }
  }
  struct sockaddr_nl nl;
  memset(&nl, 0, sizeof nl);
  nl.nl_family = AF_NETLINK;
  if (sendto(r->fd, &msg, sizeof msg, 0, (struct sockaddr *)&nl, sizeof nl) != (ssize_t)sizeof msg) return 0;
  /* the kernel answers a dump_one request inside sendto: the reply is already queued */
  union {
    struct nlmsghdr h;
    uint8_t b[1024];
  } buf;
  for (;;) {
    ssize_t n = recv(r->fd, &buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    struct nlmsghdr *h = &buf.h;
    if (!NLMSG_OK(h, (size_t)n)) return 0;
    /* an answer to an earlier request that timed out is skipped */
    if (h->nlmsg_seq != r->seq) continue;
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return 0; /* NLMSG_ERROR: no such socket */
    struct inet_diag_msg *m = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m)) return 0;
    size_t alen = h->nlmsg_len - NLMSG_LENGTH(sizeof *m);
    struct rtattr *a = (struct rtattr *)((uint8_t *)m + NLMSG_ALIGN(sizeof *m));
    for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
      if (a->rta_type != INET_DIAG_SKMEMINFO || RTA_PAYLOAD(a) < (SK_MEMINFO_RCVBUF + 1) * sizeof(uint32_t)) continue;
      const uint32_t *mem = (const uint32_t *)RTA_DATA(a);
      *rmem = mem[SK_MEMINFO_RMEM_ALLOC];
      *rcvbuf = mem[SK_MEMINFO_RCVBUF];
      return 1;
    }
    return 0;
  }
}

#endif
