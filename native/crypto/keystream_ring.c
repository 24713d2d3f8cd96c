/*
 * XSalsa20 keystream computed ahead of use for the PSK protector's busy streams: its keystream
 * does not depend on the data, so one generator thread per process fills a per-stream ring of
 * 1 KiB batches while the event loop only XORs (bench swarm's profile: the Salsa20 core was most
 * of what the PSK adds on the receiving event loop).
 *
 * Each batch is used exactly once. The generator claims batches in order (next_claim) and marks a
 * slot ready with the batch number it holds; the reader takes batch b from the ring only when its
 * slot is marked b, otherwise it computes b inline and moves next_claim past it (a stall: the
 * generator may compute b too, into a slot nobody reads). A slot is refilled only after the reader
 * is done with the batch it held (consumed). At most XS_RING_MAX rings are held by streams per
 * process (4 MiB; XS_RING_ALLOC_MAX with released ones not yet freed), so idle or numerous
 * connections cost nothing; a ring is wiped before it is freed.
 *
 * The generator runs at idle priority: it only uses a core nobody else wants, and the event loop
 * never waits for it (no blocking lock, no spin for a batch it is on).
 */
#define _GNU_SOURCE /* SCHED_IDLE, explicit_bzero */
#include "xsalsa20.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define XS_RING_SLOTS 256 /* 256 KiB of keystream ahead per stream direction */
#define XS_RING_MAX 16 /* rings held by streams */
#define XS_RING_ALLOC_MAX 32 /* with released ones the generator has not let go of yet */

struct xs_ring {
  uint8_t slot[XS_RING_SLOTS][XS_BATCH] __attribute__((aligned(64)));
  _Atomic uint64_t ready[XS_RING_SLOTS]; /* batch + 1 that the slot holds; 0: none yet */
  /* the reader writes consumed, the generator next_claim: apart, so they do not share a line */
  _Atomic uint64_t consumed __attribute__((aligned(64))); /* the reader's next batch */
  _Atomic uint64_t next_claim __attribute__((aligned(64))); /* first batch nobody has claimed */
  _Atomic int refs; /* the stream, plus the generator while the ring is queued or filled */
  _Atomic int queued;
  _Atomic int released;
  uint32_t key[8];
  uint32_t nonce[2];
  uint64_t base; /* first block of batch 0 */
  xs_ring *next; /* queue link, under q_lock */
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static xs_ring *q_head, *q_tail;
static int gen_started;
static _Atomic int rings_live; /* held by streams */
static _Atomic int rings_alloc; /* allocated */
/* process totals (benchmarks): batches from rings, computed inline, misses on a batch the generator was on */
static _Atomic uint64_t tot_ring, tot_inline, tot_raced;

static void unref(xs_ring *r) {
  if (atomic_fetch_sub(&r->refs, 1) != 1) return;
  explicit_bzero(r, sizeof *r); /* 256 KiB: a byte loop through volatile would cost ~0.2 ms */
  free(r);
  atomic_fetch_sub(&rings_alloc, 1);
}

/*
 * Hands the ring to the generator unless it has it already. Called on the event loop, which must
 * never wait for the generator: it runs at idle priority and may sit on q_lock without a core
 * for as long as the machine is busy. So only a trylock: when it fails the next call kicks again.
 */
static void kick(xs_ring *r) {
  if (atomic_load_explicit(&r->queued, memory_order_relaxed) || atomic_exchange(&r->queued, 1)) return;
  if (pthread_mutex_trylock(&q_lock) != 0) {
    atomic_store(&r->queued, 0);
    return;
  }
  atomic_fetch_add(&r->refs, 1);
  r->next = NULL;
  if (q_tail != NULL) q_tail->next = r; else q_head = r;
  q_tail = r;
  pthread_cond_signal(&q_cond);
  pthread_mutex_unlock(&q_lock);
}

static int below_half(xs_ring *r) {
  return atomic_load(&r->next_claim) - atomic_load(&r->consumed) < XS_RING_SLOTS / 2;
}

/* Claims and computes batches until the ring is full or the stream let go. */
static void fill(xs_ring *r) {
  while (!atomic_load_explicit(&r->released, memory_order_relaxed)) {
    uint64_t b = atomic_load(&r->next_claim);
    if (b >= atomic_load_explicit(&r->consumed, memory_order_acquire) + XS_RING_SLOTS) return;
    if (!atomic_compare_exchange_weak(&r->next_claim, &b, b + 1)) continue;
    xs_salsa20_x16(r->key, r->nonce, r->base + 16 * b, NULL, r->slot[b % XS_RING_SLOTS]);
    atomic_store_explicit(&r->ready[b % XS_RING_SLOTS], b + 1, memory_order_release);
  }
}

static void *generator(void *arg) {
  (void)arg;
#ifdef SCHED_IDLE
  /* only a core nobody else wants: woken on a busy machine, a normal thread would preempt the
   * event loop it is meant to relieve (measured: 50 us stalls per wake-up); starved, it leaves
   * the reader to compute inline, as without it */
  struct sched_param sp = { 0 };
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
#endif
  for (;;) {
    pthread_mutex_lock(&q_lock);
    while (q_head == NULL) pthread_cond_wait(&q_cond, &q_lock);
    xs_ring *r = q_head;
    q_head = r->next;
    if (q_head == NULL) q_tail = NULL;
    pthread_mutex_unlock(&q_lock);
    for (;;) {
      fill(r);
      atomic_store(&r->queued, 0);
      /* a reader that went below half while we filled saw queued set and did not kick: look again */
      if (atomic_load(&r->released) || !below_half(r) || atomic_exchange(&r->queued, 1)) break;
    }
    unref(r);
  }
  return NULL;
}

/* The generator thread, started once per process (not under q_lock: the generator may hold that). */
static pthread_once_t gen_once = PTHREAD_ONCE_INIT;

static void start_once(void) {
  /* it takes no signal the event loop wants */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  gen_started = pthread_create(&t, &attr, generator, NULL) == 0;
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int start_generator(void) {
  pthread_once(&gen_once, start_once);
  return gen_started;
}

xs_ring *xs_ring_new(const uint32_t key[8], const uint32_t nonce[2], uint64_t base) {
  int held = atomic_fetch_add(&rings_live, 1), alloc = atomic_fetch_add(&rings_alloc, 1);
  xs_ring *r = held < XS_RING_MAX && alloc < XS_RING_ALLOC_MAX && start_generator() ? aligned_alloc(64, sizeof *r) : NULL;
  if (r == NULL) {
    atomic_fetch_sub(&rings_live, 1);
    atomic_fetch_sub(&rings_alloc, 1);
    return NULL;
  }
  memset(r, 0, sizeof *r);
  memcpy(r->key, key, sizeof r->key);
  memcpy(r->nonce, nonce, sizeof r->nonce);
  r->base = base;
  atomic_store(&r->refs, 1);
  kick(r);
  return r;
}

int xs_ring_take(xs_ring *r, uint64_t b, uint8_t *out, const uint8_t *in, uint64_t claim_to) {
  const uint8_t *ks = r->slot[b % XS_RING_SLOTS];
  _Atomic uint64_t *ready = &r->ready[b % XS_RING_SLOTS];
  int hit = atomic_load_explicit(ready, memory_order_acquire) == b + 1;
  if (!hit) {
    /* a miss: the caller computes b..claim_to-1 itself and the generator carries on after them
     * (one CAS per call, not one per batch). If the generator is on b right now, b is computed
     * twice, never used twice. No waiting for it: at idle priority it is preempted by the very
     * event loop that would wait (on a busy machine such spins measured +0.5 CPU-s/GB). */
    uint64_t cur = atomic_load(&r->next_claim);
    if (cur > b) atomic_fetch_add_explicit(&tot_raced, 1, memory_order_relaxed);
    while (cur < claim_to && !atomic_compare_exchange_weak(&r->next_claim, &cur, claim_to)) {}
  }
  if (hit) {
    if (in != NULL) xs_xor_batch(out, in, ks);
    else memcpy(out, ks, XS_BATCH);
  }
  return hit;
}

void xs_ring_done(xs_ring *r, uint64_t next, uint64_t from_ring, uint64_t computed) {
  /* once per call, not per batch: each of these touches a line the generator writes */
  atomic_store_explicit(&r->consumed, next, memory_order_release);
  if (from_ring != 0) atomic_fetch_add_explicit(&tot_ring, from_ring, memory_order_relaxed);
  if (computed != 0) atomic_fetch_add_explicit(&tot_inline, computed, memory_order_relaxed);
  if (below_half(r)) kick(r);
}

void xs_ring_release(xs_ring *r) {
  atomic_store(&r->released, 1);
  atomic_fetch_sub(&rings_live, 1);
  /* still waiting on the queue: take it off, so the memory goes now and not when the generator
   * (idle priority) next runs; when the lock is busy it goes then */
  if (pthread_mutex_trylock(&q_lock) == 0) {
    xs_ring **p = &q_head, *prev = NULL;
    while (*p != NULL && *p != r) { prev = *p; p = &(*p)->next; }
    if (*p == r) {
      *p = r->next;
      if (q_tail == r) q_tail = prev;
      atomic_fetch_sub(&r->refs, 1); /* the queue's reference; the stream's goes below */
    }
    pthread_mutex_unlock(&q_lock);
  }
  unref(r);
}

int xs_rings_live(void) {
  return atomic_load(&rings_live);
}

uint64_t xs_ring_ready_ahead(xs_ring *r, uint64_t b) {
  uint64_t k = 0;
  while (k < XS_RING_SLOTS && atomic_load(&r->ready[(b + k) % XS_RING_SLOTS]) == b + k + 1) k++;
  return k;
}

void xs_ring_totals(uint64_t out[3]) {
  out[0] = atomic_load(&tot_ring);
  out[1] = atomic_load(&tot_inline);
  out[2] = atomic_load(&tot_raced);
}
