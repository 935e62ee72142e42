/* Fuzz harness of the media packet path's parsers (ADR 0040): the ICE-lite responder (src/stun.c), the
 * RTP statistics (src/rtp-stats.h), the OpenSSL SRTP/SRTCP transforms (src/ossl-srtp.c) and libsrtp's,
 * fed what drain() in src/relay.c feeds them, with the same gates (first octet 0–3 is STUN; < 12
 * octets or not version 2 is dropped; second octet 192–223 is RTCP). Built with ASan + UBSan by
 * native-fuzz.int.test.ts, which also writes the seed corpus (TypeScript builds the STUN messages, the
 * reference implementation) and checks the exit status and stderr.
 *
 *   packet-fuzz CORPUS SEED EXECS UFRAG PWD REGRESSIONS [--dump FILE N]
 *   packet-fuzz --self-check        (reads one octet past a packet: proves a report reaches stderr)
 *
 * Deterministic: the sessions' keys are fixed (key_octet), time is the execution counter, and each
 * execution's mutations come from a generator seeded with (SEED, execution number), so a failure
 * reproduces with the same command line; the report names the seed, the execution and the input.
 * Every input sits at the very end of a guarded mapping (the next page is PROT_NONE) on odd executions
 * and in an exact-size malloc block on even ones: libsrtp and libcrypto are not instrumented, so the
 * guard page is what catches their reads past the packet; ASan's redzones catch ours on both sides. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sanitizer/common_interface_defs.h>
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/ossl-srtp.h"
#include "../src/rtp-stats.h"
#include "../src/stun.h"

#define MAXP 2048 /* the relay's receive slot (SLOT in relay.c) */
#define MAX_SEEDS 256
#define NPROF 4
static const int PROFILES[NPROF] = {1, 2, 7, 8}; /* AES-CM 80/32, AEAD AES-128/256-GCM: all the addon supports */
static const int TAG[NPROF] = {10, 4, 16, 16};        /* SRTP tag octets */
static const int RTCP_TRAILER[NPROF] = {14, 14, 20, 20}; /* SRTCP E‖index + tag */

/* The master key ‖ salt of profile `prof`: octet i. native-fuzz.int.test.ts derives the same for the relay run. */
static uint8_t key_octet(int prof, int i) { return (uint8_t)(i * 29 + prof * 7 + 1); }

enum { K_STUN = 1, K_RTP = 2, K_SRTP = 3 };
typedef struct seed {
  int kind, prof;     /* prof: index into PROFILES for K_SRTP */
  int expect;         /* K_STUN: the verdict the corpus says this message gets */
  uint8_t *p, *plain; /* K_SRTP: protected octets, and the plain packet they hold */
  int len, plain_len;
  int mi_end;         /* K_STUN: end of MESSAGE-INTEGRITY, -1 none */
} seed;
static seed seeds[MAX_SEEDS];
static int nseeds;

/* ---- reporting: what a sanitizer report or a failed check needs to reproduce ---- */
static unsigned long long g_seed;
static long g_exec = -1;
static const char *g_target = "setup";
static uint8_t g_in[MAXP];
static int g_in_len = -1;

static void report_input(void) {
  fprintf(stderr, "packet-fuzz: seed %llu, execution %ld, target %s, input (%d octets): ", g_seed, g_exec, g_target, g_in_len);
  for (int i = 0; i < g_in_len; i++) fprintf(stderr, "%02x", g_in[i]);
  fprintf(stderr, "\n");
}
/* Called by ASan before it exits (heap overflow, SEGV on a guard page) and by UBSan before its report. */
static void death(void) { report_input(); }
void __ubsan_on_report(void) { report_input(); }

static void fail(const char *what) {
  fprintf(stderr, "packet-fuzz: FAIL: %s\n", what);
  report_input();
  exit(3);
}

/* ---- deterministic randomness: splitmix64 ---- */
static uint64_t rng_state;
static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static unsigned below(unsigned n) { return n ? (unsigned)(rnd() % n) : 0; }

/* ---- buffers: guarded mappings or exact mallocs ---- */
typedef struct arena {
  uint8_t *base;
  size_t size; /* writable octets; the page after them is PROT_NONE */
} arena;
static arena arenas[3];
static void *held[3];

static void arenas_init(void) {
  long page = sysconf(_SC_PAGESIZE);
  for (int i = 0; i < 3; i++) {
    size_t size = (size_t)((MAXP + 256 + page - 1) / page * page);
    uint8_t *m = mmap(NULL, size + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + size, (size_t)page, PROT_NONE) != 0) {
      perror("mmap");
      exit(2);
    }
    arenas[i].base = m;
    arenas[i].size = size;
  }
}

/* Buffer `slot` of exactly `cap` octets: ending at a guard page (odd executions) or malloc'd. */
static uint8_t *buf(int slot, int cap) {
  if (held[slot]) free(held[slot]);
  held[slot] = NULL;
  if (g_exec & 1) return arenas[slot].base + arenas[slot].size - cap;
  held[slot] = malloc(cap ? (size_t)cap : 1);
  if (!held[slot]) exit(2);
  return held[slot];
}

/* ---- sessions ---- */
typedef struct sessions {
  ossl_srtp *o_in[NPROF], *o_out[NPROF];
  srtp_t l_in[NPROF], l_out[NPROF];
} sessions;

static srtp_t libsrtp_session(int prof, int outbound) {
  /* The policy of srtpCreate in src/srtp.c. */
  srtp_policy_t policy;
  uint8_t key[64];
  memset(&policy, 0, sizeof policy);
  int n = srtp_profile_get_master_key_length(PROFILES[prof]) + srtp_profile_get_master_salt_length(PROFILES[prof]);
  for (int i = 0; i < n; i++) key[i] = key_octet(PROFILES[prof], i);
  if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, PROFILES[prof]) != srtp_err_status_ok ||
      srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, PROFILES[prof]) != srtp_err_status_ok)
    fail("libsrtp does not know the profile");
  policy.key = key;
  policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
  policy.window_size = 64;
  policy.allow_repeat_tx = 1;
  srtp_t s = NULL;
  if (srtp_create(&s, &policy) != srtp_err_status_ok) fail("srtp_create");
  return s;
}

static ossl_srtp *ossl_session(int prof, int outbound) {
  uint8_t key[64];
  int n = PROFILES[prof] >= 7 ? (PROFILES[prof] == 8 ? 44 : 28) : 30;
  for (int i = 0; i < n; i++) key[i] = key_octet(PROFILES[prof], i);
  ossl_srtp *s = ossl_srtp_create(PROFILES[prof], key, (size_t)n, outbound);
  if (!s) fail("ossl_srtp_create");
  return s;
}

static void sessions_open(sessions *s) {
  for (int k = 0; k < NPROF; k++) {
    s->o_in[k] = ossl_session(k, 0);
    s->o_out[k] = ossl_session(k, 1);
    s->l_in[k] = libsrtp_session(k, 0);
    s->l_out[k] = libsrtp_session(k, 1);
  }
}

static void sessions_close(sessions *s) {
  for (int k = 0; k < NPROF; k++) {
    ossl_srtp_free(s->o_in[k]);
    ossl_srtp_free(s->o_out[k]);
    srtp_dealloc(s->l_in[k]);
    srtp_dealloc(s->l_out[k]);
  }
}

/* As ksbc_protect / ksbc_unprotect in src/srtp.c, per engine (0 libsrtp, 1 OpenSSL). */
static int protect(sessions *s, int engine, int prof, uint8_t *p, int *len, int cap, int rtcp) {
  if (engine) return ossl_srtp_protect(s->o_out[prof], p, len, cap, rtcp);
  if (*len + SRTP_MAX_TRAILER_LEN > cap) return srtp_err_status_bad_param;
  return rtcp ? srtp_protect_rtcp(s->l_out[prof], p, len) : srtp_protect(s->l_out[prof], p, len);
}
static int unprotect(sessions *s, int engine, int prof, uint8_t *p, int *len, int rtcp) {
  if (engine) return ossl_srtp_unprotect(s->o_in[prof], p, len, rtcp);
  return rtcp ? srtp_unprotect_rtcp(s->l_in[prof], p, len) : srtp_unprotect(s->l_in[prof], p, len);
}

/* ---- the targets, with their checks ---- */
static struct {
  long stun[4], stun_nominated, dropped, rtp_stats, srtp_ok[2], srtp_fail[2], protect_ok[2], protect_fail[2],
      regressions, execs;
} count;

static sessions *g_sessions;
static ksbc_ice *ice;
static ksbc_sockaddr from4, from6;
static uint8_t *pt_map; /* a leg's payload type map: 128 octets, malloc'd (ASan bounds) */
static rtp_stats rs;
static uint32_t arrival;

static unsigned rd16(const uint8_t *p) { return (unsigned)(p[0] << 8 | p[1]); }

/* Whether `in` carries, up to the end of MESSAGE-INTEGRITY, the octets of a STUN seed that may succeed
 * (the length field aside: what follows MESSAGE-INTEGRITY is ignored, RFC 5389 §15.4). */
static int keeps_seed_integrity(const uint8_t *in, int len) {
  for (int i = 0; i < nseeds; i++) {
    const seed *s = &seeds[i];
    if (s->kind != K_STUN || s->mi_end < 0 || len < s->mi_end) continue;
    if (memcmp(in, s->p, 2) == 0 && memcmp(in + 4, s->p + 4, (size_t)s->mi_end - 4) == 0) return 1;
  }
  return 0;
}

static int t_stun(const uint8_t *in, int len, int v6) {
  g_target = "ksbc_stun_answer";
  uint8_t *p = buf(0, len);
  memcpy(p, in, (size_t)len);
  uint8_t *out = buf(1, KSBC_STUN_ANSWER_MAX);
  int out_len = -1, nominated = -1, code = -1;
  int v = ksbc_stun_answer(ice, p, len, v6 ? &from6 : &from4, out, &out_len, &nominated, &code);
  if (v < 0 || v > 3) fail("verdict out of range");
  count.stun[v]++;
  /* RFC 5389 §6: shorter than a header, or a length field not matching the datagram: not STUN. */
  if ((len < 20 || rd16(in + 2) != (unsigned)len - 20) && v != KSBC_STUN_DROP_BAD)
    fail("a message whose length field does not match the datagram was not DROP_BAD");
  if (v == KSBC_STUN_SUCCESS || v == KSBC_STUN_ERROR) {
    if (out_len < 20 || out_len > KSBC_STUN_ANSWER_MAX || out_len % 4) fail("answer length");
    if (rd16(out + 2) != (unsigned)out_len - 20) fail("answer's length field");
    if (memcmp(out + 8, in + 8, 12) != 0) fail("answer's transaction id");
    if (rd16(in) != 0x0001) fail("an answer to something not a Binding request");
  }
  if (v == KSBC_STUN_SUCCESS) {
    if (rd16(out) != 0x0101 || code != 0 || (nominated != 0 && nominated != 1)) fail("success answer");
    if (!keeps_seed_integrity(in, len)) fail("SUCCESS for a request whose octets up to MESSAGE-INTEGRITY are no seed's");
    count.stun_nominated += nominated;
  } else if (v == KSBC_STUN_ERROR) {
    if (rd16(out) != 0x0111 || (code != 400 && code != 401)) fail("error answer");
  } else if (v == KSBC_STUN_DROP) {
    if (rd16(in) == 0x0001 || (rd16(in) & 0x0110) == 0) fail("DROP for a request");
  }
  return v;
}

/* Plain RTP/RTCP as drain() handles it after the (optional) unprotect: statistics, the payload type
 * map, then protect toward the target with each engine (RTP -> SRTP). */
static void t_plain(const uint8_t *in, int len, int rtcp, int prof) {
  int cap = len + SRTP_MAX_TRAILER_LEN + 4;
  uint8_t *p = buf(0, cap);
  memcpy(p, in, (size_t)len);
  if (!rtcp) {
    g_target = "rs_update";
    uint32_t before = rs.received;
    rs_update(&rs, p, arrival);
    count.rtp_stats++;
    if (rs.jitter_q4 < 0) fail("negative jitter");
    if (rs.received > before + 1) fail("received grew by more than one packet");
    p[1] = (uint8_t)((p[1] & 0x80) | pt_map[p[1] & 0x7f]);
  }
  uint8_t *q = buf(2, cap);
  for (int engine = 0; engine < 2; engine++) {
    g_target = engine ? "ossl_srtp_protect" : "srtp_protect";
    memcpy(q, p, (size_t)len);
    int n = len;
    int st = protect(g_sessions, engine, prof, q, &n, cap, rtcp);
    if (st == 0) {
      count.protect_ok[engine]++;
      int want = len + (rtcp ? RTCP_TRAILER[prof] : TAG[prof]);
      if (n != want) fail("protected length");
    } else {
      count.protect_fail[engine]++;
      if (n != len) fail("a failed protect changed the length");
    }
  }
}

/* Whether `in` is the octets of an SRTP seed of profile `prof`; its plain packet in *plain. */
static const seed *srtp_seed(const uint8_t *in, int len, int prof) {
  for (int i = 0; i < nseeds; i++)
    if (seeds[i].kind == K_SRTP && seeds[i].prof == prof && seeds[i].len == len && memcmp(seeds[i].p, in, (size_t)len) == 0)
      return &seeds[i];
  return NULL;
}

/* One datagram on a leg: what drain() does with it. `prof` >= 0: the leg unprotects with that profile. */
static void run(const uint8_t *in, int len, int prof_in, int prof_out) {
  if (len > 0 && in[0] <= 3) {
    t_stun(in, len, (int)(g_exec & 2));
    return;
  }
  if (len < 12 || (in[0] >> 6) != 2) {
    count.dropped++;
    return;
  }
  int rtcp = in[1] >= 192 && in[1] <= 223;
  if (prof_in < 0) {
    t_plain(in, len, rtcp, prof_out);
    return;
  }
  uint8_t plain[MAXP];
  int plain_len = -1;
  for (int engine = 0; engine < 2; engine++) {
    g_target = engine ? "ossl_srtp_unprotect" : "srtp_unprotect";
    uint8_t *p = buf(0, len);
    memcpy(p, in, (size_t)len);
    int n = len;
    int st = unprotect(g_sessions, engine, prof_in, p, &n, rtcp);
    if (st != 0) {
      count.srtp_fail[engine]++;
      continue;
    }
    count.srtp_ok[engine]++;
    /* Authenticated: only the octets a sender protected (each seed once; then it is a replay). */
    const seed *s = srtp_seed(in, len, prof_in);
    if (!s) fail("an SRTP packet that no sender protected authenticated");
    if (n != s->plain_len || memcmp(p, s->plain, (size_t)n) != 0) fail("unprotect gave other octets than were protected");
    memcpy(plain, p, (size_t)n);
    plain_len = n;
  }
  if (plain_len >= 0) t_plain(plain, plain_len, rtcp, prof_out);
}

/* ---- mutations ---- */
static const unsigned EXTREMES[] = {0, 1, 3, 4, 0x7fff, 0x8000, 0xfffc, 0xfffe, 0xffff};

/* The offsets of the STUN attributes of `p` (as far as they parse), at most `max`. */
static int stun_attrs(const uint8_t *p, int len, int *at, int max) {
  int n = 0;
  for (int a = 20; a + 4 <= len && n < max;) {
    at[n++] = a;
    int l = (int)rd16(p + a + 2);
    a += 4 + l + (4 - l % 4) % 4;
  }
  return n;
}

static void put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* Applies one random mutation to p (len octets, MAXP capacity); returns the new length. */
static int mutate(uint8_t *p, int len) {
  int at[32];
  switch (below(13)) {
    case 0: /* bit flip */
      if (len) p[below((unsigned)len)] ^= (uint8_t)(1u << below(8));
      return len;
    case 1: /* an octet set to a random or a boundary value */
      if (len) p[below((unsigned)len)] = (uint8_t)(below(2) ? rnd() : (uint8_t[]){0, 0x7f, 0x80, 0xff}[below(4)]);
      return len;
    case 2: /* a 16-bit field to an extreme */
      if (len >= 2) put16(p + below((unsigned)len - 1), below(4) ? EXTREMES[below(9)] : (unsigned)(len - 20 + (int)below(9) - 4));
      return len;
    case 3: /* truncation */
      return len ? (int)below((unsigned)len) : 0;
    case 4: { /* random octets appended */
      int n = 1 + (int)below(64);
      if (len + n > MAXP) return len;
      for (int i = 0; i < n; i++) p[len + i] = (uint8_t)rnd();
      return len + n;
    }
    case 5: { /* a chunk deleted */
      if (len < 2) return len;
      int a = (int)below((unsigned)len), n = 1 + (int)below((unsigned)(len - a));
      memmove(p + a, p + a + n, (size_t)(len - a - n));
      return len - n;
    }
    case 6: { /* a chunk duplicated (in STUN: an attribute, at an attribute boundary) */
      int n = len >= 20 && p[0] <= 3 ? stun_attrs(p, len, at, 32) : 0;
      int a, l, to;
      if (n) {
        int k = (int)below((unsigned)n);
        a = at[k];
        l = (k + 1 < n ? at[k + 1] : len) - a;
        to = at[below((unsigned)n)];
      } else {
        if (!len) return len;
        a = (int)below((unsigned)len);
        l = 1 + (int)below((unsigned)(len - a));
        to = (int)below((unsigned)len + 1);
      }
      if (l <= 0 || a + l > len || len + l > MAXP) return len;
      uint8_t chunk[MAXP];
      memcpy(chunk, p + a, (size_t)l);
      memmove(p + to + l, p + to, (size_t)(len - to));
      memcpy(p + to, chunk, (size_t)l);
      return len + l;
    }
    case 7: { /* a STUN attribute's length to an extreme or past the end */
      int n = len >= 20 ? stun_attrs(p, len, at, 32) : 0;
      if (!n) return len;
      int a = at[below((unsigned)n)];
      if (a + 4 > len) return len;
      put16(p + a + 2, below(2) ? EXTREMES[below(9)] : (unsigned)(len - a - 4 + (int)below(9) - 4) & 0xffff);
      return len;
    }
    case 8: /* RTP: CSRC count, X, P */
      if (len) p[0] = (uint8_t)((p[0] & 0xc0) | (rnd() & 0x3f));
      return len;
    case 9: /* RTP header extension length (right after the CSRCs) to an extreme */
      if (len >= 16) {
        int off = 12 + 4 * (p[0] & 0x0f);
        if (off + 4 <= len) put16(p + off + 2, EXTREMES[below(9)]);
      }
      return len;
    case 10: { /* splice: this packet's head, another seed's tail */
      const seed *o = &seeds[below((unsigned)nseeds)];
      int a = len ? (int)below((unsigned)len) : 0, b = (int)below((unsigned)o->len + 1);
      if (a + (o->len - b) > MAXP) return len;
      memcpy(p + a, o->p + b, (size_t)(o->len - b));
      return a + (o->len - b);
    }
    case 11: { /* random octets with a plausible first octet */
      int n = (int)below(300);
      for (int i = 0; i < n; i++) p[i] = (uint8_t)rnd();
      if (n) p[0] = (uint8_t[]){0x00, 0x01, 0x80, 0x90, 0xa0, 0xbf}[below(6)];
      return n;
    }
    default: { /* a 32-bit field near the end (SRTCP E‖index, tags) to an extreme */
      if (len < 8) return len;
      int a = len - 4 - (int)below((unsigned)(len < 40 ? len - 3 : 37));
      if (a < 0) return len;
      uint32_t v = (uint32_t[]){0, 0x7fffffff, 0x80000000u, 0xffffffffu}[below(4)];
      p[a] = (uint8_t)(v >> 24), p[a + 1] = (uint8_t)(v >> 16), p[a + 2] = (uint8_t)(v >> 8), p[a + 3] = (uint8_t)v;
      return len;
    }
  }
}

/* The leg an input of seed `s` arrives on: SRTP seeds on an SRTP leg of their profile, others on a plain
 * leg whose target protects with a profile that turns with the execution. */
static void run_from(const seed *s, const uint8_t *in, int len) {
  memcpy(g_in, in, (size_t)len);
  g_in_len = len;
  arrival += 160;
  count.execs++;
  run(g_in, len, s->kind == K_SRTP ? s->prof : -1, (int)((g_exec % NPROF + NPROF) % NPROF));
}

/* ---- corpus, regressions ---- */
static uint8_t *dup_octets(const uint8_t *p, int n) {
  uint8_t *d = malloc(n ? (size_t)n : 1);
  if (!d) exit(2);
  memcpy(d, p, (size_t)n);
  return d;
}

static void add_seed(int kind, int prof, int expect, const uint8_t *p, int len) {
  if (nseeds == MAX_SEEDS) fail("too many seeds");
  seed *s = &seeds[nseeds++];
  memset(s, 0, sizeof *s);
  s->kind = kind, s->prof = prof, s->expect = expect, s->len = len, s->mi_end = -1;
  s->p = dup_octets(p, len);
  if (kind == K_STUN) {
    int at[32], n = stun_attrs(p, len, at, 32);
    for (int i = 0; i < n; i++)
      if (rd16(p + at[i]) == 0x0008) {
        s->mi_end = at[i] + 24;
        break;
      }
  }
}

/* Corpus records: kind (1 STUN, 2 RTP or RTCP), expected STUN verdict (signed), length (16-bit BE), octets. */
static void load_corpus(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  uint8_t h[4], p[MAXP];
  while (fread(h, 1, 4, f) == 4) {
    int len = (int)rd16(h + 2);
    if (len > MAXP || fread(p, 1, (size_t)len, f) != (size_t)len) fail("corpus record");
    add_seed(h[0], -1, (int8_t)h[1], p, len);
  }
  fclose(f);
}

/* Every RTP/RTCP seed protected with every profile (OpenSSL engine); the SRTP seeds. libsrtp must give
 * the same octets (SRTP), and both engines' receivers must take them: the seeds are valid, so "only a seed
 * authenticates" below is not a vacuous check. */
static void make_srtp_seeds(sessions *s) {
  int n = nseeds;
  for (int i = 0; i < n; i++) {
    if (seeds[i].kind != K_RTP) continue;
    for (int k = 0; k < NPROF; k++) {
      uint8_t a[MAXP], b[MAXP];
      int rtcp = seeds[i].p[1] >= 192 && seeds[i].p[1] <= 223, la = seeds[i].len, lb = la;
      memcpy(a, seeds[i].p, (size_t)la);
      memcpy(b, seeds[i].p, (size_t)lb);
      memcpy(g_in, a, (size_t)la);
      g_in_len = la;
      g_exec = -100 * k - i;
      if (protect(s, 1, k, a, &la, MAXP, rtcp) != 0 || protect(s, 0, k, b, &lb, MAXP, rtcp) != 0)
        fail("a seed did not protect");
      /* SRTP: the same octets. SRTCP: libsrtp numbers from 1, the OpenSSL engine from 0 (the index is
       * carried in the packet, so both are right), and each is a seed. */
      int same = la == lb && memcmp(a, b, (size_t)la) == 0;
      if (!rtcp && !same) fail("the engines protected a seed differently");
      for (int e = 0; e < (same ? 1 : 2); e++) {
        add_seed(K_SRTP, k, -1, e ? b : a, e ? lb : la);
        seeds[nseeds - 1].plain = seeds[i].p;
        seeds[nseeds - 1].plain_len = seeds[i].len;
      }
    }
  }
}

static int unhex(const char *h, uint8_t *out) {
  int n = 0;
  for (; h[0] && h[1] && n < MAXP; h += 2) {
    unsigned v;
    if (sscanf(h, "%2x", &v) != 1) break;
    out[n++] = (uint8_t)v;
  }
  return n;
}

/* A regression file (fuzz/regressions.txt): failing inputs this harness found, run before the fuzzing,
 * each line an operation, `=` the verdict or status the fixed code gives:
 *   fresh                   new sessions and statistics
 *   stun HEX = V            ksbc_stun_answer (checks as t_stun); V its verdict
 *   rtp HEX [= J]           a plain leg's drain (statistics, map, protect); J the jitter estimate
 *                           (rtp_stats.jitter_q4) after it
 *   send PROF HEX           protect HEX with PROF's sender (both engines) and unprotect it with the
 *                           receiver (both engines; must succeed): the stream state a case needs
 *   srtp PROF HEX = ST      unprotect with PROF's receiver; ST the OpenSSL engine's status
 * PROF is the libsrtp profile number. */
static void run_regressions(const char *path, sessions *s) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(2);
  }
  char line[2 * MAXP + 64], op[16], hexs[2 * MAXP + 1];
  uint8_t p[MAXP];
  int want, lineno = 0, profno;
  g_target = "regression";
  while (fgets(line, sizeof line, f)) {
    lineno++;
    g_exec = -lineno;
    if (line[0] == '#' || line[0] == '\n') continue;
    if (sscanf(line, "%15s", op) != 1) continue;
    int prof = -1, len;
    if (!strcmp(op, "fresh")) {
      sessions_close(s);
      sessions_open(s);
      memset(&rs, 0, sizeof rs);
      arrival = 0;
      continue;
    }
    if (!strcmp(op, "stun") && sscanf(line, "%*s %4096s = %d", hexs, &want) == 2) {
      len = unhex(hexs, p);
      memcpy(g_in, p, (size_t)len);
      g_in_len = len;
      if (t_stun(g_in, len, 0) != want || t_stun(g_in, len, 1) != want) fail("regression: another STUN verdict");
    } else if (!strcmp(op, "rtp") && sscanf(line, "%*s %4096s", hexs) == 1) {
      len = unhex(hexs, p);
      memcpy(g_in, p, (size_t)len);
      g_in_len = len;
      arrival += 160;
      run(g_in, len, -1, 0);
      if (strchr(line, '=') && (sscanf(strchr(line, '='), "= %d", &want) != 1 || rs.jitter_q4 != want))
        fail("regression: another jitter estimate");
    } else if ((!strcmp(op, "send") || !strcmp(op, "srtp")) && sscanf(line, "%*s %d %4096s", &profno, hexs) == 2) {
      for (int k = 0; k < NPROF; k++)
        if (PROFILES[k] == profno) prof = k;
      if (prof < 0) fail("regression: no such profile");
      len = unhex(hexs, p);
      memcpy(g_in, p, (size_t)len);
      g_in_len = len;
      int rtcp = len > 1 && p[1] >= 192 && p[1] <= 223;
      if (!strcmp(op, "send")) {
        for (int engine = 0; engine < 2; engine++) {
          uint8_t q[MAXP];
          int n = len;
          memcpy(q, p, (size_t)len);
          if (protect(s, engine, prof, q, &n, MAXP, rtcp) != 0 || unprotect(s, engine, prof, q, &n, rtcp) != 0 ||
              n != len || memcmp(q, p, (size_t)len) != 0)
            fail("regression: a sent packet did not round-trip");
        }
      } else {
        if (sscanf(strchr(line, '='), "= %d", &want) != 1) fail("regression: srtp without = STATUS");
        uint8_t *q = buf(0, len);
        memcpy(q, p, (size_t)len);
        int n = len;
        g_target = "ossl_srtp_unprotect";
        int st = unprotect(s, 1, prof, q, &n, rtcp);
        if (st != want) fail("regression: another SRTP status");
        q = buf(0, len);
        memcpy(q, p, (size_t)len);
        n = len;
        g_target = "srtp_unprotect";
        if (unprotect(s, 0, prof, q, &n, rtcp) == 0) fail("regression: libsrtp took it");
        g_target = "regression";
      }
    } else {
      fprintf(stderr, "%s:%d: cannot parse\n", path, lineno);
      exit(2);
    }
    count.regressions++;
  }
  fclose(f);
  sessions_close(s);
  sessions_open(s);
  memset(&rs, 0, sizeof rs);
}

/* The mutated inputs of the random phase for the relay run: records of profile (0 = plain), length
 * (16-bit BE), octets; the seeds themselves first. */
static void dump(const char *path, long n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(2);
  }
  uint8_t p[MAXP];
  for (long e = -nseeds; e < n; e++) {
    const seed *s;
    int len;
    if (e < 0) {
      s = &seeds[nseeds + e];
      len = s->len;
      memcpy(p, s->p, (size_t)len);
    } else {
      rng_state = g_seed ^ ((uint64_t)e * 0xd1b54a32d192ed03ull);
      s = &seeds[below((unsigned)nseeds)];
      len = s->len;
      memcpy(p, s->p, (size_t)len);
      for (int k = 1 + (int)below(4); k > 0; k--) len = mutate(p, len);
    }
    uint8_t h[3] = {(uint8_t)(s->kind == K_SRTP ? PROFILES[s->prof] : 0), (uint8_t)(len >> 8), (uint8_t)len};
    fwrite(h, 1, 3, f);
    fwrite(p, 1, (size_t)len, f);
  }
  fclose(f);
}

static void self_check(void) {
  /* A read one octet past a packet, as a parser bug would do: the test expects ASan's report. */
  g_target = "self-check";
  g_exec = 1;
  uint8_t *p = buf(0, 20);
  memset(p, 0, 20);
  volatile uint8_t *v = p;
  printf("%d\n", v[20]);
}

int main(int argc, char **argv) {
  __sanitizer_set_death_callback(death);
  setvbuf(stdout, NULL, _IOLBF, 0);
  arenas_init();
  if (argc == 2 && !strcmp(argv[1], "--self-check")) {
    self_check();
    return 0;
  }
  if (argc != 7 && argc != 10) {
    fprintf(stderr, "usage: packet-fuzz CORPUS SEED EXECS UFRAG PWD REGRESSIONS [--dump FILE N]\n");
    return 2;
  }
  g_seed = strtoull(argv[2], NULL, 10);
  long execs = strtol(argv[3], NULL, 10);
  if (srtp_init() != srtp_err_status_ok) fail("srtp_init");
  size_t ul = strlen(argv[4]), wl = strlen(argv[5]);
  ice = malloc(sizeof *ice + ul + wl);
  ice->ufrag_len = (uint16_t)ul, ice->pwd_len = (uint16_t)wl;
  memcpy(KSBC_ICE_UFRAG(ice), argv[4], ul);
  memcpy(KSBC_ICE_PWD(ice), argv[5], wl);
  from4.v4.sin_family = AF_INET;
  from4.v4.sin_port = htons(32853);
  inet_pton(AF_INET, "192.0.2.1", &from4.v4.sin_addr);
  from6.v6.sin6_family = AF_INET6;
  from6.v6.sin6_port = htons(32853);
  inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &from6.v6.sin6_addr);
  pt_map = malloc(128);
  for (int i = 0; i < 128; i++) pt_map[i] = (uint8_t)(i == 96 ? 111 : i == 111 ? 96 : i);

  sessions s;
  g_sessions = &s;
  sessions_open(&s);
  load_corpus(argv[1]);
  make_srtp_seeds(&s);
  /* Every seed as it is: the verdicts the corpus expects, every SRTP seed accepted by both engines. */
  for (int i = 0; i < nseeds; i++) {
    g_exec = -1000 - i;
    long ok0 = count.srtp_ok[0], ok1 = count.srtp_ok[1], st = seeds[i].expect >= 0 ? count.stun[seeds[i].expect] : 0;
    run_from(&seeds[i], seeds[i].p, seeds[i].len);
    if (seeds[i].kind == K_STUN && count.stun[seeds[i].expect] != st + 1) fail("a STUN seed got another verdict than the corpus expects");
    if (seeds[i].kind == K_SRTP && (count.srtp_ok[0] != ok0 + 1 || count.srtp_ok[1] != ok1 + 1)) fail("an SRTP seed did not authenticate");
  }
  long seeded_ok = count.srtp_ok[1];
  /* The receivers keep the seeds' state (a seed is now a replay); the rest starts afresh. */
  memset(&rs, 0, sizeof rs);
  if (argc == 10) {
    dump(argv[8], strtol(argv[9], NULL, 10));
    printf("{\"seeds\":%d}\n", nseeds);
    sessions_close(&s);
    return 0;
  }
  run_regressions(argv[6], &s);
  /* After the regressions the sessions are fresh: take every SRTP seed once more so that the checks
   * below see receivers that hold streams (the replay and ROC paths run on state), in reverse order
   * this time, so that an SRTCP receiver takes index 1 before 0 (a late packet inside the window). */
  for (int i = nseeds - 1; i >= 0; i--)
    if (seeds[i].kind == K_SRTP) run_from(&seeds[i], seeds[i].p, seeds[i].len);

  /* Systematic phase: every truncation (STUN also with its length field fixed), every bit flip, every
   * 16-bit field at three extremes, of every seed. */
  uint8_t p[MAXP];
  g_exec = 0;
  for (int i = 0; i < nseeds; i++) {
    const seed *sd = &seeds[i];
    for (int n = 0; n < sd->len; n++, g_exec++) {
      memcpy(p, sd->p, (size_t)n);
      run_from(sd, p, n);
      if (sd->kind == K_STUN && n >= 20) {
        put16(p + 2, (unsigned)n - 20);
        run_from(sd, p, n);
      }
    }
    for (int b = 0; b < 8 * sd->len; b++, g_exec++) {
      memcpy(p, sd->p, (size_t)sd->len);
      p[b / 8] ^= (uint8_t)(1u << (b % 8));
      run_from(sd, p, sd->len);
    }
    for (int o = 0; o + 2 <= sd->len; o++)
      for (int k = 0; k < 3; k++, g_exec++) {
        memcpy(p, sd->p, (size_t)sd->len);
        put16(p + o, (unsigned[]){0, 0x8000, 0xffff}[k]);
        run_from(sd, p, sd->len);
      }
  }
  long systematic = g_exec;
  /* Random phase: 1–4 stacked mutations of a random seed; a STUN-looking result mostly gets its length
   * field fixed, or nearly everything would stop at the first check. */
  for (long e = 0; e < execs; e++) {
    g_exec = systematic + e;
    rng_state = g_seed ^ ((uint64_t)e * 0xd1b54a32d192ed03ull);
    const seed *sd = &seeds[below((unsigned)nseeds)];
    int len = sd->len;
    memcpy(p, sd->p, (size_t)len);
    for (int k = 1 + (int)below(4); k > 0; k--) len = mutate(p, len);
    if (len >= 20 && p[0] <= 3 && below(4)) put16(p + 2, (unsigned)len - 20);
    run_from(sd, p, len);
    /* Fresh senders now and then: a sender keeps at most 16 SSRCs (MAX_STREAMS), and random SSRCs
     * would otherwise fill it and leave protect nothing but "no room" to return. */
    if ((e & 4095) == 4095)
      for (int k = 0; k < NPROF; k++) {
        ossl_srtp_free(s.o_out[k]);
        s.o_out[k] = ossl_session(k, 1);
        srtp_dealloc(s.l_out[k]);
        s.l_out[k] = libsrtp_session(k, 1);
      }
  }
  if (count.srtp_ok[1] < seeded_ok) fail("counts went backwards");
  printf("{\"seed\":%llu,\"seeds\":%d,\"execs\":%ld,\"systematic\":%ld,\"regressions\":%ld,"
         "\"stun\":[%ld,%ld,%ld,%ld],\"nominated\":%ld,\"dropped\":%ld,\"rtpStats\":%ld,"
         "\"srtpOk\":[%ld,%ld],\"srtpFail\":[%ld,%ld],\"protectOk\":[%ld,%ld],\"protectFail\":[%ld,%ld]}\n",
         g_seed, nseeds, count.execs, systematic, count.regressions, count.stun[0], count.stun[1], count.stun[2],
         count.stun[3], count.stun_nominated, count.dropped, count.rtp_stats, count.srtp_ok[0], count.srtp_ok[1],
         count.srtp_fail[0], count.srtp_fail[1], count.protect_ok[0], count.protect_ok[1], count.protect_fail[0],
         count.protect_fail[1]);
  sessions_close(&s);
  return 0;
}
