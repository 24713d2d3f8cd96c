/*
 * udp_drops: are the local UDP receivers losing datagrams right now?
 *
 * Why: the VPN's receiver writes GSO_UDP_L4 records of ~40 datagrams to its TUN, and the kernel
 * queues them on the receiving socket at once. When that reader shares a core with us and we keep
 * writing, its socket buffer overflows and all the work both nodes did for those datagrams is
 * lost. Giving up the CPU after each record lets the reader run first (tun.c, maybe_yield), but
 * on a busy machine it also hands our time to strangers. So the yields are gated on the evidence
 * that they are needed: the namespace's UDP RcvbufErrors counter (and Udp6RcvbufErrors) went up.
 *
 * The counters are those of the namespace this process was in when the device was opened
 * (/proc/self/net); a device moved into another namespace has its readers elsewhere, and there
 * the counters never move, so no yields happen (as without the option).
 *
 * Header-only (static functions) so that binding.gyp, which several areas share, stays as it is.
 */
#ifndef DMSNET_UDP_DROPS_H
#define DMSNET_UDP_DROPS_H

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  int fd4, fd6;        /* /proc/self/net/snmp, /proc/self/net/snmp6 (-1: not open or not readable) */
  int opened;
  uint64_t last;       /* the sum of both counters at the last check */
  int have_last;
} udp_drops_t;

static void udp_drops_init(udp_drops_t *d) {
  d->fd4 = d->fd6 = -1;
  d->opened = 0;
  d->last = 0;
  d->have_last = 0;
}

static void udp_drops_close(udp_drops_t *d) {
  if (d->fd4 >= 0) close(d->fd4);
  if (d->fd6 >= 0) close(d->fd6);
  d->fd4 = d->fd6 = -1;
}

/* "Udp: InDatagrams ... RcvbufErrors ..." then "Udp: 1 2 ...": the value under RcvbufErrors */
static int udp_drops_parse4(const char *s, uint64_t *out) {
  const char *h = strstr(s, "\nUdp: ");
  if (h == NULL) return 0;
  h += 1;
  const char *v = strstr(h + 5, "\nUdp: ");
  if (v == NULL) return 0;
  v += 1;
  /* the column of RcvbufErrors in the header line */
  const char *eol = strchr(h, '\n');
  const char *at = strstr(h, " RcvbufErrors");
  if (at == NULL || eol == NULL || at > eol) return 0;
  int col = 0;
  for (const char *p = h; p < at; p++) if (*p == ' ') col++;
  const char *p = v;
  for (int c = 0; c <= col && p != NULL; c++) p = strchr(p + 1, ' ');
  if (p == NULL) return 0;
  *out = strtoull(p + 1, NULL, 10);
  return 1;
}

/* "Udp6RcvbufErrors                  123" */
static int udp_drops_parse6(const char *s, uint64_t *out) {
  const char *k = strstr(s, "Udp6RcvbufErrors");
  if (k == NULL) return 0;
  *out = strtoull(k + strlen("Udp6RcvbufErrors"), NULL, 10);
  return 1;
}

static int udp_drops_read(int fd, int v6, uint64_t *out) {
  char buf[v6 ? 8192 : 4096];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  return v6 ? udp_drops_parse6(buf, out) : udp_drops_parse4(buf, out);
}

/*
 * Returns 1 when the receivers' drop counters rose since the last call, 0 when not (or when they
 * cannot be read). The first call only takes the reference.
 */
static int udp_drops_rose(udp_drops_t *d) {
  if (!d->opened) {
    d->opened = 1;
    d->fd4 = open("/proc/self/net/snmp", O_RDONLY | O_CLOEXEC);
    d->fd6 = open("/proc/self/net/snmp6", O_RDONLY | O_CLOEXEC);
  }
  uint64_t sum = 0, x = 0;
  int any = 0;
  if (d->fd4 >= 0 && udp_drops_read(d->fd4, 0, &x)) { sum += x; any = 1; }
  if (d->fd6 >= 0 && udp_drops_read(d->fd6, 1, &x)) { sum += x; any = 1; }
  if (!any) return 0;
  int rose = d->have_last && sum > d->last;
  d->last = sum;
  d->have_last = 1;
  return rose;
}

#endif
