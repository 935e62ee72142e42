/* ICE-lite connectivity checks answered in the relay worker (RFC 8445 §2.5, §7.3; RFC 5389). The same
 * algorithm and the same answers, octet for octet, as lib/media/stun/ice-lite.ts (the reference, tested
 * against the RFC 5769 vectors); media-addon.int.test.ts compares the two. Malformed input is dropped,
 * never trusted: these octets come straight off a media socket. No Node-API here (that glue is in
 * stun-napi.c), so the fuzz harness (fuzz/packet-fuzz.c) compiles this file as it is. */
#include "stun.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#define HEADER 20
#define MAGIC_COOKIE 0x2112a442u
#define FINGERPRINT_XOR 0x5354554eu /* RFC 5389 §15.5 */
#define T_BINDING_REQUEST 0x0001
#define T_BINDING_SUCCESS 0x0101
#define T_BINDING_ERROR 0x0111
#define A_USERNAME 0x0006
#define A_MESSAGE_INTEGRITY 0x0008
#define A_ERROR_CODE 0x0009
#define A_XOR_MAPPED_ADDRESS 0x0020
#define A_USE_CANDIDATE 0x0025
#define A_SOFTWARE 0x8022
#define A_FINGERPRINT 0x8028

static const char SOFTWARE[] = "kube-sbc";

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}
static void wr32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* CRC-32 of ISO 3309 / ITU-T V.42 (the one RFC 5389 §15.5 names: reflected polynomial 0xEDB88320),
 * bit by bit: STUN checks are a few per second per leg, so no table. Over the first `n` octets of the
 * message with the header's length field read as `len16`. */
static uint32_t crc32_msg(const unsigned char *p, int n, unsigned len16) {
  uint32_t c = 0xffffffffu;
  for (int i = 0; i < n; i++) {
    unsigned char b = p[i];
    if (i == 2) b = (unsigned char)(len16 >> 8);
    else if (i == 3) b = (unsigned char)len16;
    c ^= b;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return c ^ 0xffffffffu;
}

/* RFC 5389 §15.4: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY at `at`, with the header's
 * length counting up to the end of that attribute; the key is the short-term password (§15.4, ICE
 * passwords are ASCII, so SASLprep leaves them as they are). */
static int integrity(const ksbc_ice *ice, const unsigned char *p, int at, unsigned char mac[20]) {
  unsigned char hdr[HEADER];
  memcpy(hdr, p, HEADER);
  wr16(hdr + 2, (unsigned)(at + 24 - HEADER));
  EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0), OSSL_PARAM_construct_end()};
  size_t outl = 0;
  int ok = ctx && EVP_MAC_init(ctx, KSBC_ICE_PWD(ice), ice->pwd_len, params) && EVP_MAC_update(ctx, hdr, HEADER) &&
           EVP_MAC_update(ctx, p + HEADER, (size_t)(at - HEADER)) && EVP_MAC_final(ctx, mac, &outl, 20) && outl == 20;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(m);
  return ok ? 0 : -1;
}

/* Appends one attribute (header, value, zero padding to 4 octets, RFC 5389 §15); returns the new end. */
static int put_attr(unsigned char *out, int at, unsigned type, const void *v, int n) {
  wr16(out + at, type);
  wr16(out + at + 2, (unsigned)n);
  memcpy(out + at + 4, v, (size_t)n);
  int pad = (4 - n % 4) % 4;
  memset(out + at + 4 + n, 0, (size_t)pad);
  return at + 4 + n + pad;
}

/* Header, attributes written by the caller after it, then (optionally) MESSAGE-INTEGRITY and
 * FINGERPRINT: as buildStun in lib/media/stun/stun.ts. */
static void put_header(unsigned char *out, unsigned type, const unsigned char *tid) {
  wr16(out, type);
  wr16(out + 2, 0);
  wr32(out + 4, MAGIC_COOKIE);
  memcpy(out + 8, tid, 12);
}

static int finish(const ksbc_ice *ice, unsigned char *out, int at, int with_integrity) {
  if (with_integrity) {
    unsigned char mac[20];
    wr16(out + 2, (unsigned)(at - HEADER));
    if (integrity(ice, out, at, mac) != 0) return -1;
    at = put_attr(out, at, A_MESSAGE_INTEGRITY, mac, 20);
  }
  wr16(out + 2, (unsigned)(at + 8 - HEADER));
  uint32_t fp = crc32_msg(out, at, (unsigned)(at + 8 - HEADER)) ^ FINGERPRINT_XOR;
  unsigned char v[4];
  wr32(v, fp);
  return put_attr(out, at, A_FINGERPRINT, v, 4);
}

static int error_answer(const unsigned char *tid, int code, unsigned char *out) {
  const char *reason = code == 400 ? "Bad Request" : "Unauthorized";
  unsigned char v[4 + 16];
  int rl = (int)strlen(reason);
  v[0] = v[1] = 0;
  v[2] = (unsigned char)(code / 100); /* RFC 5389 §15.6: class, then number */
  v[3] = (unsigned char)(code % 100);
  memcpy(v + 4, reason, (size_t)rl);
  put_header(out, T_BINDING_ERROR, tid);
  int at = put_attr(out, HEADER, A_ERROR_CODE, v, 4 + rl);
  at = put_attr(out, at, A_SOFTWARE, SOFTWARE, (int)sizeof SOFTWARE - 1);
  return finish(NULL, out, at, 0);
}

int ksbc_stun_answer(const ksbc_ice *ice, const unsigned char *p, int len, const ksbc_sockaddr *from,
                     unsigned char *out, int *out_len, int *nominated, int *code) {
  *nominated = 0;
  *code = 0;
  /* RFC 7983 §7 and RFC 5389 §6: first octet 0–3, length a multiple of 4 matching the datagram, cookie. */
  if (len < HEADER || p[0] > 3 || rd16(p + 2) != len - HEADER || p[3] % 4 != 0) return KSBC_STUN_DROP_BAD;
  if (((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7]) != MAGIC_COOKIE)
    return KSBC_STUN_DROP_BAD;
  int username_at = -1, username_len = 0, integrity_at = -1, fingerprint_at = -1, use_candidate = 0;
  int at = HEADER;
  while (at < len) {
    if (at + 4 > len) return KSBC_STUN_DROP_BAD;
    unsigned t = rd16(p + at), n = rd16(p + at + 2);
    int end = at + 4 + (int)n;
    if (end > len) return KSBC_STUN_DROP_BAD;
    if (fingerprint_at >= 0) return KSBC_STUN_DROP_BAD; /* §15.5: FINGERPRINT is the last attribute */
    if (t == A_FINGERPRINT) {
      if (n != 4) return KSBC_STUN_DROP_BAD;
      fingerprint_at = at;
    } else if (integrity_at < 0) { /* §15.4: what follows MESSAGE-INTEGRITY (but FINGERPRINT) is ignored */
      if (t == A_MESSAGE_INTEGRITY) {
        if (n != 20) return KSBC_STUN_DROP_BAD;
        integrity_at = at;
      } else if (t == A_USERNAME && username_at < 0) {
        username_at = at + 4;
        username_len = (int)n;
      } else if (t == A_USE_CANDIDATE) use_candidate = 1;
    }
    at = end + (4 - (int)n % 4) % 4;
  }
  if (at != len) return KSBC_STUN_DROP_BAD;
  if (fingerprint_at >= 0) {
    uint32_t want = crc32_msg(p, fingerprint_at, (unsigned)(fingerprint_at + 8 - HEADER)) ^ FINGERPRINT_XOR;
    const unsigned char *v = p + fingerprint_at + 4;
    if (((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]) != want) return KSBC_STUN_DROP_BAD;
  }
  unsigned type = rd16(p);
  /* Indications (keepalives, RFC 8445 §11) and responses are harmless; other requests are failures. */
  if (type != T_BINDING_REQUEST) return (type & 0x0110) == 0 ? KSBC_STUN_DROP_BAD : KSBC_STUN_DROP;
  const unsigned char *tid = p + 8;
  if (username_at < 0 || integrity_at < 0) {
    *code = 400; /* RFC 5389 §10.1.2, first bullet */
    *out_len = error_answer(tid, 400, out);
    return KSBC_STUN_ERROR;
  }
  const unsigned char *colon = memchr(p + username_at, ':', (size_t)username_len);
  unsigned char mac[20];
  /* USERNAME is "<our ufrag>:<peer ufrag>" (RFC 8445 §7.2.2); a wrong one or a wrong MAC is 401. */
  if (!colon || colon - (p + username_at) != ice->ufrag_len || memcmp(p + username_at, KSBC_ICE_UFRAG(ice), ice->ufrag_len) != 0 ||
      integrity(ice, p, integrity_at, mac) != 0 || CRYPTO_memcmp(mac, p + integrity_at + 4, 20) != 0) {
    *code = 401;
    *out_len = error_answer(tid, 401, out);
    return KSBC_STUN_ERROR;
  }
  /* Success: XOR-MAPPED-ADDRESS of the source (RFC 5389 §15.2), SOFTWARE, MESSAGE-INTEGRITY with our
   * password and FINGERPRINT (RFC 8445 §7.3: both required on a check's response). */
  /* RFC 8489 §14.2: the port XORed with the cookie's high 16 bits; an IPv4 address with the cookie,
   * an IPv6 one (family 0x02) with the cookie followed by the transaction id (128 bits). */
  unsigned char xma[20];
  int xma_len;
  xma[0] = 0;
  if (from->sa.sa_family == AF_INET6) {
    unsigned char key[16];
    wr32(key, MAGIC_COOKIE);
    memcpy(key + 4, tid, 12);
    xma[1] = 0x02;
    wr16(xma + 2, ntohs(from->v6.sin6_port) ^ (MAGIC_COOKIE >> 16));
    for (int i = 0; i < 16; i++) xma[4 + i] = from->v6.sin6_addr.s6_addr[i] ^ key[i];
    xma_len = 20;
  } else {
    xma[1] = 0x01;
    wr16(xma + 2, ntohs(from->v4.sin_port) ^ (MAGIC_COOKIE >> 16));
    wr32(xma + 4, ntohl(from->v4.sin_addr.s_addr) ^ MAGIC_COOKIE);
    xma_len = 8;
  }
  put_header(out, T_BINDING_SUCCESS, tid);
  int o = put_attr(out, HEADER, A_XOR_MAPPED_ADDRESS, xma, xma_len);
  o = put_attr(out, o, A_SOFTWARE, SOFTWARE, (int)sizeof SOFTWARE - 1);
  o = finish(ice, out, o, 1);
  if (o < 0) return KSBC_STUN_DROP_BAD;
  *out_len = o;
  *nominated = use_candidate;
  return KSBC_STUN_SUCCESS;
}
