/* See ossl-srtp.h. Ownership: an ossl_srtp belongs to one ksbc_srtp handle; after it is attached to a
 * relay leg only the relay worker thread calls the transforms (not reentrant: one EVP context each). */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1_Init & co.: the only way to reuse precomputed HMAC pads */
#include "ossl-srtp.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* SSRCs per direction of one leg; RTP + RTCP of a call need 1–2, but a call's sources change (a
 * transfer, music on hold, a re-INVITE to another phone) and a peer chooses them, so a new SSRC with
 * the table full takes the slot of the one used least recently (find). */
#define MAX_STREAMS 16

typedef struct stream {
  uint32_t ssrc;
  int used;
  uint64_t last; /* ossl_srtp.uses when a packet last found this stream: eviction order */
  uint32_t roc;       /* rollover counter */
  uint16_t s_l;       /* highest SEQ (Appendix A) */
  int64_t highest;    /* highest authenticated SRTP index, -1 none */
  uint64_t window;    /* bit k: index highest-k received (RFC 3711 §3.3.2, 64 wide) */
  uint32_t rtcp_next; /* sender: next SRTCP index */
  int64_t rtcp_highest;
  uint64_t rtcp_window;
} stream;

typedef struct keys {
  EVP_CIPHER_CTX *ctx; /* AES-CTR (always encrypt: CTR is symmetric) or GCM in this direction */
  SHA_CTX ipad, opad;  /* HMAC-SHA1 states after the key block (AES-CM suites) */
  uint8_t salt[14];
} keys;

struct ossl_srtp {
  int gcm, outbound, key_len, salt_len, rtp_tag, rtcp_tag;
  keys rtp, rtcp;
  stream streams[MAX_STREAMS];
  uint64_t uses; /* lookups so far: the streams' clock */
};

static const EVP_CIPHER *ctr_for(int n) { return n == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(); }
static const EVP_CIPHER *gcm_for(int n) { return n == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm(); }

/* RFC 3711 §4.3.1/§4.3.3 AES-CM PRF, key_derivation_rate 0. */
static int prf(const uint8_t *mk, int mklen, const uint8_t *msalt, int saltlen, int label, uint8_t *out, int n) {
  uint8_t iv[16] = {0}, zeros[64] = {0};
  memcpy(iv, msalt, saltlen);
  iv[7] ^= (uint8_t)label;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = c && EVP_EncryptInit_ex(c, ctr_for(mklen), NULL, mk, iv) == 1;
  int outl = 0;
  ok = ok && EVP_EncryptUpdate(c, out, &outl, zeros, n) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : -1;
}

static int init_keys(ossl_srtp *s, keys *k, const uint8_t *mk, const uint8_t *ms, int base) {
  uint8_t ek[32], ak[20];
  if (prf(mk, s->key_len, ms, s->salt_len, base, ek, s->key_len) ||
      prf(mk, s->key_len, ms, s->salt_len, base + 2, k->salt, s->salt_len))
    return -1;
  k->ctx = EVP_CIPHER_CTX_new();
  if (!k->ctx) return -1;
  int ok = s->gcm ? EVP_CipherInit_ex(k->ctx, gcm_for(s->key_len), NULL, ek, NULL, s->outbound) == 1
                  : EVP_EncryptInit_ex(k->ctx, ctr_for(s->key_len), NULL, ek, NULL) == 1;
  if (ok && s->gcm) ok = EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1;
  if (ok && !s->gcm) {
    if (prf(mk, s->key_len, ms, s->salt_len, base + 1, ak, 20)) ok = 0;
    uint8_t pad[64];
    memset(pad, 0x36, 64);
    for (int i = 0; i < 20; i++) pad[i] ^= ak[i];
    SHA1_Init(&k->ipad);
    SHA1_Update(&k->ipad, pad, 64);
    memset(pad, 0x5c, 64);
    for (int i = 0; i < 20; i++) pad[i] ^= ak[i];
    SHA1_Init(&k->opad);
    SHA1_Update(&k->opad, pad, 64);
  }
  memset(ek, 0, sizeof ek);
  memset(ak, 0, sizeof ak);
  return ok ? 0 : -1;
}

void ossl_srtp_free(ossl_srtp *s) {
  if (!s) return;
  EVP_CIPHER_CTX_free(s->rtp.ctx);
  EVP_CIPHER_CTX_free(s->rtcp.ctx);
  memset(s, 0, sizeof *s);
  free(s);
}

ossl_srtp *ossl_srtp_create(int profile, const uint8_t *key, size_t keylen, int outbound) {
  ossl_srtp *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->outbound = outbound;
  switch (profile) {
    case 1: s->key_len = 16, s->salt_len = 14, s->rtp_tag = 10, s->rtcp_tag = 10; break;
    case 2: s->key_len = 16, s->salt_len = 14, s->rtp_tag = 4, s->rtcp_tag = 10; break;
    case 7: s->gcm = 1, s->key_len = 16, s->salt_len = 12, s->rtp_tag = 16, s->rtcp_tag = 16; break;
    case 8: s->gcm = 1, s->key_len = 32, s->salt_len = 12, s->rtp_tag = 16, s->rtcp_tag = 16; break;
    default: free(s); return NULL;
  }
  if (keylen != (size_t)(s->key_len + s->salt_len) || init_keys(s, &s->rtp, key, key + s->key_len, 0) ||
      init_keys(s, &s->rtcp, key, key + s->key_len, 3)) {
    ossl_srtp_free(s);
    return NULL;
  }
  return s;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void wr32(uint8_t *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v; }
static void x32(uint8_t *p, uint32_t v) { p[0] ^= v >> 24, p[1] ^= v >> 16, p[2] ^= v >> 8, p[3] ^= v; }

/* The stream of `ssrc`; with `create`, a new one when there is none, in a free slot or, with all
 * MAX_STREAMS in use, in the slot of the stream used least recently (its rollover counter and replay
 * window are forgotten: should that source come back it starts over, as a new one). Inbound streams are
 * created only for packets that authenticated, so only a sender with the keys can make them. */
static stream *find(ossl_srtp *s, uint32_t ssrc, int create) {
  for (int i = 0; i < MAX_STREAMS; i++) {
    stream *t = &s->streams[i];
    if (t->used && t->ssrc == ssrc) {
      t->last = ++s->uses;
      return t;
    }
  }
  if (!create) return NULL;
  /* Only for a new source (not per packet): the first free slot, else the least recently used. */
  stream *victim = &s->streams[0];
  for (int i = 0; i < MAX_STREAMS && victim->used; i++) {
    stream *t = &s->streams[i];
    if (!t->used || t->last < victim->last) victim = t;
  }
  memset(victim, 0, sizeof *victim);
  victim->used = 1, victim->ssrc = ssrc, victim->highest = -1, victim->rtcp_highest = -1;
  victim->last = ++s->uses;
  return victim;
}

/* RFC 3711 Appendix A. */
static int64_t estimate_roc(uint16_t s_l, uint32_t roc, uint16_t seq) {
  if (s_l < 0x8000) return (int)seq - (int)s_l > 0x8000 ? (int64_t)roc - 1 : roc;
  return (int)s_l - 0x8000 > (int)seq ? (int64_t)roc + 1 : roc;
}

static int replay_ok(int64_t highest, uint64_t window, int64_t idx) {
  if (highest < 0 || idx > highest) return 1;
  int64_t lag = highest - idx;
  return lag < 64 && !((window >> lag) & 1);
}

static void replay_accept(int64_t *highest, uint64_t *window, int64_t idx) {
  if (*highest < 0) *highest = idx, *window = 1;
  else if (idx > *highest) {
    int64_t sh = idx - *highest;
    *window = sh >= 64 ? 1 : (*window << sh) | 1;
    *highest = idx;
  } else *window |= 1ull << (*highest - idx);
}

static int rtp_header_len(const uint8_t *p, int len) {
  if (len < 12 || (p[0] >> 6) != 2) return -1;
  int off = 12 + 4 * (p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (off + 4 > len) return -1;
    off += 4 + 4 * ((p[off + 2] << 8) | p[off + 3]);
  }
  return off > len ? -1 : off;
}

static void hmac(keys *k, const uint8_t *m, int n, const uint8_t *roc4, uint8_t out[20]) {
  SHA_CTX c = k->ipad;
  uint8_t d[20];
  SHA1_Update(&c, m, n);
  if (roc4) SHA1_Update(&c, roc4, 4);
  SHA1_Final(d, &c);
  c = k->opad;
  SHA1_Update(&c, d, 20);
  SHA1_Final(out, &c);
}

static int ctr_xor(keys *k, const uint8_t iv[16], uint8_t *p, int n) {
  int outl;
  return EVP_EncryptInit_ex(k->ctx, NULL, NULL, NULL, iv) == 1 && EVP_EncryptUpdate(k->ctx, p, &outl, p, n) == 1 ? 0 : -1;
}

/* GCM seal or open in place; `tag` is written (seal) or checked (open). */
static int gcm(ossl_srtp *s, keys *k, const uint8_t iv[12], const uint8_t *aad, int aadlen, uint8_t *p, int n, uint8_t *tag) {
  int outl;
  if (EVP_CipherInit_ex(k->ctx, NULL, NULL, NULL, iv, s->outbound) != 1) return -1;
  if (EVP_CipherUpdate(k->ctx, NULL, &outl, aad, aadlen) != 1) return -1;
  if (n > 0 && EVP_CipherUpdate(k->ctx, p, &outl, p, n) != 1) return -1;
  if (!s->outbound && EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) return -1;
  uint8_t fin[16];
  if (EVP_CipherFinal_ex(k->ctx, fin, &outl) != 1) return 7;
  if (s->outbound && EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) return -1;
  return 0;
}

static int ct_equal(const uint8_t *a, const uint8_t *b, int n) {
  uint8_t d = 0;
  for (int i = 0; i < n; i++) d |= a[i] ^ b[i];
  return d == 0;
}

static void cm_iv(uint8_t iv[16], const uint8_t salt[14], uint32_t ssrc, uint32_t roc_or_0, uint32_t low32) {
  memcpy(iv, salt, 14);
  iv[14] = iv[15] = 0;
  x32(iv + 4, ssrc);
  x32(iv + 8, roc_or_0);
  /* SRTP: SEQ in octets 12–13 (passed as low32 = SEQ << 16 >> 16 placed at 10..13); SRTCP: index. */
  x32(iv + 10, low32);
}

int ossl_srtp_protect(ossl_srtp *s, uint8_t *p, int *len, int cap, int rtcp) {
  int n = *len;
  uint8_t iv[16], mac[20], aad[12];
  if (!rtcp) {
    int hl = rtp_header_len(p, n);
    if (hl < 0 || n + s->rtp_tag > cap) return 2;
    uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
    uint32_t ssrc = rd32(p + 8);
    stream *t = find(s, ssrc, 0);
    uint32_t roc;
    if (!t) {
      if (!(t = find(s, ssrc, 1))) return 2;
      t->s_l = seq, roc = t->roc;
    } else {
      int64_t v = estimate_roc(t->s_l, t->roc, seq);
      if (v < 0) return 10;
      roc = (uint32_t)v;
      if (((int64_t)roc << 16 | seq) > ((int64_t)t->roc << 16 | t->s_l)) t->roc = roc, t->s_l = seq;
    }
    if (s->gcm) {
      memcpy(iv, s->rtp.salt, 12);
      x32(iv + 2, ssrc);
      x32(iv + 6, roc);
      iv[10] ^= seq >> 8, iv[11] ^= seq & 0xff;
      if (gcm(s, &s->rtp, iv, p, hl, p + hl, n - hl, p + n)) return 2;
    } else {
      cm_iv(iv, s->rtp.salt, ssrc, roc, seq);
      if (ctr_xor(&s->rtp, iv, p + hl, n - hl)) return 2;
      uint8_t r4[4];
      wr32(r4, roc);
      hmac(&s->rtp, p, n, r4, mac);
      memcpy(p + n, mac, s->rtp_tag);
    }
    *len = n + s->rtp_tag;
    return 0;
  }
  if (n < 8 || (p[0] >> 6) != 2 || n + 4 + s->rtcp_tag > cap) return 2;
  uint32_t ssrc = rd32(p + 4);
  stream *t = find(s, ssrc, 1);
  if (!t) return 2;
  uint32_t idx = t->rtcp_next;
  t->rtcp_next = (idx + 1) & 0x7fffffff;
  uint32_t e_idx = 0x80000000u | idx;
  if (s->gcm) {
    memcpy(iv, s->rtcp.salt, 12);
    x32(iv + 2, ssrc);
    x32(iv + 8, idx);
    memcpy(aad, p, 8);
    wr32(aad + 8, e_idx);
    if (gcm(s, &s->rtcp, iv, aad, 12, p + 8, n - 8, p + n)) return 2;
    wr32(p + n + 16, e_idx);
  } else {
    cm_iv(iv, s->rtcp.salt, ssrc, 0, idx);
    if (ctr_xor(&s->rtcp, iv, p + 8, n - 8)) return 2;
    wr32(p + n, e_idx);
    hmac(&s->rtcp, p, n + 4, NULL, mac);
    memcpy(p + n + 4, mac, s->rtcp_tag);
  }
  *len = n + 4 + s->rtcp_tag;
  return 0;
}

int ossl_srtp_unprotect(ossl_srtp *s, uint8_t *p, int *len, int rtcp) {
  int n = *len;
  uint8_t iv[16], mac[20], aad[12];
  if (!rtcp) {
    int end = n - s->rtp_tag;
    int hl = end >= 12 ? rtp_header_len(p, end) : -1;
    if (hl < 0) return 2;
    uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
    uint32_t ssrc = rd32(p + 8);
    stream *t = find(s, ssrc, 0);
    int64_t v = t ? estimate_roc(t->s_l, t->roc, seq) : 0;
    /* Before the index: a negative ROC (an index before the stream's first packet) shifted left is
     * undefined behaviour, and any SSRC's SEQ comes straight off the socket. */
    if (v < 0) return 10;
    int64_t idx = v << 16 | seq;
    if (t && !replay_ok(t->highest, t->window, idx)) return 9;
    if (s->gcm) {
      memcpy(iv, s->rtp.salt, 12);
      x32(iv + 2, ssrc);
      x32(iv + 6, (uint32_t)v);
      iv[10] ^= seq >> 8, iv[11] ^= seq & 0xff;
      int st = gcm(s, &s->rtp, iv, p, hl, p + hl, end - hl, p + end);
      if (st) return st == 7 ? 7 : 2;
    } else {
      uint8_t r4[4];
      wr32(r4, (uint32_t)v);
      hmac(&s->rtp, p, end, r4, mac);
      if (!ct_equal(mac, p + end, s->rtp_tag)) return 7;
      cm_iv(iv, s->rtp.salt, ssrc, (uint32_t)v, seq);
      if (ctr_xor(&s->rtp, iv, p + hl, end - hl)) return 2;
    }
    if (!t && !(t = find(s, ssrc, 1))) return 2;
    int fresh = t->highest < 0;
    replay_accept(&t->highest, &t->window, idx);
    if (fresh || idx > ((int64_t)t->roc << 16 | t->s_l)) t->roc = (uint32_t)v, t->s_l = seq;
    *len = end;
    return 0;
  }
  int end = n - s->rtcp_tag - 4;
  if (end < 8 || (p[0] >> 6) != 2) return 2;
  uint32_t ssrc = rd32(p + 4);
  uint32_t e_idx = rd32(s->gcm ? p + n - 4 : p + end);
  int64_t idx = e_idx & 0x7fffffff;
  int enc = (e_idx & 0x80000000u) != 0;
  stream *t = find(s, ssrc, 0);
  if (t && !replay_ok(t->rtcp_highest, t->rtcp_window, idx)) return 9;
  if (s->gcm) {
    memcpy(iv, s->rtcp.salt, 12);
    x32(iv + 2, ssrc);
    x32(iv + 8, (uint32_t)idx);
    int st;
    if (enc) {
      memcpy(aad, p, 8);
      wr32(aad + 8, e_idx);
      st = gcm(s, &s->rtcp, iv, aad, 12, p + 8, end - 8, p + end);
    } else {
      /* E=0: the whole packet ‖ E‖index is AAD (RFC 7714 §9.2); it is contiguous once the index is
       * moved in front of the tag. */
      uint8_t tag[16];
      memcpy(tag, p + end, 16);
      wr32(p + end, e_idx);
      st = gcm(s, &s->rtcp, iv, p, end + 4, NULL, 0, tag);
    }
    if (st) return st == 7 ? 7 : 2;
  } else {
    hmac(&s->rtcp, p, end + 4, NULL, mac);
    if (!ct_equal(mac, p + end + 4, s->rtcp_tag)) return 7;
    if (enc) {
      cm_iv(iv, s->rtcp.salt, ssrc, 0, (uint32_t)idx);
      if (ctr_xor(&s->rtcp, iv, p + 8, end - 8)) return 2;
    }
  }
  if (!t && !(t = find(s, ssrc, 1))) return 2;
  replay_accept(&t->rtcp_highest, &t->rtcp_window, idx);
  *len = end;
  return 0;
}
