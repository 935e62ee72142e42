/* The native relay (ADR 0040): one table of legs (UDP sockets) and one or more packet threads
 * ("workers"), each owning some of the legs (`leg.owner`) in its own epoll set, moving packets with
 * recvmmsg/sendmmsg and (de)crypting SRTP. Both legs of a connected pair always have the same owner,
 * so a packet never crosses threads. TypeScript keeps sessions, control, SDP, policy and metrics and
 * drives this through a handful of calls; it may move pairs between workers while they run
 * (relayMove: the load-following placement of docs/media-pod.md, "Workers").
 *
 * Threading: every field of `relay`, `worker` and `leg` marked "owned by: control" is written only by
 * JS calls on the main thread: a leg's fields under its owner's `lock`, the table (slots, links,
 * owners) under every worker's lock. Fields marked "owned by: worker" are written only by the owning
 * worker thread, under its `lock` (held while it handles one ready socket), so JS reads a consistent
 * snapshot when it takes that lock for stats. The locks are uncontended in steady state. */
#include "common.h"
#include "rtp-stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
/* Batches one drain takes from a socket before the worker moves on: a flooded socket waits for the next
 * epoll round (level-triggered, it is reported again), so the other sockets of its worker get their
 * turn and the worker's lock is released in between (control calls, moves). */
#define DRAIN_BATCHES 4
#define SLOT 2048 /* > 1500-octet MTU + SRTP_MAX_TRAILER_LEN */
/* The leg table grows by doubling from LEGS_INITIAL (memory follows the calls actually held) up to
 * MAX_LEGS: 4 legs per call (RTP + RTCP per party), so 262,144 calls per relay (all its workers). */
#define LEGS_INITIAL 256
#define MAX_LEGS (1 << 20)
/* Packet threads per relay (leg.owner is an octet). */
#define MAX_WORKERS 64

enum { LATCH_OFF = 0, LATCH_ONCE = 1, LATCH_ALWAYS = 2 };

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Fields ordered so the struct has no holes but 2 octets after `owner` (208 octets): it is per leg, up to 2^20 per relay. */
typedef struct leg {
  int fd;                    /* owned by: control (bind/close); -1 when the slot is free */
  int target;                /* owned by: control; leg whose socket sends what this leg receives, -1 none;
                                on a free slot: the next free slot (the free list), -1 at its end */
  int source;                /* owned by: control; the leg whose target this is, -1 none (a leg receives
                                from at most one leg: close clears it without scanning the table) */
  uint32_t clock_hz;         /* owned by: control; RTP clock of the stream received here, 0 = 8000 */
  uint16_t port;             /* owned by: control */
  uint8_t latch;             /* owned by: control; LATCH_* */
  uint8_t has_peer;          /* owned by: control and worker, as `peer` */
  uint8_t nominated;         /* owned by: worker; a check with USE-CANDIDATE set `peer` (RFC 8445 §7.3.1.5) */
  uint8_t owner;             /* owned by: control (under every worker's lock); the worker whose epoll set
                                holds the socket: the only thread that reads it */
  ksbc_sockaddr peer;        /* owned by: control (set) and worker (latching); either family */
  ksbc_srtp *srtp_in;        /* owned by: control; unprotects what arrives on this leg, NULL = plain RTP */
  ksbc_srtp *srtp_out;       /* owned by: control; protects what leaves through this leg, NULL = plain */
  napi_ref ref_in, ref_out;  /* owned by: control; keep the JS externals (and the libsrtp sessions) alive */
  ksbc_ice *ice;             /* owned by: control; ICE-lite credentials: STUN checks are answered, NULL = none */
  uint8_t *pt_map;           /* owned by: control; RTP payload type of what leaves through this leg, indexed by
                                the received type (128 octets, identity where unmapped); NULL = none. On the
                                heap: only calls whose legs negotiated different numbers pay for it */
  /* counters, owned by: worker */
  uint64_t pkts_in, bytes_in, pkts_out, bytes_out, auth_fail, replay, dropped, last_rx_ms;
  uint32_t ice_checks, ice_failures; /* answered with success / failed (400, 401, malformed) */
  rtp_stats rs;              /* owned by: worker; RFC 3550 A.1/A.8 of the RTP (not RTCP) received */
} leg;
_Static_assert(sizeof(leg) == 208, "leg struct grew: it is per leg, up to 2^20 per relay");

typedef struct relay relay;

/* One packet thread and the epoll set of the legs it owns. */
typedef struct worker {
  pthread_mutex_t lock; /* held by the thread while it handles one ready socket (see the top) */
  pthread_t thread;
  relay *r;
  int index;
  int epfd, evfd;   /* owned by: control */
  int started;      /* owned by: control; the thread runs and is joined at stop */
  int legs;         /* owned by: control; legs it owns */
  /* counters, owned by: worker; read by control with relaxed atomic loads (one writer) */
  uint64_t packets; /* datagrams received */
  uint64_t rounds;  /* epoll wake-ups that found work */
  /* scratch, owned by: worker */
  unsigned char slots[BATCH][SLOT];
  struct mmsghdr rx[BATCH], tx[BATCH];
  struct iovec rxiov[BATCH], txiov[BATCH];
  ksbc_sockaddr src[BATCH];
} worker;

struct relay {
  int running;     /* owned by: control, written under every worker's lock */
  int coalesce_us; /* owned by: control; pause after each busy epoll round so more datagrams queue up */
  int nworkers;    /* fixed at relayCreate */
  int nlegs;       /* owned by: control: high-water mark of used slots */
  int free_head;   /* owned by: control: first free slot below nlegs (linked through `target`), -1 none */
  int cap;         /* owned by: control: slots allocated in `legs` */
  leg *legs;       /* owned by: control (grown only by JS, under every lock, so no worker sees a moved
                      table; a JS call's leg pointers stay valid because only JS grows it) */
  worker *w[MAX_WORKERS];
};

static void lock_all(relay *r) {
  for (int i = 0; i < r->nworkers; i++) pthread_mutex_lock(&r->w[i]->lock);
}

static void unlock_all(relay *r) {
  for (int i = r->nworkers - 1; i >= 0; i--) pthread_mutex_unlock(&r->w[i]->lock);
}

/* Adds `fd` to the epoll set `epfd` for input, level-triggered; the event carries `tag` (a leg number,
 * or UINT32_MAX for the worker's eventfd). 0, or -1 with errno. */
static int watch(int epfd, int fd, uint32_t tag) {
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Throws for a failed system call `call` with errno `err`: SBC_ERR_MEDIA_NATIVE_CAPACITY when it is the
 * node's capacity, not this call's fault (out of descriptors — the process's RLIMIT_NOFILE, the
 * system's fs.file-max —, of kernel memory, or of epoll watches, fs.epoll.max_user_watches), which
 * the media pod answers as rtpengine's "load limit"; SBC_ERR_MEDIA_NATIVE otherwise. */
static napi_value throw_sys(napi_env env, const char *call, int err) {
  int capacity = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == ENOSPC;
  const char *limit = err == EMFILE   ? " (RLIMIT_NOFILE)"
                      : err == ENFILE ? " (fs.file-max)"
                      : err == ENOSPC ? " (fs.epoll.max_user_watches)"
                                      : "";
  char msg[128];
  snprintf(msg, sizeof msg, "%s failed: %s%s", call, strerror(err), limit);
  napi_throw_error(env, capacity ? "SBC_ERR_MEDIA_NATIVE_CAPACITY" : "SBC_ERR_MEDIA_NATIVE", msg);
  return NULL;
}

/* The lock that guards a leg's fields: its owner's. */
static pthread_mutex_t *leg_lock(relay *r, const leg *L) {
  return &r->w[L->owner]->lock;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The ICE-lite responder (stun.c): the answer leaves from the socket the check arrived on, to its
 * source (RFC 8445 §7.3: responses are symmetric); a nominating check (USE-CANDIDATE, §7.3.1.5 and
 * §7.3.2 for lite agents) makes that source the leg's peer, as the TypeScript relay does. Called by
 * the worker with `lock` held. */
static void answer_stun(leg *L, const unsigned char *p, int len, const ksbc_sockaddr *src) {
  unsigned char out[KSBC_STUN_ANSWER_MAX];
  int out_len = 0, nominated = 0, code = 0;
  int v = ksbc_stun_answer(L->ice, p, len, src, out, &out_len, &nominated, &code);
  if (v == KSBC_STUN_DROP) {
    L->dropped++;
    return;
  }
  if (v == KSBC_STUN_DROP_BAD) {
    L->ice_failures++;
    return;
  }
  /* A full socket buffer loses this answer; the peer retransmits its check (RFC 5389 §7.2.1). */
  if (sendto(L->fd, out, (size_t)out_len, MSG_DONTWAIT, (const struct sockaddr *)src, sizeof *src) > 0) {
    L->pkts_out++;
    L->bytes_out += (uint64_t)out_len;
  }
  if (v == KSBC_STUN_ERROR) {
    L->ice_failures++;
    return;
  }
  L->ice_checks++;
  if (nominated) {
    L->peer = *src;
    L->has_peer = 1;
    L->nominated = 1;
  }
}

/* Handles every datagram waiting on leg `li`. Called by its owner `w` with `w->lock` held. */
static void drain(worker *w, int li) {
  relay *r = w->r;
  leg *L = &r->legs[li];
  for (int batches = 1;; batches++) {
    for (int i = 0; i < BATCH; i++) {
      w->rxiov[i].iov_base = w->slots[i];
      w->rxiov[i].iov_len = SLOT - SRTP_MAX_TRAILER_LEN;
      memset(&w->rx[i].msg_hdr, 0, sizeof w->rx[i].msg_hdr);
      w->rx[i].msg_hdr.msg_iov = &w->rxiov[i];
      w->rx[i].msg_hdr.msg_iovlen = 1;
      w->rx[i].msg_hdr.msg_name = &w->src[i];
      w->rx[i].msg_hdr.msg_namelen = sizeof w->src[i];
    }
    int n = recvmmsg(L->fd, w->rx, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    __atomic_store_n(&w->packets, w->packets + (uint64_t)n, __ATOMIC_RELAXED);
    leg *T = L->target >= 0 ? &r->legs[L->target] : NULL;
    /* Pairs move between workers together (relayMove), so this holds; if it did not, another thread
     * would be using T's socket and SRTP state: drop rather than race. */
    if (T && T->owner != L->owner) T = NULL;
    int ntx = 0;
    uint64_t rx_ms = 0; /* read once per batch, and only when it holds more than STUN */
    /* One arrival time per batch (what recvmmsg returned together arrived within one wake-up). */
    uint32_t arrival = (uint32_t)(now_us() * (L->clock_hz ? L->clock_hz : 8000) / 1000000);
    for (int i = 0; i < n; i++) {
      unsigned char *p = w->slots[i];
      int len = (int)w->rx[i].msg_len;
      L->pkts_in++;
      L->bytes_in += len;
      /* RFC 7983 §7: a first octet of 0–3 is STUN; on an ICE-lite leg it is a connectivity check. */
      if (L->ice && len > 0 && p[0] <= 3) {
        answer_stun(L, p, len, &w->src[i]);
        continue;
      }
      /* The media timeout's idle clock: connectivity checks (above) do not count as media. */
      if (!rx_ms) L->last_rx_ms = rx_ms = now_ms();
      if (len < 12 || (p[0] >> 6) != 2) {
        L->dropped++;
        continue;
      }
      /* RFC 5761 §4: second octet 192–223 is RTCP on a muxed port. */
      int rtcp = p[1] >= 192 && p[1] <= 223;
      if (L->srtp_in) {
        int st = ksbc_unprotect(L->srtp_in, p, &len, rtcp);
        if (st != srtp_err_status_ok) {
          if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old) L->replay++;
          else L->auth_fail++;
          continue;
        }
      }
      if (!rtcp) rs_update(&L->rs, p, arrival);
      /* Latching (symmetric RTP): only a packet that parsed and authenticated may move the peer. */
      if (L->latch == LATCH_ALWAYS || (L->latch == LATCH_ONCE && !L->has_peer)) {
        L->peer = w->src[i];
        L->has_peer = 1;
      }
      if (!T || !T->has_peer || T->fd < 0) {
        L->dropped++;
        continue;
      }
      /* The payload type in the numbers the target's party negotiated (RFC 3264 §6.1: each side
       * receives its own numbers), marker bit kept. Plain RTP only: after unprotect, before protect (the
       * header is authenticated); never RTCP, whose second octet is the packet type. */
      if (T->pt_map && !rtcp) p[1] = (uint8_t)((p[1] & 0x80) | T->pt_map[p[1] & 0x7f]);
      if (T->srtp_out) {
        if (ksbc_protect(T->srtp_out, p, &len, SLOT, rtcp) != srtp_err_status_ok) {
          L->dropped++;
          continue;
        }
      }
      w->txiov[ntx].iov_base = p;
      w->txiov[ntx].iov_len = len;
      memset(&w->tx[ntx].msg_hdr, 0, sizeof w->tx[ntx].msg_hdr);
      w->tx[ntx].msg_hdr.msg_iov = &w->txiov[ntx];
      w->tx[ntx].msg_hdr.msg_iovlen = 1;
      w->tx[ntx].msg_hdr.msg_name = &T->peer;
      w->tx[ntx].msg_hdr.msg_namelen = sizeof T->peer;
      ntx++;
    }
    int sent = 0;
    while (sent < ntx) {
      int m = sendmmsg(T->fd, w->tx + sent, ntx - sent, MSG_DONTWAIT);
      if (m <= 0) {
        if (m < 0 && errno == EINTR) continue;
        /* A full socket buffer or an ICMP error: drop the rest rather than stall every stream. */
        L->dropped += ntx - sent;
        break;
      }
      for (int k = sent; k < sent + m; k++) T->bytes_out += w->txiov[k].iov_len;
      T->pkts_out += m;
      sent += m;
    }
    if (n < BATCH || batches == DRAIN_BATCHES) return;
  }
}

/* Linux's struct sched_attr (sched_setattr(2)); glibc 2.36 has no wrapper and <linux/sched/types.h>
 * clashes with <sched.h>. */
struct ksbc_sched_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
};

/* KSBC_RELAY_SLICE_US=N asks the fair scheduler for an N µs time slice for this worker thread
 * (EEVDF, Linux 6.12+: sched_runtime of SCHED_OTHER is the slice, clamped to 100 µs–100 ms). A task
 * with a shorter slice gets an earlier virtual deadline and may preempt a longer-slice task when it
 * wakes, instead of waiting for that task's slice (0.75 ms × (1 + log2 CPUs)) to end: the wake-up
 * latency of a thread that runs ~50 µs per wake-up. It does not change the thread's CPU share.
 * Unprivileged; older kernels ignore it. Off unless set (under evaluation: docs/benchmarks/media.md). */
static void request_slice(void) {
  const char *e = getenv("KSBC_RELAY_SLICE_US");
  long us = e ? strtol(e, NULL, 10) : 0;
  if (us <= 0) return;
  struct ksbc_sched_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.sched_policy = 0; /* SCHED_OTHER */
  a.sched_runtime = (uint64_t)us * 1000;
  if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) { /* a hint: the worker runs the same without it */ }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  relay *r = w->r;
  struct epoll_event ev[64];
  request_slice();
  for (;;) {
    int n = epoll_wait(w->epfd, ev, 64, 1000);
    if (n > 0) __atomic_store_n(&w->rounds, w->rounds + 1, __ATOMIC_RELAXED);
    for (int i = 0; i < n; i++) {
      if (ev[i].data.u32 == UINT32_MAX) {
        uint64_t v;
        if (read(w->evfd, &v, sizeof v) < 0) { /* nothing to do: the flag below decides */ }
        pthread_mutex_lock(&w->lock);
        int running = r->running;
        pthread_mutex_unlock(&w->lock);
        if (!running) return NULL;
        continue;
      }
      pthread_mutex_lock(&w->lock);
      int li = (int)ev[i].data.u32;
      /* A leg moved to another worker after this epoll_wait returned is that worker's now. */
      if (li < r->nlegs && r->legs[li].fd >= 0 && r->legs[li].owner == w->index) drain(w, li);
      pthread_mutex_unlock(&w->lock);
    }
    /* Interrupt coalescing in userspace: a wake-up costs several µs on a VM, so after a round with
     * packets, wait a little and take the next round's packets in one go (adds at most coalesce_us of
     * latency; 0 = wake per datagram). */
    int coalesce = __atomic_load_n(&r->coalesce_us, __ATOMIC_RELAXED);
    if (n > 0 && coalesce > 0) {
      struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)coalesce * 1000};
      nanosleep(&ts, NULL);
    }
  }
}

static relay *relay_from(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok ||
      !data) {
    napi_throw_type_error(env, "SBC_ERR_MEDIA_NATIVE", "expected a relay handle");
    return NULL;
  }
  return data;
}

static void stop_threads(relay *r) {
  lock_all(r);
  r->running = 0;
  unlock_all(r);
  for (int i = 0; i < r->nworkers; i++) {
    worker *w = r->w[i];
    if (!w->started) continue;
    uint64_t one = 1;
    if (write(w->evfd, &one, sizeof one) < 0) { /* the 1 s epoll timeout still ends the loop */ }
    pthread_join(w->thread, NULL);
    w->started = 0;
  }
}

/* Frees what a leg holds on the heap besides SRTP: ICE credentials and the payload type map. */
static void release_heap(leg *L) {
  free(L->ice);
  L->ice = NULL;
  free(L->pt_map);
  L->pt_map = NULL;
}

static void release_srtp(napi_env env, leg *L) {
  if (L->ref_in) napi_delete_reference(env, L->ref_in);
  if (L->ref_out) napi_delete_reference(env, L->ref_out);
  L->ref_in = L->ref_out = NULL;
  L->srtp_in = L->srtp_out = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  relay *r = data;
  stop_threads(r);
  for (int i = 0; i < r->nlegs; i++) {
    if (r->legs[i].fd >= 0) close(r->legs[i].fd);
    release_srtp(env, &r->legs[i]);
    release_heap(&r->legs[i]);
  }
  for (int i = 0; i < r->nworkers; i++) {
    close(r->w[i]->epfd);
    close(r->w[i]->evfd);
    pthread_mutex_destroy(&r->w[i]->lock);
    free(r->w[i]);
  }
  free(r->legs);
  free(r);
}

/* The relay (argv[0]) and up to `max` arguments, of which the first `min` are required; `argc` tells
 * how many were passed. */
#define ARGS_UP_TO(max, min)                                               \
  size_t argc = max;                                                       \
  napi_value argv[max];                                                    \
  KSBC_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));   \
  if (argc < min) KSBC_THROW(env, "missing arguments");                    \
  relay *r = relay_from(env, argv[0]);                                     \
  if (!r) return NULL;
#define ARGS(n) ARGS_UP_TO(n, n)

/* An optional argument left out: JavaScript null or undefined. */
static bool is_absent(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) != napi_ok || t == napi_null || t == napi_undefined;
}

/* Optional argument `i` as an unsigned number: `out` keeps its default when it was not passed or is
 * null/undefined. 0, or -1 with a pending exception. */
static int opt_u32(napi_env env, size_t argc, napi_value *argv, size_t i, uint32_t *out) {
  return i < argc && !is_absent(env, argv[i]) ? ksbc_get_u32(env, argv[i], out) : 0;
}

static leg *leg_arg(napi_env env, relay *r, napi_value v) {
  uint32_t li;
  if (ksbc_get_u32(env, v, &li)) return NULL;
  if ((int)li >= r->nlegs || r->legs[li].fd < 0) {
    napi_throw_range_error(env, "SBC_ERR_MEDIA_NATIVE", "no such relay leg");
    return NULL;
  }
  return &r->legs[li];
}

int ksbc_parse_addr(napi_env env, napi_value a, napi_value p, ksbc_sockaddr *out) {
  char host[64];
  uint32_t port;
  if (ksbc_get_string(env, a, host, sizeof host) || ksbc_get_u32(env, p, &port)) return -1;
  memset(out, 0, sizeof *out);
  if (port <= 65535 && inet_pton(AF_INET, host, &out->v4.sin_addr) == 1) {
    out->v4.sin_family = AF_INET;
    out->v4.sin_port = htons((uint16_t)port);
    return 0;
  }
  if (port <= 65535 && inet_pton(AF_INET6, host, &out->v6.sin6_addr) == 1) {
    out->v6.sin6_family = AF_INET6;
    out->v6.sin6_port = htons((uint16_t)port);
    return 0;
  }
  napi_throw_type_error(env, "SBC_ERR_MEDIA_NATIVE", "expected an IPv4 or IPv6 address and a port 0-65535");
  return -1;
}

static uint16_t addr_port(const ksbc_sockaddr *a) {
  return ntohs(a->sa.sa_family == AF_INET6 ? a->v6.sin6_port : a->v4.sin_port);
}

/* relayCreate(workers = 1) -> External: a relay with `workers` packet threads (started by relayStart). */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  KSBC_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 1;
  if (opt_u32(env, argc, argv, 0, &n)) return NULL;
  if (n < 1 || n > MAX_WORKERS) KSBC_THROW(env, "workers must be 1-64");
  relay *r = calloc(1, sizeof *r);
  if (!r) KSBC_THROW(env, "out of memory");
  r->free_head = -1;
  for (uint32_t i = 0; i < n; i++) {
    worker *w = calloc(1, sizeof *w);
    if (!w) break;
    w->r = r;
    w->index = (int)i;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    /* Out of descriptors (EMFILE) is an error here: a worker without its epoll set or eventfd would
     * take legs and never read them, or never see relayStop. */
    if (w->epfd < 0 || w->evfd < 0 || watch(w->epfd, w->evfd, UINT32_MAX) != 0) {
      if (w->epfd >= 0) close(w->epfd);
      if (w->evfd >= 0) close(w->evfd);
      free(w);
      break;
    }
    pthread_mutex_init(&w->lock, NULL);
    r->w[r->nworkers++] = w;
  }
  napi_value ext;
  if (r->nworkers < (int)n || napi_create_external(env, r, finalize, NULL, &ext) != napi_ok) {
    finalize(env, r, NULL);
    KSBC_THROW(env, "cannot create the relay (out of memory or file descriptors)");
  }
  return ext;
}

/* relayBind(relay, address, port, worker = 0) -> { leg, port }: a UDP socket owned by that worker. */
static napi_value bind_leg(napi_env env, napi_callback_info info) {
  ARGS_UP_TO(4, 3)
  uint32_t owner = 0;
  if (opt_u32(env, argc, argv, 3, &owner)) return NULL;
  if ((int)owner >= r->nworkers) KSBC_THROW(env, "no such relay worker");
  ksbc_sockaddr sa;
  if (ksbc_parse_addr(env, argv[1], argv[2], &sa)) return NULL;
  /* An IPv6 socket keeps the kernel's dual-stack default (as Node's udp6): bound to :: it also relays
   * IPv4 peers, whose addresses then arrive v4-mapped. */
  int fd = socket(sa.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_sys(env, "socket()", errno);
  int rcv = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  socklen_t sl = sa.sa.sa_family == AF_INET6 ? sizeof sa.v6 : sizeof sa.v4;
  if (bind(fd, &sa.sa, sl) < 0) {
    /* Only EADDRINUSE is "in use": the media pod then tries another port; any other failure (an
     * address not on this host, a privileged port) would fail the same way on every port. */
    int err = errno;
    close(fd);
    char msg[96];
    snprintf(msg, sizeof msg, "bind() failed: %s", strerror(err));
    napi_throw_error(env, err == EADDRINUSE ? "SBC_ERR_MEDIA_PORT_IN_USE" : "SBC_ERR_MEDIA_NATIVE", msg);
    return NULL;
  }
  sl = sizeof sa;
  getsockname(fd, &sa.sa, &sl);
  lock_all(r);
  /* A freed slot first (the free list: O(1) at any table size), else the next never-used one. */
  int li = r->free_head;
  if (li >= 0) r->free_head = r->legs[li].target;
  if (li < 0 && r->nlegs == r->cap && r->cap < MAX_LEGS) {
    int cap = r->cap ? r->cap * 2 : LEGS_INITIAL;
    leg *grown = realloc(r->legs, (size_t)cap * sizeof *grown);
    if (grown) {
      r->legs = grown;
      r->cap = cap;
    }
  }
  if (li < 0 && r->nlegs < r->cap) li = r->nlegs++;
  int epoll_err = 0;
  if (li >= 0) {
    /* Cleared first, refused or not: a never-used slot holds whatever realloc left there, and a
     * refused one goes back on the free list, whose slots finalize releases (SRTP references, heap
     * buffers) as relayClose leaves them, NULL. */
    leg *L = &r->legs[li];
    memset(L, 0, sizeof *L);
    /* Into the worker's epoll set before the slot is in use: a socket the kernel would not watch
     * (ENOMEM, or ENOSPC past fs.epoll.max_user_watches) would be a leg that never relays. */
    if (watch(r->w[owner]->epfd, fd, (uint32_t)li) != 0) {
      epoll_err = errno;
      L->fd = -1;
      L->target = r->free_head;
      r->free_head = li;
    } else {
      L->fd = fd;
      L->port = addr_port(&sa);
      L->target = -1;
      L->source = -1;
      L->latch = LATCH_ONCE;
      L->owner = (uint8_t)owner;
      r->w[owner]->legs++;
    }
  }
  unlock_all(r);
  /* Both refusals are the node's capacity, not this call's fault: SBC_ERR_MEDIA_NATIVE_CAPACITY, which
   * the media pod answers as rtpengine's "load limit" (an NG client may try another media pod). */
  if (li < 0) {
    close(fd);
    napi_throw_error(env, "SBC_ERR_MEDIA_NATIVE_CAPACITY", "relay leg table full");
    return NULL;
  }
  if (epoll_err) {
    close(fd);
    return throw_sys(env, "epoll_ctl()", epoll_err);
  }
  napi_value obj;
  KSBC_CHECK(env, napi_create_object(env, &obj));
  ksbc_set_number(env, obj, "leg", li);
  ksbc_set_number(env, obj, "port", addr_port(&sa));
  return obj;
}

/* Unlinks `from` from the leg it sends to (both directions of the link). Under `lock`. */
static void unlink_target(relay *r, leg *from) {
  if (from->target >= 0 && r->legs[from->target].source == (int)(from - r->legs)) r->legs[from->target].source = -1;
  from->target = -1;
}

/* relayConnect(relay, fromLeg, toLeg): what arrives on `from` leaves through `to` toward its peer. A
 * leg receives from one leg at most (a call's legs are connected in pairs): a leg that sent to `to`
 * before stops. Both legs must be on one worker (bind them with the same worker). */
static napi_value connect_legs(napi_env env, napi_callback_info info) {
  ARGS(3)
  leg *from = leg_arg(env, r, argv[1]);
  leg *to = from ? leg_arg(env, r, argv[2]) : NULL;
  if (!to) return NULL;
  if (from->owner != to->owner) KSBC_THROW(env, "legs on different relay workers cannot be connected");
  lock_all(r);
  unlink_target(r, from);
  if (to->source >= 0) unlink_target(r, &r->legs[to->source]);
  from->target = (int)(to - r->legs);
  to->source = (int)(from - r->legs);
  unlock_all(r);
  return NULL;
}

/* relaySetPeer(relay, leg, address, port, latch): latch 0 = fixed, 1 = learn once, 2 = follow. */
static napi_value set_peer(napi_env env, napi_callback_info info) {
  ARGS(5)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  uint32_t latch;
  if (ksbc_get_u32(env, argv[4], &latch)) return NULL;
  ksbc_sockaddr sa;
  int has = 0;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t == napi_string) {
    if (ksbc_parse_addr(env, argv[2], argv[3], &sa)) return NULL;
    has = 1;
  }
  pthread_mutex_lock(leg_lock(r, L));
  if (has) L->peer = sa;
  L->has_peer = has;
  L->nominated = 0; /* control's peer supersedes an ICE nomination */
  L->latch = latch > 2 ? LATCH_ONCE : (int)latch;
  pthread_mutex_unlock(leg_lock(r, L));
  return NULL;
}

/* relaySetSrtp(relay, leg, inbound | null, outbound | null) */
static napi_value set_srtp(napi_env env, napi_callback_info info) {
  ARGS(4)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  ksbc_srtp *in = NULL, *out = NULL;
  if (!is_absent(env, argv[2]) && !(in = ksbc_srtp_from(env, argv[2]))) return NULL;
  if (!is_absent(env, argv[3]) && !(out = ksbc_srtp_from(env, argv[3]))) return NULL;
  if ((in && in->outbound) || (out && !out->outbound)) KSBC_THROW(env, "SRTP session direction does not fit");
  pthread_mutex_lock(leg_lock(r, L));
  release_srtp(env, L);
  L->srtp_in = in;
  L->srtp_out = out;
  if (in) napi_create_reference(env, argv[2], 1, &L->ref_in);
  if (out) napi_create_reference(env, argv[3], 1, &L->ref_out);
  pthread_mutex_unlock(leg_lock(r, L));
  return NULL;
}

/* relaySetIce(relay, leg, ufrag | null, pwd | null): our ICE-lite credentials toward the leg's party
 * (what arrives with a first octet 0–3 is answered as a STUN check); null clears them (then such
 * datagrams are dropped as not RTP). A new ufrag/pwd (ICE restart) keeps the nominated peer. */
static napi_value set_ice(napi_env env, napi_callback_info info) {
  ARGS(4)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  ksbc_ice *ice = NULL;
  if (!is_absent(env, argv[2]) && !(ice = ksbc_ice_from(env, argv[2], argv[3]))) return NULL;
  pthread_mutex_lock(leg_lock(r, L));
  ksbc_ice *old = L->ice;
  L->ice = ice;
  pthread_mutex_unlock(leg_lock(r, L));
  free(old); /* the worker reads `ice` only under the lock, so no one uses the old one now */
  return NULL;
}

/* relaySetPtMap(relay, leg, pairs | null): payload types rewritten in RTP that leaves through the leg,
 * `pairs` a Uint8Array [from0, to0, from1, to1, ...] (at most 64 pairs; types 0-127, none in 64-95:
 * on a muxed port a second octet of 192-223 is RTCP, RFC 5761 §4, so such a type would be taken for
 * RTCP after the rewrite); null or no pairs clears the map. */
static napi_value set_pt_map(napi_env env, napi_callback_info info) {
  ARGS(3)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  uint8_t *map = NULL;
  if (!is_absent(env, argv[2])) {
    bool is_ta = false;
    napi_typedarray_type tt;
    size_t n = 0;
    void *data = NULL;
    if (napi_is_typedarray(env, argv[2], &is_ta) != napi_ok || !is_ta ||
        napi_get_typedarray_info(env, argv[2], &tt, &n, &data, NULL, NULL) != napi_ok || tt != napi_uint8_array ||
        n % 2 != 0 || n > 128)
      KSBC_THROW(env, "payload type map must be a Uint8Array of at most 64 (from, to) pairs");
    const uint8_t *pairs = data;
    for (size_t i = 0; i < n; i++)
      if (pairs[i] > 127 || (pairs[i] >= 64 && pairs[i] <= 95))
        KSBC_THROW(env, "payload types must be 0-127 and outside 64-95 (RTCP on a muxed port)");
    if (n > 0) {
      map = malloc(128);
      if (!map) KSBC_THROW(env, "out of memory");
      for (int i = 0; i < 128; i++) map[i] = (uint8_t)i;
      for (size_t i = 0; i < n; i += 2) map[pairs[i]] = pairs[i + 1];
    }
  }
  pthread_mutex_lock(leg_lock(r, L));
  uint8_t *old = L->pt_map;
  L->pt_map = map;
  pthread_mutex_unlock(leg_lock(r, L));
  free(old); /* the worker reads `pt_map` only under the lock */
  return NULL;
}

/* relayClose(relay, leg): closes the socket and frees the slot (the port returns to the pool). */
static napi_value close_leg(napi_env env, napi_callback_info info) {
  ARGS(2)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  lock_all(r);
  epoll_ctl(r->w[L->owner]->epfd, EPOLL_CTL_DEL, L->fd, NULL);
  r->w[L->owner]->legs--;
  close(L->fd);
  L->fd = -1;
  release_srtp(env, L);
  release_heap(L);
  int li = (int)(L - r->legs);
  /* No leg may keep sending through this slot once it is reused by another call. */
  unlink_target(r, L);
  if (L->source >= 0) unlink_target(r, &r->legs[L->source]);
  L->target = r->free_head;
  r->free_head = li;
  unlock_all(r);
  return NULL;
}

/* relayStats(relay, leg) -> counters */
static napi_value stats(napi_env env, napi_callback_info info) {
  ARGS(2)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  pthread_mutex_lock(leg_lock(r, L));
  leg c = *L;
  pthread_mutex_unlock(leg_lock(r, L));
  napi_value o;
  KSBC_CHECK(env, napi_create_object(env, &o));
  ksbc_set_number(env, o, "packetsIn", (double)c.pkts_in);
  ksbc_set_number(env, o, "bytesIn", (double)c.bytes_in);
  ksbc_set_number(env, o, "packetsOut", (double)c.pkts_out);
  ksbc_set_number(env, o, "bytesOut", (double)c.bytes_out);
  ksbc_set_number(env, o, "authFailures", (double)c.auth_fail);
  ksbc_set_number(env, o, "replayDrops", (double)c.replay);
  ksbc_set_number(env, o, "dropped", (double)c.dropped);
  ksbc_set_number(env, o, "idleMs", c.last_rx_ms ? (double)(now_ms() - c.last_rx_ms) : -1);
  int64_t expected = c.rs.received ? (int64_t)c.rs.cycles + c.rs.max_seq - c.rs.base_seq + 1 : 0;
  ksbc_set_number(env, o, "lost", (double)(expected - (int64_t)c.rs.received));
  ksbc_set_number(env, o, "jitter", (double)(c.rs.jitter_q4 >> 4));
  ksbc_set_number(env, o, "iceChecks", c.ice_checks);
  ksbc_set_number(env, o, "iceFailures", c.ice_failures);
  napi_value nom;
  napi_get_boolean(env, c.nominated != 0, &nom);
  napi_set_named_property(env, o, "nominated", nom);
  if (c.has_peer) {
    char host[INET6_ADDRSTRLEN];
    if (c.peer.sa.sa_family == AF_INET6) inet_ntop(AF_INET6, &c.peer.v6.sin6_addr, host, sizeof host);
    else inet_ntop(AF_INET, &c.peer.v4.sin_addr, host, sizeof host);
    napi_value s;
    napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, o, "peerAddress", s);
    ksbc_set_number(env, o, "peerPort", addr_port(&c.peer));
  }
  return o;
}

/* relayStatsInto(relay, leg, out: Float64Array(16)): relayStats' snapshot as numbers, for a caller that
 * builds the object itself (NativeRelay.stats): setting 14 named properties through Node-API cost ~7.5 µs
 * per leg, what a /metrics scrape pays for every leg. Layout: packets in, bytes in, packets out, bytes
 * out, auth failures, replay drops, dropped, idle ms (-1 none), lost, jitter, ICE checks, ICE failures,
 * nominated (0/1), peer (0 none, 1 IPv4, 2 IPv6), peer IPv4 address (host order; 0 for IPv6: relayStats
 * has its text), peer port. */
static napi_value stats_into(napi_env env, napi_callback_info info) {
  ARGS(3)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  bool is_ta = false;
  napi_typedarray_type tt;
  size_t n = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, argv[2], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[2], &tt, &n, &data, NULL, NULL) != napi_ok || tt != napi_float64_array ||
      n < 16)
    KSBC_THROW(env, "expected a Float64Array of at least 16 numbers");
  pthread_mutex_lock(leg_lock(r, L));
  leg c = *L;
  pthread_mutex_unlock(leg_lock(r, L));
  double *o = data;
  int64_t expected = c.rs.received ? (int64_t)c.rs.cycles + c.rs.max_seq - c.rs.base_seq + 1 : 0;
  o[0] = (double)c.pkts_in;
  o[1] = (double)c.bytes_in;
  o[2] = (double)c.pkts_out;
  o[3] = (double)c.bytes_out;
  o[4] = (double)c.auth_fail;
  o[5] = (double)c.replay;
  o[6] = (double)c.dropped;
  o[7] = c.last_rx_ms ? (double)(now_ms() - c.last_rx_ms) : -1;
  o[8] = (double)(expected - (int64_t)c.rs.received);
  o[9] = (double)(c.rs.jitter_q4 >> 4);
  o[10] = c.ice_checks;
  o[11] = c.ice_failures;
  o[12] = c.nominated != 0;
  int v6 = c.peer.sa.sa_family == AF_INET6;
  o[13] = c.has_peer ? (v6 ? 2 : 1) : 0;
  o[14] = c.has_peer && !v6 ? (double)ntohl(c.peer.v4.sin_addr.s_addr) : 0;
  o[15] = c.has_peer ? addr_port(&c.peer) : 0;
  return NULL;
}

/* relayIdleMs(relay, leg) -> ms since the leg's last media packet, -1 before the first: all the media
 * timeout needs, read every second for every leg, without building relayStats' object (~7.5 µs per
 * call on the benchmark machine: 12 ms of the event loop per second at 400 calls). */
static napi_value idle_ms(napi_env env, napi_callback_info info) {
  ARGS(2)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  pthread_mutex_lock(leg_lock(r, L));
  uint64_t last = L->last_rx_ms;
  pthread_mutex_unlock(leg_lock(r, L));
  napi_value v;
  KSBC_CHECK(env, napi_create_double(env, last ? (double)(now_ms() - last) : -1, &v));
  return v;
}

/* relaySetClockRate(relay, leg, hz): the RTP clock of what the leg receives (jitter units) */
static napi_value set_clock(napi_env env, napi_callback_info info) {
  ARGS(3)
  leg *L = leg_arg(env, r, argv[1]);
  if (!L) return NULL;
  uint32_t hz = 0;
  if (ksbc_get_u32(env, argv[2], &hz)) return NULL;
  if (hz == 0 || hz > 192000) KSBC_THROW(env, "clock rate must be 1-192000 Hz");
  pthread_mutex_lock(leg_lock(r, L));
  L->clock_hz = hz;
  pthread_mutex_unlock(leg_lock(r, L));
  return NULL;
}

/* Starts worker `w`: with `rt_priority` > 0 as a SCHED_FIFO thread of that priority (set at creation, so
 * the first packet already runs at it). Returns 0, or the pthread_create error (EPERM: the process may
 * not use real-time scheduling — no CAP_SYS_NICE or RLIMIT_RTPRIO). */
static int spawn_worker(worker *w, int rt_priority) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (rt_priority > 0) {
    struct sched_param sp = {.sched_priority = rt_priority};
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    pthread_attr_setschedparam(&attr, &sp);
  }
  int err = pthread_create(&w->thread, &attr, worker_main, w);
  pthread_attr_destroy(&attr);
  if (err == 0) {
    w->started = 1;
    /* A name per thread (top -H, /proc/<pid>/task/<tid>/comm, perf sched), set here so that it is
     * there when relayStart returns. */
    char name[16];
    snprintf(name, sizeof name, "ksbc-relay-%d", w->index);
    pthread_setname_np(w->thread, name);
  }
  return err;
}

/* relayStart(relay, coalesceUs = 0, rtPriority = 0) -> whether every worker runs at rtPriority: false
 * when rtPriority is 0, or when the process may not use real-time scheduling (the workers then run with
 * normal scheduling). Workers already running keep their scheduling. */
static napi_value start(napi_env env, napi_callback_info info) {
  ARGS_UP_TO(3, 1)
  uint32_t coalesce = 0, prio = 0;
  if (opt_u32(env, argc, argv, 1, &coalesce) || opt_u32(env, argc, argv, 2, &prio)) return NULL;
  if (coalesce > 5000) KSBC_THROW(env, "coalesceUs must be at most 5000");
  if (prio > 0 && ((int)prio < sched_get_priority_min(SCHED_FIFO) || (int)prio > sched_get_priority_max(SCHED_FIFO)))
    KSBC_THROW(env, "rtPriority must be 0 (normal scheduling) or a SCHED_FIFO priority 1-99");
  lock_all(r);
  __atomic_store_n(&r->coalesce_us, (int)coalesce, __ATOMIC_RELAXED);
  int was = r->running;
  r->running = 1;
  unlock_all(r);
  int realtime = 0;
  if (!was) {
    realtime = prio > 0;
    for (int i = 0; i < r->nworkers; i++) {
      if (prio > 0 && spawn_worker(r->w[i], (int)prio) == 0) continue;
      realtime = 0;
      if (spawn_worker(r->w[i], 0) != 0) {
        stop_threads(r);
        KSBC_THROW(env, "pthread_create failed");
      }
    }
  }
  napi_value rt;
  napi_get_boolean(env, realtime != 0, &rt);
  return rt;
}

static napi_value stop(napi_env env, napi_callback_info info) {
  ARGS(1)
  stop_threads(r);
  return NULL;
}

/* A group of connected legs being moved (each_connected): a call's pair, or a longer chain. */
typedef struct {
  int *v;
  int n, cap;
  int inline_v[8];
} leg_group;

static int visit_collect(relay *r, int k, void *arg) {
  (void)r;
  leg_group *g = arg;
  /* A ring (a pair: a -> b -> a) is met again walking back along `source`. */
  for (int i = 0; i < g->n; i++)
    if (g->v[i] == k) return 0;
  if (g->n == g->cap) {
    int cap = g->cap * 2;
    int *grown = g->v == g->inline_v ? malloc((size_t)cap * sizeof *grown) : realloc(g->v, (size_t)cap * sizeof *grown);
    if (!grown) return 1;
    if (g->v == g->inline_v) memcpy(grown, g->inline_v, sizeof g->inline_v);
    g->v = grown;
    g->cap = cap;
  }
  g->v[g->n++] = k;
  return 0;
}

/* Moves every leg of `g` to worker `to`, all or none (a link left across two workers drops every
 * packet): each goes into `to`'s epoll set first, and if the kernel refuses one (ENOMEM, ENOSPC past
 * fs.epoll.max_user_watches) those added are taken out again and the group stays where it was, still
 * relaying. Only then do they leave their owner's set. A socket is briefly in both sets; an event the
 * old owner takes is skipped by its owner check. Under every lock. Returns 0 when moved. */
static int move_group(relay *r, const leg_group *g, int to) {
  for (int i = 0; i < g->n; i++) {
    if (watch(r->w[to]->epfd, r->legs[g->v[i]].fd, (uint32_t)g->v[i]) != 0) {
      while (i-- > 0) epoll_ctl(r->w[to]->epfd, EPOLL_CTL_DEL, r->legs[g->v[i]].fd, NULL);
      return -1;
    }
  }
  for (int i = 0; i < g->n; i++) {
    leg *L = &r->legs[g->v[i]];
    epoll_ctl(r->w[L->owner]->epfd, EPOLL_CTL_DEL, L->fd, NULL);
    r->w[L->owner]->legs--;
    r->w[to]->legs++;
    L->owner = (uint8_t)to;
  }
  return 0;
}

/* The legs connected with leg `li` on worker `from`: a leg sends to one leg and receives from one, so
 * they form a chain or a ring, walked forward along `target` and back along `source` (each walk at most
 * nlegs steps). A call's legs are connected in mutual pairs, but relayConnect allows any chain
 * (a -> b -> c), and all of it must move together: a link left across two workers drops every packet
 * (drain's owner check). Calls `visit` for each leg but `li`, stopping when it returns nonzero. */
static int each_connected(relay *r, int li, int from, int (*visit)(relay *, int, void *), void *arg) {
  for (int dir = 0; dir < 2; dir++) {
    int k = dir == 0 ? r->legs[li].target : r->legs[li].source;
    for (int n = 0; k >= 0 && k != li && n < r->nlegs; n++) {
      leg *K = &r->legs[k];
      if (K->fd < 0 || K->owner != from) break;
      if (visit(r, k, arg)) return 1;
      k = dir == 0 ? K->target : K->source;
    }
  }
  return 0;
}

static int visit_active(relay *r, int k, void *arg) {
  return r->legs[k].last_rx_ms + 1000 >= *(uint64_t *)arg;
}

/* Whether leg `li` or a leg connected with it received media in the last second. Its worker's lock
 * covers them all: connected legs share one owner. */
static int recently_active(relay *r, int li, uint64_t now) {
  leg *L = &r->legs[li];
  pthread_mutex_lock(leg_lock(r, L));
  int active = L->last_rx_ms + 1000 >= now || each_connected(r, li, L->owner, visit_active, &now);
  pthread_mutex_unlock(leg_lock(r, L));
  return active;
}

/* relayMove(relay, from, to, max, activeOnly = false) -> moved: moves up to `max` connected pairs (a
 * leg with every leg connected with it, each_connected: a call's pair, a longer chain whole; an
 * unconnected leg alone) from worker
 * `from` to worker `to`; with `activeOnly`, only pairs that received media in the last second (what
 * moves load, not idle calls). What the load-following placement asks for. Counters, SRTP state and
 * peers move with the legs (the slots stay: JS keeps its leg numbers). Datagrams queued on a socket
 * are read by the new owner (its epoll set reports them on EPOLL_CTL_ADD); an event the old owner
 * already took is skipped there (`owner` is checked under its lock). Each pair moves under every
 * lock, taken per pair so that no worker waits for a whole batch of moves, and whole or not at all
 * (move_group): if the kernel refuses to watch a socket on `to`, the moving stops there and the
 * count says how many pairs moved. */
static napi_value move_pairs(napi_env env, napi_callback_info info) {
  ARGS_UP_TO(5, 4)
  uint32_t from, to, max;
  if (ksbc_get_u32(env, argv[1], &from) || ksbc_get_u32(env, argv[2], &to) || ksbc_get_u32(env, argv[3], &max))
    return NULL;
  bool active_only = false;
  if (argc > 4 && !is_absent(env, argv[4]) && napi_get_value_bool(env, argv[4], &active_only) != napi_ok)
    KSBC_THROW(env, "activeOnly must be a boolean");
  if ((int)from >= r->nworkers || (int)to >= r->nworkers) KSBC_THROW(env, "no such relay worker");
  uint64_t now = now_ms();
  uint32_t moved = 0;
  for (int li = 0; from != to && li < r->nlegs && moved < max; li++) {
    leg *L = &r->legs[li];
    if (L->fd < 0 || L->owner != from) continue;
    if (active_only && !recently_active(r, li, now)) continue;
    lock_all(r);
    leg_group g = {.n = 1, .cap = 8};
    g.v = g.inline_v;
    g.v[0] = li;
    int refused = each_connected(r, li, (int)from, visit_collect, &g) || move_group(r, &g, (int)to) != 0;
    unlock_all(r);
    if (g.v != g.inline_v) free(g.v);
    /* Out of memory, or the kernel watches no more sockets: what did not move relays where it was. */
    if (refused) break;
    moved++;
  }
  napi_value v;
  KSBC_CHECK(env, napi_create_uint32(env, moved, &v));
  return v;
}

/* relayWorkerStats(relay, out: Float64Array(4 × workers)) -> workers: per worker, datagrams received,
 * wake-ups that found work, CPU time of its thread in ns (0 when not running), legs owned. What the
 * load-following placement measures; the counters only grow. */
static napi_value worker_stats(napi_env env, napi_callback_info info) {
  ARGS(2)
  bool is_ta = false;
  napi_typedarray_type tt;
  size_t n = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, argv[1], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[1], &tt, &n, &data, NULL, NULL) != napi_ok || tt != napi_float64_array ||
      n < (size_t)r->nworkers * 4)
    KSBC_THROW(env, "expected a Float64Array of 4 numbers per worker");
  double *o = data;
  for (int i = 0; i < r->nworkers; i++) {
    worker *w = r->w[i];
    o[4 * i] = (double)__atomic_load_n(&w->packets, __ATOMIC_RELAXED);
    o[4 * i + 1] = (double)__atomic_load_n(&w->rounds, __ATOMIC_RELAXED);
    double cpu = 0;
    clockid_t cid;
    struct timespec ts;
    if (w->started && pthread_getcpuclockid(w->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
      cpu = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
    o[4 * i + 2] = cpu;
    o[4 * i + 3] = w->legs;
  }
  napi_value v;
  KSBC_CHECK(env, napi_create_uint32(env, (uint32_t)r->nworkers, &v));
  return v;
}

napi_value ksbc_relay_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"relayCreate", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"relayBind", NULL, bind_leg, NULL, NULL, NULL, napi_default, NULL},
      {"relayConnect", NULL, connect_legs, NULL, NULL, NULL, napi_default, NULL},
      {"relaySetPeer", NULL, set_peer, NULL, NULL, NULL, napi_default, NULL},
      {"relaySetSrtp", NULL, set_srtp, NULL, NULL, NULL, napi_default, NULL},
      {"relayClose", NULL, close_leg, NULL, NULL, NULL, napi_default, NULL},
      {"relaySetPtMap", NULL, set_pt_map, NULL, NULL, NULL, napi_default, NULL},
      {"relaySetIce", NULL, set_ice, NULL, NULL, NULL, napi_default, NULL},
      {"relayStats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"relayIdleMs", NULL, idle_ms, NULL, NULL, NULL, napi_default, NULL},
      {"relayStatsInto", NULL, stats_into, NULL, NULL, NULL, napi_default, NULL},
      {"relaySetClockRate", NULL, set_clock, NULL, NULL, NULL, napi_default, NULL},
      {"relayStart", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"relayStop", NULL, stop, NULL, NULL, NULL, napi_default, NULL},
      {"relayMove", NULL, move_pairs, NULL, NULL, NULL, napi_default, NULL},
      {"relayWorkerStats", NULL, worker_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
