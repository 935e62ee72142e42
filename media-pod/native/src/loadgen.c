/* A paced RTP load generator and sink for the relay benchmarks (bench/relay-pps.bench.ts) and the
 * relay integration test. Native so that on a shared 2-core machine the generator costs little CPU and
 * keeps its pace; the relay under test runs in another process and is measured there. Loopback only:
 * it sends to 127.0.0.1 and binds its sink on 127.0.0.1.
 *
 * Latency: the RTP timestamp field carries the send time in µs of CLOCK_REALTIME (low 32 bits), taken
 * when the packet is built, just before its tick's batch is sent; the sink subtracts it from the kernel's receive timestamp of the
 * packet (SO_TIMESTAMPNS, also CLOCK_REALTIME). So a late sink thread (scheduling, a long batch) does
 * not count as latency: the figure is generator → relay → the sink socket's queue. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 4096
#define MAX_PACKETS 2000000
#define TICK_NS 250000L /* 250 µs pacing tick: at 20 kpps, 5 packets per tick across the streams */

typedef struct gen {
  int sink_fd;           /* owned by: the generator object; closed by the finaliser */
  uint16_t sink_port;
  /* Next RTP sequence number per stream, kept from run to run: runs of one generator continue its
   * streams (bench/media-relay.bench.ts runs a case in slices; an SRTP receiver refuses a sequence
   * number again as a replay). Owned by: the run in progress (one at a time per generator). */
  uint16_t seq[MAX_STREAMS];
} gen;

typedef struct job {
  gen *g;
  napi_async_work work;
  napi_deferred deferred;
  ksbc_srtp *srtp; /* optional outbound session: SRTP on the wire */
  napi_ref srtp_ref;
  uint16_t ports[MAX_STREAMS];
  int nports;
  uint32_t pps, count, payload;
  uint32_t sink_poll_us; /* 0: the sink waits for each datagram; else it sleeps this long when its queue is empty */
  uint32_t late_us;      /* 0: off; else the send stamp of each packet at least this late is kept (stall analysis) */
  /* results */
  uint64_t sent, received, send_errors;
  uint32_t *lat; /* µs, one per received packet */
  uint32_t *late_sent, nlate; /* send stamps (µs, CLOCK_REALTIME low 32 bits) of late packets; their latency */
  uint32_t *late_lat;
  uint32_t first_sent; /* send stamp of the first packet: the late stamps' origin */
  double elapsed_ms;
  volatile int stop_rx;
  const char *error;
} job;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The clock of SO_TIMESTAMPNS: the packets' send stamps must use it too. */
static uint32_t real_us32(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static void *receiver(void *arg) {
  job *j = arg;
  enum { B = 64, CTL = 64 };
  static __thread unsigned char bufs[B][2048];
  static __thread unsigned char ctl[B][CTL];
  struct mmsghdr m[B];
  struct iovec iov[B];
  struct timeval tv = {.tv_sec = 0, .tv_usec = 50000};
  setsockopt(j->g->sink_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int on = 1;
  int stamped = setsockopt(j->g->sink_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0;
  int flags = MSG_WAITFORONE;
  struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)j->sink_poll_us * 1000};
  if (j->sink_poll_us) flags = MSG_DONTWAIT;
  while (!j->stop_rx) {
    for (int i = 0; i < B; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof bufs[i];
      memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
      m[i].msg_hdr.msg_control = ctl[i];
      m[i].msg_hdr.msg_controllen = CTL;
    }
    int n = recvmmsg(j->g->sink_fd, m, B, flags, NULL);
    if (n <= 0) {
      if (j->sink_poll_us) nanosleep(&pause, NULL);
      continue;
    }
    uint32_t now = real_us32(); /* only when the kernel gave no timestamp */
    for (int i = 0; i < n; i++) {
      if (m[i].msg_len < 12 || j->received >= j->count) continue;
      uint32_t at = now;
      for (struct cmsghdr *c = stamped ? CMSG_FIRSTHDR(&m[i].msg_hdr) : NULL; c; c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          at = (uint32_t)((uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
        }
      }
      uint32_t ts = ntohl(*(uint32_t *)(bufs[i] + 4));
      j->lat[j->received++] = at - ts;
      if (j->late_us && at - ts >= j->late_us && j->nlate < j->count) {
        j->late_sent[j->nlate] = ts;
        j->late_lat[j->nlate++] = at - ts;
      }
    }
  }
  return NULL;
}

static void execute(napi_env env, void *data) {
  job *j = data;
  j->lat = calloc(j->count, sizeof *j->lat);
  if (j->late_us) {
    j->late_sent = calloc(j->count, sizeof *j->late_sent);
    j->late_lat = calloc(j->count, sizeof *j->late_lat);
  }
  if (!j->lat || (j->late_us && (!j->late_sent || !j->late_lat))) {
    j->error = "out of memory";
    return;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    j->error = "socket() failed";
    return;
  }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  pthread_t rx;
  pthread_create(&rx, NULL, receiver, j);

  static __thread unsigned char pkts[64][2048];
  struct mmsghdr m[64];
  struct iovec iov[64];
  struct sockaddr_in dst[64];
  uint16_t *seq = j->g->seq;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  uint64_t start = now_us();
  j->first_sent = real_us32();
  double per_tick = (double)j->pps * TICK_NS / 1e9, due = 0;
  uint32_t stream = 0;
  while (j->sent < j->count) {
    due += per_tick;
    int k = 0;
    while (due >= 1 && k < 64 && j->sent + k < j->count) {
      due -= 1;
      int s = (int)(stream++ % (uint32_t)j->nports);
      unsigned char *p = pkts[k];
      int len = 12 + (int)j->payload;
      p[0] = 0x80;
      p[1] = 0; /* PCMU */
      *(uint16_t *)(p + 2) = htons(seq[s]++);
      *(uint32_t *)(p + 4) = htonl(real_us32());
      *(uint32_t *)(p + 8) = htonl(0x10000u + (uint32_t)s);
      memset(p + 12, 0xd5, j->payload);
      if (j->srtp && ksbc_protect(j->srtp, p, &len, (int)sizeof pkts[k], 0) != 0) {
        j->error = "srtp_protect failed";
        break;
      }
      iov[k].iov_base = p;
      iov[k].iov_len = len;
      memset(&dst[k], 0, sizeof dst[k]);
      dst[k].sin_family = AF_INET;
      dst[k].sin_port = htons(j->ports[s]);
      dst[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      memset(&m[k].msg_hdr, 0, sizeof m[k].msg_hdr);
      m[k].msg_hdr.msg_iov = &iov[k];
      m[k].msg_hdr.msg_iovlen = 1;
      m[k].msg_hdr.msg_name = &dst[k];
      m[k].msg_hdr.msg_namelen = sizeof dst[k];
      k++;
    }
    if (j->error) break;
    int off = 0;
    while (off < k) {
      int n = sendmmsg(fd, m + off, k - off, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        j->send_errors += k - off;
        j->sent += k - off;
        break;
      }
      off += n;
      j->sent += n;
    }
    next.tv_nsec += TICK_NS;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  j->elapsed_ms = (now_us() - start) / 1000.0;
  /* Let the tail arrive: at most 500 ms after the last packet. */
  uint64_t deadline = now_us() + 500000;
  while (j->received < j->sent && now_us() < deadline) usleep(2000);
  j->stop_rx = 1;
  pthread_join(rx, NULL);
  close(fd);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void complete(napi_env env, napi_status status, void *data) {
  job *j = data;
  if (j->error) {
    napi_value msg, err;
    napi_create_string_utf8(env, j->error, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, j->deferred, err);
  } else {
    napi_value o;
    napi_create_object(env, &o);
    ksbc_set_number(env, o, "sent", (double)j->sent);
    ksbc_set_number(env, o, "received", (double)j->received);
    ksbc_set_number(env, o, "sendErrors", (double)j->send_errors);
    ksbc_set_number(env, o, "elapsedMs", j->elapsed_ms);
    if (j->received) {
      qsort(j->lat, j->received, sizeof *j->lat, cmp_u32);
      ksbc_set_number(env, o, "p50Us", j->lat[j->received / 2]);
      ksbc_set_number(env, o, "p99Us", j->lat[(j->received * 99) / 100]);
      ksbc_set_number(env, o, "maxUs", j->lat[j->received - 1]);
      /* Every latency, sorted: runs of one case pooled (bench/media-relay.bench.ts MEDIA_BENCH_SLICES). */
      void *data = NULL;
      napi_value ab, ta;
      if (napi_create_arraybuffer(env, j->received * sizeof *j->lat, &data, &ab) == napi_ok) {
        memcpy(data, j->lat, j->received * sizeof *j->lat);
        napi_create_typedarray(env, napi_uint32_array, j->received, ab, 0, &ta);
        napi_set_named_property(env, o, "latencies", ta);
      }
    }
    if (j->late_us) {
      /* [send time µs since the run's first packet, latency µs] per late packet, in arrival order. */
      napi_value arr;
      napi_create_array_with_length(env, j->nlate * 2, &arr);
      for (uint32_t i = 0; i < j->nlate; i++) {
        napi_value a, b;
        napi_create_uint32(env, j->late_sent[i] - j->first_sent, &a);
        napi_create_uint32(env, j->late_lat[i], &b);
        napi_set_element(env, arr, 2 * i, a);
        napi_set_element(env, arr, 2 * i + 1, b);
      }
      napi_set_named_property(env, o, "late", arr);
    }
    napi_resolve_deferred(env, j->deferred, o);
  }
  if (j->srtp_ref) napi_delete_reference(env, j->srtp_ref);
  napi_delete_async_work(env, j->work);
  free(j->lat);
  free(j->late_sent);
  free(j->late_lat);
  free(j);
}

static void gen_finalize(napi_env env, void *data, void *hint) {
  gen *g = data;
  close(g->sink_fd);
  free(g);
}

/* loadgenCreate() -> { handle, port }: binds the sink on 127.0.0.1. */
static napi_value create(napi_env env, napi_callback_info info) {
  gen *g = calloc(1, sizeof *g);
  if (!g) KSBC_THROW(env, "out of memory");
  g->sink_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int rcv = 8 << 20;
  setsockopt(g->sink_fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  if (bind(g->sink_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || getsockname(g->sink_fd, (struct sockaddr *)&sa, &sl) < 0) {
    close(g->sink_fd);
    free(g);
    KSBC_THROW(env, "sink bind failed");
  }
  g->sink_port = ntohs(sa.sin_port);
  for (int s = 0; s < MAX_STREAMS; s++) g->seq[s] = (uint16_t)(65500 + s * 7); /* cross the 65535 → 0 wrap */
  napi_value o, ext;
  KSBC_CHECK(env, napi_create_object(env, &o));
  KSBC_CHECK(env, napi_create_external(env, g, gen_finalize, NULL, &ext));
  napi_set_named_property(env, o, "handle", ext);
  ksbc_set_number(env, o, "port", g->sink_port);
  return o;
}

/* loadgenRun(handle, ports: number[], pps, count, payloadOctets, srtpOutbound | null, sinkPollUs?,
 * lateUs?) -> Promise */
static napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  KSBC_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) KSBC_THROW(env, "loadgenRun(handle, ports, pps, count, payload, srtp)");
  gen *g = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&g) != napi_ok || !g) KSBC_THROW(env, "expected a loadgen handle");
  job *j = calloc(1, sizeof *j);
  if (!j) KSBC_THROW(env, "out of memory");
  j->g = g;
  uint32_t n = 0;
  bool is_array = false;
  napi_is_array(env, argv[1], &is_array);
  if (!is_array || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > MAX_STREAMS) {
    free(j);
    KSBC_THROW(env, "ports must be a non-empty array of at most 4096 ports");
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    uint32_t p;
    napi_get_element(env, argv[1], i, &e);
    if (ksbc_get_u32(env, e, &p) || p == 0 || p > 65535) {
      free(j);
      return NULL;
    }
    j->ports[i] = (uint16_t)p;
  }
  j->nports = (int)n;
  if (ksbc_get_u32(env, argv[2], &j->pps) || ksbc_get_u32(env, argv[3], &j->count) ||
      ksbc_get_u32(env, argv[4], &j->payload)) {
    free(j);
    return NULL;
  }
  if (j->pps == 0 || j->pps > 200000 || j->count == 0 || j->count > MAX_PACKETS || j->payload > 1400) {
    free(j);
    KSBC_THROW(env, "pps 1..200000, count 1..2000000, payload 0..1400");
  }
  napi_valuetype t;
  napi_typeof(env, argv[5], &t);
  if (t == napi_external) {
    j->srtp = ksbc_srtp_from(env, argv[5]);
    if (!j->srtp || !j->srtp->outbound) {
      free(j);
      KSBC_THROW(env, "expected an outbound SRTP session");
    }
    napi_create_reference(env, argv[5], 1, &j->srtp_ref);
  }
  if (argc > 6) {
    napi_typeof(env, argv[6], &t);
    if (t != napi_undefined && ksbc_get_u32(env, argv[6], &j->sink_poll_us)) {
      free(j);
      return NULL;
    }
    if (j->sink_poll_us > 100000) {
      free(j);
      KSBC_THROW(env, "sinkPollUs 0..100000");
    }
  }
  if (argc > 7) {
    napi_typeof(env, argv[7], &t);
    if (t != napi_undefined && ksbc_get_u32(env, argv[7], &j->late_us)) {
      free(j);
      return NULL;
    }
  }
  napi_value promise, name;
  KSBC_CHECK(env, napi_create_promise(env, &j->deferred, &promise));
  napi_create_string_utf8(env, "ksbc-loadgen", NAPI_AUTO_LENGTH, &name);
  KSBC_CHECK(env, napi_create_async_work(env, NULL, name, execute, complete, j, &j->work));
  KSBC_CHECK(env, napi_queue_async_work(env, j->work));
  return promise;
}

napi_value ksbc_loadgen_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"loadgenCreate", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"loadgenRun", NULL, run, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
