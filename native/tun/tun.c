/*
 * dmsnet_tun: the native half of the TUN/TAP binding.
 *
 * Why native: reading a TUN fd through Node's fs (the libuv thread pool) costs one thread hop per
 * packet and was the slowest path measured (baselines.md). Here the fd is registered with the
 * event loop itself (uv_poll); on each readability wakeup we drain up to N packets into one
 * buffer of length-prefixed records, so JavaScript handles one buffer per batch. Writes take the
 * same record format; when the kernel queue is full (EAGAIN) the rest of the batch is kept in a
 * bounded queue flushed on writability, and what does not fit is counted as dropped.
 *
 * Record format (shared with the VPN tunnel): 4-byte big-endian length, then the payload (the
 * 10-byte virtio_net_hdr + IP packet when IFF_VNET_HDR is on; the bare packet otherwise).
 *
 * With UDP segmentation offload accepted by the kernel (TUN_F_USO4/6), consecutive datagrams of
 * one flow are coalesced into GSO_UDP_L4 super-packets on read; before a write such records can
 * be cut to fewer segments, or single datagrams merged (both options; see udp_gro.h).
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "udp_drops.h"
#include "udp_room.h"
#include "udp_gro.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define VNET_HDR_LEN 10
#define MAX_FRAME (65535 + VNET_HDR_LEN)
#define DEFAULT_MAX_PACKETS 256
#define DEFAULT_MAX_BYTES (1024 * 1024)
#define WRITE_QUEUE_CAP (4 * 1024 * 1024)
/*
 * A read slab holds many batches: one allocation per SLAB_BYTES read, not one per batch. Small
 * enough that an idle node's slab costs little resident memory; a batch ends early when the
 * slab has no room for one more packet of the largest size (the next batch starts a new slab).
 */
#define SLAB_BYTES (1024 * 1024)
/* room for one more packet of the largest size after its record header */
#define SLAB_ROOM (4 + MAX_FRAME)

typedef struct {
  int fd;
  int vnet_hdr;
  int udp_coalesce;    /* merge UDP datagrams into GSO_UDP_L4 records on read (needs USO) */
  int write_merge;     /* also merge single datagrams before a write (GRO) */
  unsigned write_segs; /* cut written GSO_UDP_L4 records to at most this many segments (0: never) */
  int write_yield;     /* sched_yield() after each GSO_UDP_L4 record written: 0 no, 1 while local receivers drop, 2 always, 3 as 1 with a nap instead of sched_yield, 4 as 1 with naps after long yields */
  uint64_t yield_long_ns;  /* mode 4: a yield that took at least this long counts as long */
  unsigned long_streak;    /* mode 4: consecutive long yields */
  unsigned naps_left;      /* mode 4: give-aways still to be naps before the next yield */
  udp_drops_t drops;   /* the namespace's UDP receive-buffer drop counters (udp_drops.h) */
  uint64_t drops_check_at; /* CLOCK_MONOTONIC ns: next look at them */
  uint64_t yield_until;    /* CLOCK_MONOTONIC ns: yields (mode 1) until then */
  udp_room_t room;     /* sock_diag queries of the receiving sockets' buffers (udp_room.h) */
  uint64_t room_until;     /* CLOCK_MONOTONIC ns: wait for room (mode 1) until then */
  uint64_t room_window_at;  /* CLOCK_MONOTONIC ns: start of the current ROOM_WINDOW_NS */
  uint64_t room_waited_ns; /* waited in it (bounded by ROOM_WINDOW_MAX_NS) */
  uint8_t stuck_key[37];   /* the flow whose reader made no progress (family, addresses, ports) */
  uint64_t stuck_until;    /* CLOCK_MONOTONIC ns: do not wait for that flow until then */
  uint8_t room_key[37];    /* the flow whose socket's free space we count down */
  int64_t room_free;       /* bytes that socket can still take, by our count */
  uint64_t room_at;        /* CLOCK_MONOTONIC ns: when the kernel last told us (0: never) */
  int room_alone_on;       /* wait past the shared bounds while the flow has the device to itself */
  uint64_t other_at;       /* CLOCK_MONOTONIC ns: start of the current ROOM_WINDOW_NS of other traffic */
  uint64_t other_bytes;    /* bytes of other traffic (not room_key's flow; either direction) in it */
  uint64_t other_prev;     /* in the window before it */
  char name[IFNAMSIZ];
  napi_env env;
  uv_poll_t poll;
  int poll_inited;
  int poll_events;
  int closed;          /* close() called: fd closed, poll stopped */
  int handle_closed;   /* uv_close callback ran (or poll never inited) */
  int finalized;       /* JS object collected */
  int reading;
  napi_ref cb_ref;
  napi_async_context actx;
  size_t max_packets;
  size_t max_bytes;
  /* Reads go straight into a JS-owned slab (no copy per batch); each batch is a Uint8Array view
   * of its own region, never written again, so a batch a consumer keeps stays valid. */
  napi_ref slab_ref;   /* the slab's ArrayBuffer (JS views keep it alive after we move on) */
  uint8_t *slab;
  size_t slab_cap, slab_pos, slab_ab_off;
  uint8_t *gro_buf;    /* a write batch after coalescing */
  size_t gro_cap;
  uint8_t *wq;         /* pending records (same format), flushed on writability */
  size_t wq_len, wq_off, wq_cap;
  uint64_t rx_packets, rx_bytes, rx_batches, rx_errors;
  uint64_t tx_packets, tx_bytes, tx_errors, tx_drops, tx_queued;
  uint64_t rx_coalesced, tx_coalesced; /* datagrams merged into another record */
  uint64_t tx_split;   /* records written that were cut out of a larger GSO_UDP_L4 record */
  uint64_t tx_yields;  /* sched_yield() calls after GSO_UDP_L4 writes */
  uint64_t tx_reader_drops; /* checks that found the local receivers' drop counters risen (mode 1) */
  uint64_t tx_yield_ns; /* time spent in those yields (off the CPU, mostly) */
  uint64_t tx_yields_long; /* sched_yield() calls that took at least yield_long_ns (mode 4) */
  uint64_t tx_naps;    /* naps instead of a sched_yield (modes 3, 4; counted in tx_yields too) */
  uint64_t tx_nap_ns;  /* time spent in them (counted in tx_yield_ns too) */
  uint64_t tx_room_waits;   /* UDP records written only after waiting for room in their socket */
  uint64_t tx_room_wait_ns; /* time spent in those waits (asleep) */
  uint64_t tx_room_gave_up; /* waits ended without room: the reader made no progress, or the bound */
  uint64_t tx_room_alone;   /* waits that went past the shared bounds: their flow had the device to itself */
} tun_t;

#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, "ERR_TUN_NAPI", "N-API call failed: " #call);      \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error, errnum;
  napi_create_string_utf8(env, "ERR_TUN_SYSCALL", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static void maybe_free(tun_t *t) {
  if (t->handle_closed && t->finalized) {
    free(t->gro_buf);
    free(t->wq);
    free(t);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  tun_t *t = (tun_t *)h->data;
  t->handle_closed = 1;
  maybe_free(t);
}

static void on_poll(uv_poll_t *h, int status, int events);

static void update_poll(tun_t *t) {
  if (t->closed) return;
  int want = 0;
  if (t->reading) want |= UV_READABLE;
  if (t->wq_len > t->wq_off) want |= UV_WRITABLE;
  if (want == t->poll_events) return;
  if (want == 0) uv_poll_stop(&t->poll);
  else uv_poll_start(&t->poll, want, on_poll);
  t->poll_events = want;
}

static void do_close(tun_t *t) {
  if (t->closed) return;
  t->closed = 1;
  t->reading = 0;
  if (t->poll_inited) {
    uv_poll_stop(&t->poll); /* removes the fd from epoll before we close it */
    uv_close((uv_handle_t *)&t->poll, on_handle_closed);
  } else {
    t->handle_closed = 1;
  }
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  udp_drops_close(&t->drops);
  udp_room_close(&t->room);
  t->wq_len = t->wq_off = 0;
  if (t->cb_ref != NULL) {
    napi_delete_reference(t->env, t->cb_ref);
    t->cb_ref = NULL;
  }
  if (t->slab_ref != NULL) {
    napi_delete_reference(t->env, t->slab_ref);
    t->slab_ref = NULL;
    t->slab = NULL;
  }
  if (t->actx != NULL) {
    napi_async_destroy(t->env, t->actx);
    t->actx = NULL;
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  tun_t *t = (tun_t *)data;
  /* A GC'd device whose owner forgot close(): release the fd anyway. */
  if (!t->closed) {
    t->closed = 1;
    if (t->poll_inited) {
      uv_poll_stop(&t->poll);
      uv_close((uv_handle_t *)&t->poll, on_handle_closed);
    } else {
      t->handle_closed = 1;
    }
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    udp_drops_close(&t->drops);
    udp_room_close(&t->room);
    /* references and async context die with the env; do not touch them from a finalizer */
  }
  t->finalized = 1;
  maybe_free(t);
}

/* A record's big-endian u32 length. */
static inline uint32_t read_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Append records to the write queue; returns the number of packets dropped for lack of room. */
static uint64_t enqueue(tun_t *t, const uint8_t *p, size_t len) {
  uint64_t dropped = 0;
  if (t->wq_off > 0 && t->wq_off == t->wq_len) t->wq_off = t->wq_len = 0;
  if (t->wq_off > 0 && t->wq_len + len > t->wq_cap) {
    memmove(t->wq, t->wq + t->wq_off, t->wq_len - t->wq_off);
    t->wq_len -= t->wq_off;
    t->wq_off = 0;
  }
  size_t i = 0;
  while (i + 4 <= len) {
    uint32_t n = read_be32(p + i);
    size_t rec = 4 + (size_t)n;
    if (t->wq_len + rec > WRITE_QUEUE_CAP) {
      dropped++;
    } else {
      if (t->wq_len + rec > t->wq_cap) {
        size_t cap = t->wq_cap ? t->wq_cap : 65536;
        while (cap < t->wq_len + rec) cap *= 2;
        if (cap > WRITE_QUEUE_CAP) cap = WRITE_QUEUE_CAP;
        uint8_t *nw = realloc(t->wq, cap);
        if (nw == NULL) { dropped++; i += rec; continue; }
        t->wq = nw;
        t->wq_cap = cap;
      }
      memcpy(t->wq + t->wq_len, p + i, rec);
      t->wq_len += rec;
      t->tx_queued++;
    }
    i += rec;
  }
  t->tx_drops += dropped;
  return dropped;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * sched_yield() after a burst of datagrams for local sockets, so that their readers run first.
 * Mode 1 yields only while those readers are losing datagrams (the namespace's UDP RcvbufErrors
 * rose in the last YIELD_HOLD_NS; looked at every DROPS_CHECK_NS while we write such records):
 * when they keep up, or on a busy machine where the yield would hand our time to strangers
 * rather than to them, we do not give it away. Why yielding at all: docs/vpn.md, "Where the CPU goes".
 */
/* waiting for room in receiving UDP sockets (wait_for_room below) */
#define ROOM_HOLD_NS 1000000000ull
#define ROOM_POLL_NS 25000ull
#define ROOM_WAIT_MAX_NS 2000000ull
#define ROOM_WINDOW_NS 20000000ull
#define ROOM_WINDOW_MAX_NS 5000000ull
#define ROOM_STALL_NS 1000000ull
#define ROOM_STUCK_NS 200000000ull
#define ROOM_CACHE_NS 2000000ull
#define ROOM_SEG_OVERHEAD 1024u
/*
 * While one UDP flow has the device to itself (less than ROOM_SHARED_BYTES of anything else,
 * written or read, in this and the last ROOM_WINDOW_NS), nobody else's packets wait behind its
 * reader, so the overload bound (ROOM_WINDOW_MAX_NS) does not apply and a record waits up to
 * ROOM_ALONE_WAIT_MAX_NS, for a reader that makes no progress up to ROOM_ALONE_STALL_NS. Why:
 * docs/vpn.md, "Waiting for an overloaded reader". What the overload bound saves the others, it
 * costs a lone flow: its excess is dropped at the socket after both nodes carried it, where a wait
 * moves it back to the sending TUN's queue (dropped there for free). With a reader on a core next
 * to a CPU hog, a 1-ms bound on no progress gave up ~20 times in 5 s and 5 ms of waiting per 20
 * ms as often: ~4 s of the 5 s without waits.
 */
#define ROOM_SHARED_BYTES 16384u
#define ROOM_ALONE_WAIT_MAX_NS 5000000ull
#define ROOM_ALONE_STALL_NS 5000000ull
#define DROPS_CHECK_NS 5000000ull
#define YIELD_HOLD_NS 50000000ull
/*
 * Mode 3 (an experiment, DMSNET_TUN_UDP_WRITE_YIELD=nap): a nap of YIELD_NAP_NS, with the thread's
 * timer slack narrowed to YIELD_NAP_SLACK_NS for it, instead of sched_yield. Under EEVDF a yield
 * to a CPU hog (a benchmark's spinning sender) waits out the hog's slice: bench vpn's low UDP runs
 * spent 31-55 % of the phase in yields of 0.3-1.1 ms each (docs/vpn.md, "Low UDP runs"). A nap
 * lets a reader runnable on this core run as a yield does, and the wakeup ends it (measured
 * 0.22-0.41 ms each, with the default 50 us slack ~0.29 ms).
 */
#define YIELD_NAP_NS 50000ull
#define YIELD_NAP_SLACK_NS 5000ul
/*
 * Mode 4 (DMSNET_TUN_UDP_WRITE_YIELD=adaptive): yields as mode 1, each one timed; after
 * ADAPT_LONG_RUN yields in a row that took at least yield_long_ns (default 250 us: a good yield is
 * ~0.1 ms, one to a hog 0.3-1.1 ms), the next ADAPT_NAPS give-aways are naps (~0.26 ms each, ~25 ms
 * at 5 Gbit/s offered), then one yield probes again: a long one naps again at once (the streak
 * goes on), a short one ends the streak. Two in a row, so that the odd long yield of a quiet run
 * does not cost it a stretch of naps; a count rather than a time, so that the rule does not depend
 * on how fast records come.
 */
#define ADAPT_LONG_RUN 2u
#define ADAPT_NAPS 32u
static void nap(void) {
  int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  if (slack > (int)YIELD_NAP_SLACK_NS) prctl(PR_SET_TIMERSLACK, YIELD_NAP_SLACK_NS, 0, 0, 0);
  struct timespec ts = { 0, (long)YIELD_NAP_NS };
  nanosleep(&ts, NULL);
  /* the event loop's own timers keep their slack */
  if (slack > (int)YIELD_NAP_SLACK_NS) prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
}

static void maybe_yield(tun_t *t) {
  uint64_t t0 = now_ns();
  if (t->write_yield != 2) {
    if (t0 >= t->drops_check_at) {
      t->drops_check_at = t0 + DROPS_CHECK_NS;
      if (udp_drops_rose(&t->drops)) {
        t->yield_until = t0 + YIELD_HOLD_NS;
        t->room_until = t0 + ROOM_HOLD_NS;
        t->tx_reader_drops++;
      }
    }
    if (t0 >= t->yield_until) return;
  }
  int napping = t->write_yield == 3 || (t->write_yield == 4 && t->naps_left > 0);
  /* timed from here: the look at the drop counters (~30 us) is not part of the give-away */
  t0 = now_ns();
  if (napping) {
    nap();
    if (t->naps_left > 0) t->naps_left--;
  } else {
    sched_yield();
  }
  uint64_t d = now_ns() - t0;
  t->tx_yields++;
  t->tx_yield_ns += d;
  if (napping) {
    t->tx_naps++;
    t->tx_nap_ns += d;
  } else if (t->write_yield == 4) {
    if (d >= t->yield_long_ns) {
      t->tx_yields_long++;
      if (++t->long_streak >= ADAPT_LONG_RUN) t->naps_left = ADAPT_NAPS;
    } else {
      t->long_streak = 0;
    }
  }
}

/*
 * Waiting for room in the receiving UDP socket before writing a record of datagrams to it
 * (udp_room.h says why). Active once the namespace's UDP receivers were seen losing datagrams, for
 * ROOM_HOLD_NS after that or after the last record that had to wait (mode 1), or always (mode 2). The
 * receiving socket's free space is asked once and then counted down by what we write (each
 * datagram as its payload plus ROOM_SEG_OVERHEAD, roughly the kernel's truesize), so most
 * records cost no query; only when the count says "full" is the kernel asked again, and while
 * the record does not fit we sleep ROOM_POLL_NS at a time. The event loop is blocked meanwhile
 * (which is the point: the node stops taking data from its peers), so the waits are bounded:
 * ROOM_WAIT_MAX_NS per record; a flow that needed more than ROOM_WINDOW_MAX_NS of waiting in one
 * ROOM_WINDOW_NS (overloaded: its reader cannot keep up at all), or whose reader made no progress
 * for ROOM_STALL_NS (a socket nobody reads), is not waited for again for ROOM_STUCK_NS.
 */

/* family, addresses and ports of a UDP packet: 1 + 16 + 16 + 2 + 2 bytes; 0 if not UDP */
static int udp_flow_key(const uint8_t *ip, size_t len, uint8_t key[37], size_t *l4) {
  memset(key, 0, 37);
  if (len >= 28 && (ip[0] >> 4) == 4 && ip[9] == 17) {
    *l4 = (size_t)(ip[0] & 0x0f) * 4;
    if (*l4 < 20 || len < *l4 + 8) return 0;
    key[0] = 4;
    memcpy(key + 1, ip + 12, 8);
  } else if (len >= 48 && (ip[0] >> 4) == 6 && ip[6] == 17) {
    *l4 = 40;
    key[0] = 6;
    memcpy(key + 1, ip + 8, 32);
  } else {
    return 0;
  }
  memcpy(key + 33, ip + *l4, 4);
  return 1;
}

/* counts `bytes` of traffic other than the flow we wait for, in windows of ROOM_WINDOW_NS */
static void note_other(tun_t *t, uint64_t now, size_t bytes) {
  if (now - t->other_at >= ROOM_WINDOW_NS) {
    t->other_prev = now - t->other_at < 2 * ROOM_WINDOW_NS ? t->other_bytes : 0;
    t->other_bytes = 0;
    t->other_at = now;
  }
  t->other_bytes += bytes;
}

/* whether the flow being waited for had the device to itself lately (see ROOM_SHARED_BYTES) */
static int room_alone(tun_t *t, uint64_t now) {
  if (!t->room_alone_on) return 0;
  note_other(t, now, 0);
  return t->other_bytes + t->other_prev < ROOM_SHARED_BYTES;
}

static void wait_for_room(tun_t *t, const uint8_t *rec, size_t n) {
  uint64_t now = now_ns();
  if (n < VNET_HDR_LEN + 28) {
    note_other(t, now, n);
    return;
  }
  const uint8_t *ip = rec + VNET_HDR_LEN;
  size_t iplen = n - VNET_HDR_LEN, l4;
  uint8_t key[37];
  if (!udp_flow_key(ip, iplen, key, &l4)) {
    note_other(t, now, n);
    return;
  }
  /* another flow's record (the first of a flow, with nothing recent to compare with, is not) */
  if (t->room_at != 0 && now - t->room_at < 2 * ROOM_WINDOW_NS && memcmp(key, t->room_key, sizeof key) != 0) note_other(t, now, n);
  if (t->write_yield != 2 && now >= t->room_until) return;
  if (now < t->stuck_until && memcmp(key, t->stuck_key, sizeof key) == 0) return;
  size_t payload = iplen - l4 - 8;
  unsigned segs = 1;
  size_t seg = payload;
  uint16_t gso_size = (uint16_t)(rec[4] | (rec[5] << 8));
  if (rec[1] == 5 && gso_size > 0) {
    segs = (unsigned)((payload + gso_size - 1) / gso_size);
    seg = gso_size;
  }
  int64_t need = (int64_t)segs * (int64_t)(seg + ROOM_SEG_OVERHEAD);
  int cached = memcmp(key, t->room_key, sizeof key) == 0 && now - t->room_at < ROOM_CACHE_NS;
  if (cached && t->room_free >= need) {
    t->room_free -= need;
    return;
  }
  if (now - t->room_window_at >= ROOM_WINDOW_NS) {
    t->room_window_at = now;
    t->room_waited_ns = 0;
  }
  uint64_t start = now, progress_at = now;
  uint32_t last = UINT32_MAX;
  int waited = 0, past_bound = 0;
  for (;;) {
    uint32_t rmem, rcvbuf;
    if (!udp_room_query(&t->room, ip, iplen, &rmem, &rcvbuf)) break;
    /* the whole record must fit; one larger than the whole buffer goes in once the buffer is empty */
    int64_t want = need > (int64_t)rcvbuf ? (int64_t)rcvbuf : need;
    int64_t avail = (int64_t)rcvbuf - (int64_t)rmem;
    now = now_ns();
    if (avail >= want) {
      memcpy(t->room_key, key, sizeof key);
      t->room_free = avail - need;
      t->room_at = now;
      break;
    }
    if (rmem < last) progress_at = now;
    last = rmem;
    int alone = room_alone(t, now);
    if (now - progress_at >= (alone ? ROOM_ALONE_STALL_NS : ROOM_STALL_NS)) {
      memcpy(t->stuck_key, key, sizeof key);
      t->stuck_until = now + ROOM_STUCK_NS;
      t->tx_room_gave_up++;
      break;
    }
    int over = t->room_waited_ns + (now - start) >= ROOM_WINDOW_MAX_NS || now - start >= ROOM_WAIT_MAX_NS;
    if (over && alone) past_bound = 1;
    if (t->room_waited_ns + (now - start) >= ROOM_WINDOW_MAX_NS && !alone) {
      /* a reader this far behind is overloaded, not briefly late: waiting would only slow the
         tunnel down to its pace; its socket drops the excess for a while, as without waits */
      memcpy(t->stuck_key, key, sizeof key);
      t->stuck_until = now + ROOM_STUCK_NS;
      t->tx_room_gave_up++;
      break;
    }
    if (now - start >= (alone ? ROOM_ALONE_WAIT_MAX_NS : ROOM_WAIT_MAX_NS)) {
      t->tx_room_gave_up++;
      break;
    }
    /* a reader that needs waiting for keeps the waits on (mode 1), drops or not */
    t->room_until = now + ROOM_HOLD_NS;
    waited = 1;
    struct timespec ts = { 0, (long)ROOM_POLL_NS };
    nanosleep(&ts, NULL);
  }
  if (waited) {
    uint64_t d = now_ns() - start;
    t->tx_room_waits++;
    t->tx_room_alone += (uint64_t)past_bound;
    t->tx_room_wait_ns += d;
    t->room_waited_ns += d;
  }
}

/*
 * Write records starting at p; returns the offset where the kernel said EAGAIN (len if all went).
 * Packets the kernel rejects for another reason (malformed, device down) count as tx_errors.
 */
static size_t write_records(tun_t *t, const uint8_t *p, size_t len) {
  size_t i = 0;
  while (i + 4 <= len) {
    uint32_t n = read_be32(p + i);
    if (t->write_yield && t->vnet_hdr) wait_for_room(t, p + i + 4, n);
    ssize_t w = write(t->fd, p + i + 4, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return i;
      t->tx_errors++;
    } else {
      t->tx_packets++;
      t->tx_bytes += (uint64_t)n;
      /* a burst of datagrams for local sockets was just queued: let their readers run first */
      if (t->write_yield && t->vnet_hdr && n > VNET_HDR_LEN && p[i + 5] == 5) maybe_yield(t);
    }
    i += 4 + (size_t)n;
  }
  return len;
}

static void flush_queue(tun_t *t) {
  size_t done = write_records(t, t->wq + t->wq_off, t->wq_len - t->wq_off);
  t->wq_off += done;
  if (t->wq_off == t->wq_len) t->wq_off = t->wq_len = 0;
}

static void deliver(tun_t *t, napi_value err, napi_value buf) {
  napi_env env = t->env;
  napi_value cb, recv, argv[2], result;
  if (t->cb_ref == NULL) return;
  if (napi_get_reference_value(env, t->cb_ref, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv);
  napi_value undef;
  napi_get_undefined(env, &undef);
  argv[0] = err != NULL ? err : undef;
  argv[1] = buf != NULL ? buf : undef;
  /* make_callback runs microtasks afterwards and reports exceptions like any other callback */
  napi_status st = napi_make_callback(env, t->actx, recv, cb, 2, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

/*
 * A fresh slab (uninitialised: napi_create_buffer does not zero-fill).
 * The previous one lives on while JS still holds batches in it. Returns 0 on failure.
 */
static int new_slab(tun_t *t) {
  napi_env env = t->env;
  size_t cap = SLAB_BYTES;
  napi_value buf, ab;
  void *data;
  napi_typedarray_type type;
  size_t len, boff;
  if (napi_create_buffer(env, cap, &data, &buf) != napi_ok) return 0;
  if (napi_get_typedarray_info(env, buf, &type, &len, &data, &ab, &boff) != napi_ok) return 0;
  napi_ref ref;
  if (napi_create_reference(env, ab, 1, &ref) != napi_ok) return 0;
  if (t->slab_ref != NULL) napi_delete_reference(env, t->slab_ref);
  t->slab_ref = ref;
  t->slab = (uint8_t *)data;
  t->slab_cap = len;
  t->slab_pos = 0;
  t->slab_ab_off = boff;
  return 1;
}

static void read_batch(tun_t *t) {
  napi_env env = t->env;
  size_t off = 0, count = 0;
  int err = 0;
  gro_run_t run = {0};
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  if (t->slab == NULL || t->slab_cap - t->slab_pos < SLAB_ROOM) {
    if (!new_slab(t)) {
      /* out of memory: leave the packets in the kernel queue, try again on the next wakeup */
      t->rx_errors++;
      napi_close_handle_scope(env, scope);
      return;
    }
  }
  uint8_t *base = t->slab + t->slab_pos;
  size_t room = t->slab_cap - t->slab_pos;
  while (count < t->max_packets && off < t->max_bytes && room - off >= SLAB_ROOM) {
    ssize_t n = read(t->fd, base + off + 4, room - off - 4);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n == 0) break;
    uint32_t u = (uint32_t)n;
    if (t->udp_coalesce) {
      off = gro_add(&run, base, off, base + off + 4, (size_t)n, &t->rx_coalesced);
    } else {
      base[off] = (uint8_t)(u >> 24);
      base[off + 1] = (uint8_t)(u >> 16);
      base[off + 2] = (uint8_t)(u >> 8);
      base[off + 3] = (uint8_t)u;
      off += 4 + (size_t)n;
    }
    count++;
    t->rx_bytes += u;
  }
  gro_finish(&run, base);
  t->rx_packets += count;
  if (t->write_yield && off > 0) note_other(t, now_ns(), off);
  if (count > 0) {
    t->rx_batches++;
    napi_value ab, view;
    size_t at = t->slab_ab_off + t->slab_pos;
    /* moved past before the callback runs: it may call back into us (stop, close, start) */
    t->slab_pos += (off + 7) & ~(size_t)7;
    if (napi_get_reference_value(env, t->slab_ref, &ab) == napi_ok && ab != NULL &&
        napi_create_typedarray(env, napi_uint8_array, off, ab, at, &view) == napi_ok) deliver(t, NULL, view);
  }
  if (err != 0 && !t->closed) {
    /* A persistent error (device deleted under us: EBADFD/EIO) would spin the loop: stop reading. */
    t->rx_errors++;
    t->reading = 0;
    update_poll(t);
    char msg[160];
    snprintf(msg, sizeof msg, "read from %s: %s", t->name, strerror(err));
    napi_value code, message, error, errnum;
    napi_create_string_utf8(env, "ERR_TUN_READ", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_create_int32(env, err, &errnum);
    napi_set_named_property(env, error, "errno", errnum);
    deliver(t, error, NULL);
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tun_t *t = (tun_t *)h->data;
  if (t->closed) return;
  if (status < 0) {
    t->rx_errors++;
    return;
  }
  if (events & UV_WRITABLE) {
    flush_queue(t);
    update_poll(t);
  }
  if ((events & UV_READABLE) && t->reading && !t->closed) read_batch(t);
}

static tun_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_error(env, "ERR_TUN_STATE", "not a Tun handle");
    return NULL;
  }
  return (tun_t *)data;
}

/* unwrap() for methods that need an open device: throws ERR_TUN_CLOSED once closed. */
static tun_t *unwrap_open(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  tun_t *t = unwrap(env, info, argc, argv);
  if (t != NULL && t->closed) {
    napi_throw_error(env, "ERR_TUN_CLOSED", "device is closed");
    return NULL;
  }
  return t;
}

static int get_bool(napi_env env, napi_value obj, const char *key, int def) {
  napi_value v;
  bool has = false, b = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return def;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return def;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return def;
  return b ? 1 : 0;
}

/* TUNSETOFFLOAD with USO when the kernel knows it, TSO/CSUM only otherwise. Returns flags set or -errno. */
static int set_offload(int fd, int want_uso) {
  unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (want_uso && ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0) return (int)(base | TUN_F_USO4 | TUN_F_USO6);
  if (ioctl(fd, TUNSETOFFLOAD, base) == 0) return (int)base;
  return -errno;
}

/* new Tun({ name, tap, multiQueue, vnetHdr, offload, uso, persist }) */
static napi_value tun_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_TUN_ARG", "options object required");
    return NULL;
  }
  napi_value opts = argv[0];
  char name[IFNAMSIZ] = {0};
  napi_value v;
  bool has = false;
  size_t nlen = 0;
  if (napi_has_named_property(env, opts, "name", &has) == napi_ok && has) {
    CHECK(napi_get_named_property(env, opts, "name", &v));
    napi_valuetype vt;
    napi_typeof(env, v, &vt);
    if (vt == napi_string) {
      char tmp[64];
      CHECK(napi_get_value_string_utf8(env, v, tmp, sizeof tmp, &nlen));
      if (nlen >= IFNAMSIZ) {
        napi_throw_range_error(env, "ERR_TUN_ARG", "interface name too long");
        return NULL;
      }
      memcpy(name, tmp, nlen);
    }
  }
  int tap = get_bool(env, opts, "tap", 0);
  int mq = get_bool(env, opts, "multiQueue", 0);
  int offload = get_bool(env, opts, "offload", 0);
  int vnet = offload || get_bool(env, opts, "vnetHdr", 0);
  int uso = get_bool(env, opts, "uso", 1);
  int coalesce = get_bool(env, opts, "udpCoalesce", 1);
  int write_merge = get_bool(env, opts, "udpWriteCoalesce", 0);
  int64_t write_segs = 0;
  if (napi_has_named_property(env, opts, "udpWriteSegments", &has) == napi_ok && has) {
    CHECK(napi_get_named_property(env, opts, "udpWriteSegments", &v));
    if (napi_get_value_int64(env, v, &write_segs) != napi_ok || write_segs < 0 || write_segs > 65535) {
      napi_throw_range_error(env, "ERR_TUN_ARG", "udpWriteSegments must be 0-65535");
      return NULL;
    }
  }
  int64_t yield_long_us = 250;
  if (napi_has_named_property(env, opts, "udpYieldLongUs", &has) == napi_ok && has) {
    CHECK(napi_get_named_property(env, opts, "udpYieldLongUs", &v));
    if (napi_get_value_int64(env, v, &yield_long_us) != napi_ok || yield_long_us < 0 || yield_long_us > 1000000) {
      napi_throw_range_error(env, "ERR_TUN_ARG", "udpYieldLongUs must be 0-1000000");
      return NULL;
    }
  }
  int persist = get_bool(env, opts, "persist", 0);

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = (short)((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0) | (vnet ? IFF_VNET_HDR : 0));
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "TUNSETIFF", e);
  }
  int offload_flags = 0;
  if (vnet) {
    int sz = VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "TUNSETVNETHDRSZ", e);
    }
  }
  if (offload) {
    /* Set explicitly after every open: a persistent device does not remember it. */
    int r = set_offload(fd, uso);
    if (r < 0) {
      close(fd);
      return throw_errno(env, "TUNSETOFFLOAD", -r);
    }
    offload_flags = r;
  } else if (!tap) {
    ioctl(fd, TUNSETOFFLOAD, 0);
  }
  if (persist && ioctl(fd, TUNSETPERSIST, 1) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "TUNSETPERSIST", e);
  }

  tun_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  t->fd = fd;
  udp_drops_init(&t->drops);
  udp_room_init(&t->room);
  t->vnet_hdr = vnet;
  t->udp_coalesce = coalesce && (offload_flags & TUN_F_USO4) && (offload_flags & TUN_F_USO6);
  t->write_merge = t->udp_coalesce && write_merge;
  /* without USO the kernel refuses GSO_UDP_L4 records: always cut them to datagrams */
  t->write_segs = (vnet && !((offload_flags & TUN_F_USO4) && (offload_flags & TUN_F_USO6))) ? 1 : (unsigned)write_segs;
  t->env = env;
  t->write_yield = vnet && get_bool(env, opts, "udpWriteYield", 0)
    ? (get_bool(env, opts, "udpWriteYieldAlways", 0) ? 2 : get_bool(env, opts, "udpWriteNap", 0) ? 3 : get_bool(env, opts, "udpWriteAdaptive", 0) ? 4 : 1)
    : 0;
  t->yield_long_ns = (uint64_t)yield_long_us * 1000u;
  t->room_alone_on = get_bool(env, opts, "udpRoomAlone", 1);
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  t->max_packets = DEFAULT_MAX_PACKETS;
  t->max_bytes = DEFAULT_MAX_BYTES;
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &t->poll, fd) != 0) {
    close(fd);
    free(t);
    napi_throw_error(env, "ERR_TUN_POLL", "uv_poll_init failed");
    return NULL;
  }
  t->poll.data = t;
  t->poll_inited = 1;
  if (napi_wrap(env, self, t, finalize, NULL, NULL) != napi_ok) {
    t->finalized = 1;
    do_close(t);
    napi_throw_error(env, "ERR_TUN_NAPI", "napi_wrap failed");
    return NULL;
  }
  napi_value jname, jfd, jvnet, jflags, jco;
  CHECK(napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &jname));
  CHECK(napi_create_int32(env, fd, &jfd));
  CHECK(napi_get_boolean(env, vnet, &jvnet));
  CHECK(napi_create_int32(env, offload_flags, &jflags));
  CHECK(napi_set_named_property(env, self, "name", jname));
  CHECK(napi_set_named_property(env, self, "fd", jfd));
  CHECK(napi_set_named_property(env, self, "vnetHdr", jvnet));
  CHECK(napi_set_named_property(env, self, "offloadFlags", jflags));
  CHECK(napi_get_boolean(env, t->udp_coalesce, &jco));
  CHECK(napi_set_named_property(env, self, "udpCoalesce", jco));
  return self;
}

/* start(cb(err, batch), maxPackets?, maxBytes?) */
static napi_value tun_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  tun_t *t = unwrap_open(env, info, &argc, argv);
  if (t == NULL) return NULL;
  napi_valuetype vt;
  if (argc < 1 || napi_typeof(env, argv[0], &vt) != napi_ok || vt != napi_function) {
    napi_throw_type_error(env, "ERR_TUN_ARG", "callback required");
    return NULL;
  }
  int64_t mp = DEFAULT_MAX_PACKETS, mb = DEFAULT_MAX_BYTES;
  if (argc >= 2) napi_get_value_int64(env, argv[1], &mp);
  if (argc >= 3) napi_get_value_int64(env, argv[2], &mb);
  if (mp < 1) mp = 1;
  if (mp > 65536) mp = 65536;
  if (mb < 1) mb = 1;
  if (mb > 64 * 1024 * 1024) mb = 64 * 1024 * 1024;
  t->max_packets = (size_t)mp;
  t->max_bytes = (size_t)mb;
  if (t->cb_ref != NULL) napi_delete_reference(env, t->cb_ref);
  CHECK(napi_create_reference(env, argv[0], 1, &t->cb_ref));
  if (t->actx == NULL) {
    napi_value rname;
    CHECK(napi_create_string_utf8(env, "dmsnet:tun", NAPI_AUTO_LENGTH, &rname));
    CHECK(napi_async_init(env, NULL, rname, &t->actx));
  }
  t->reading = 1;
  update_poll(t);
  return NULL;
}

static napi_value tun_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  t->reading = 0;
  update_poll(t);
  return NULL;
}

/* writeBatch(buf) -> packets accepted (written now or queued). Throws on a malformed batch. */
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap_open(env, info, &argc, argv);
  if (t == NULL) return NULL;
  void *data;
  size_t len;
  bool is_buf = false;
  napi_is_typedarray(env, argv[0], &is_buf);
  if (argc < 1 || !is_buf) {
    napi_throw_type_error(env, "ERR_TUN_ARG", "batch must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type tt;
  napi_value ab;
  size_t boff;
  CHECK(napi_get_typedarray_info(env, argv[0], &tt, &len, &data, &ab, &boff));
  if (tt != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_TUN_ARG", "batch must be a Uint8Array");
    return NULL;
  }
  const uint8_t *p = (const uint8_t *)data;
  /* validate the whole batch first so a bad one writes nothing */
  size_t i = 0, count = 0;
  while (i < len) {
    if (len - i < 4) break;
    uint32_t n = read_be32(p + i);
    if (n == 0 || n > MAX_FRAME || (size_t)n > len - i - 4) break;
    i += 4 + (size_t)n;
    count++;
  }
  if (i != len) {
    napi_throw_range_error(env, "ERR_TUN_BAD_BATCH", "malformed batch: a record's length runs past the buffer or is out of range");
    return NULL;
  }
  if (t->write_merge && count > 1) {
    /* merge runs of one UDP flow into GSO_UDP_L4 records (never longer than the input) */
    if (t->gro_cap < len) {
      uint8_t *g = realloc(t->gro_buf, len);
      if (g == NULL) return throw_errno(env, "realloc", ENOMEM);
      t->gro_buf = g;
      t->gro_cap = len;
    }
    gro_run_t run = {0};
    size_t out = 0;
    for (size_t j = 0; j < len;) {
      uint32_t n = read_be32(p + j);
      out = gro_add(&run, t->gro_buf, out, p + j + 4, n, &t->tx_coalesced);
      j += 4 + (size_t)n;
    }
    gro_finish(&run, t->gro_buf);
    p = t->gro_buf;
    len = out;
  } else if (t->vnet_hdr && t->write_segs > 0) {
    /* cut GSO_UDP_L4 records into smaller ones (see gso_split); others are copied unchanged */
    int any = 0;
    for (size_t j = 0; j < len && !any;) {
      uint32_t n = read_be32(p + j);
      if (n > 1 && p[j + 4] == 1 && p[j + 5] == 5) any = 1;
      j += 4 + (size_t)n;
    }
    if (any) {
      size_t out = 0;
      for (size_t j = 0; j < len;) {
        uint32_t n = read_be32(p + j);
        size_t need = out + GSO_SPLIT_BOUND((size_t)n) + 4;
        if (t->gro_cap < need) {
          size_t cap = t->gro_cap ? t->gro_cap : 65536;
          while (cap < need) cap *= 2;
          uint8_t *g = realloc(t->gro_buf, cap);
          if (g == NULL) return throw_errno(env, "realloc", ENOMEM);
          t->gro_buf = g;
          t->gro_cap = cap;
        }
        size_t made = gso_split(p + j + 4, n, t->write_segs, t->gro_buf + out, &t->tx_split);
        if (made == 0) {
          memcpy(t->gro_buf + out, p + j, 4 + (size_t)n);
          made = 4 + (size_t)n;
        }
        out += made;
        j += 4 + (size_t)n;
      }
      p = t->gro_buf;
      len = out;
    }
  }
  uint64_t before_drops = t->tx_drops;
  if (t->wq_len > t->wq_off) {
    /* keep order: never let new packets overtake queued ones */
    enqueue(t, p, len);
  } else {
    size_t done = write_records(t, p, len);
    if (done < len) enqueue(t, p + done, len - done);
  }
  update_poll(t);
  napi_value r;
  CHECK(napi_create_double(env, (double)(count - (t->tx_drops - before_drops)), &r));
  return r;
}

static napi_value tun_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  napi_value o, v;
  CHECK(napi_create_object(env, &o));
#define PUT(key, val) CHECK(napi_create_double(env, (double)(val), &v)); CHECK(napi_set_named_property(env, o, key, v))
  PUT("rxPackets", t->rx_packets);
  PUT("rxBytes", t->rx_bytes);
  PUT("rxBatches", t->rx_batches);
  PUT("rxErrors", t->rx_errors);
  PUT("txPackets", t->tx_packets);
  PUT("txBytes", t->tx_bytes);
  PUT("txErrors", t->tx_errors);
  PUT("txDrops", t->tx_drops);
  PUT("txQueued", t->tx_queued);
  PUT("txPendingBytes", t->wq_len - t->wq_off);
  PUT("rxCoalesced", t->rx_coalesced);
  PUT("txCoalesced", t->tx_coalesced);
  PUT("txSplit", t->tx_split);
  PUT("txYields", t->tx_yields);
  PUT("txReaderDrops", t->tx_reader_drops);
  PUT("txYieldUs", t->tx_yield_ns / 1000u);
  PUT("txYieldsLong", t->tx_yields_long);
  PUT("txNaps", t->tx_naps);
  PUT("txNapUs", t->tx_nap_ns / 1000u);
  PUT("txRoomWaits", t->tx_room_waits);
  PUT("txRoomWaitUs", t->tx_room_wait_ns / 1000u);
  PUT("txRoomGaveUp", t->tx_room_gave_up);
  PUT("txRoomAlone", t->tx_room_alone);
#undef PUT
  return o;
}

static napi_value tun_set_persist(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap_open(env, info, &argc, argv);
  if (t == NULL) return NULL;
  bool b = false;
  if (argc >= 1) napi_get_value_bool(env, argv[0], &b);
  if (ioctl(t->fd, TUNSETPERSIST, b ? 1 : 0) < 0) return throw_errno(env, "TUNSETPERSIST", errno);
  return NULL;
}

static napi_value tun_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap(env, info, &argc, argv);
  if (t == NULL) return NULL;
  bool b = true;
  if (argc >= 1) napi_get_value_bool(env, argv[0], &b);
  if (!t->closed) {
    if (b) uv_ref((uv_handle_t *)&t->poll);
    else uv_unref((uv_handle_t *)&t->poll);
  }
  return NULL;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  do_close(t);
  return NULL;
}

napi_status xsalsa20_register(napi_env env, napi_value exports);
napi_status mem_register(napi_env env, napi_value exports); /* native/mem/mem.c: malloc_trim for the idle reclaim */
napi_status aead_register(napi_env env, napi_value exports); /* native/crypto/aead.c: Noise's ChaCha20-Poly1305 */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
    { "start", NULL, tun_start, NULL, NULL, NULL, napi_default_method, NULL },
    { "stop", NULL, tun_stop, NULL, NULL, NULL, napi_default_method, NULL },
    { "writeBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_default_method, NULL },
    { "stats", NULL, tun_stats, NULL, NULL, NULL, napi_default_method, NULL },
    { "setPersist", NULL, tun_set_persist, NULL, NULL, NULL, napi_default_method, NULL },
    { "ref", NULL, tun_ref, NULL, NULL, NULL, napi_default_method, NULL },
    { "close", NULL, tun_close, NULL, NULL, NULL, napi_default_method, NULL },
  };
  napi_value cls, hdr;
  CHECK(napi_define_class(env, "Tun", NAPI_AUTO_LENGTH, tun_new, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  CHECK(napi_set_named_property(env, exports, "Tun", cls));
  CHECK(napi_create_int32(env, VNET_HDR_LEN, &hdr));
  CHECK(napi_set_named_property(env, exports, "VNET_HDR_LEN", hdr));
  /* the PSK protector's cipher shares this one addon (native/crypto/xsalsa20.c) */
  CHECK(xsalsa20_register(env, exports));
  CHECK(mem_register(env, exports));
  CHECK(aead_register(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
