/* SRTP/SRTCP transforms written directly on OpenSSL libcrypto (ADR 0040): the same algorithm as
 * lib/media/srtp/context.ts (RFC 3711 §3.3, §3.4, §4.3; RFC 7714 §8, §9), keyed once, with the HMAC
 * pads precomputed and one cipher context reused per direction. Exists because Debian's libsrtp2 is
 * built on NSS, whose per-packet PKCS#11 context handling costs ~5 µs per AES-CM packet. */
#ifndef KSBC_OSSL_SRTP_H
#define KSBC_OSSL_SRTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ossl_srtp ossl_srtp;

/* profile: libsrtp srtp_profile_t (1, 2, 7, 8). Returns NULL for an unknown profile or bad key length. */
ossl_srtp *ossl_srtp_create(int profile, const uint8_t *key, size_t keylen, int outbound);
void ossl_srtp_free(ossl_srtp *s);
/* In place. `cap` is the buffer capacity. Return 0 or a libsrtp-compatible status: 7 auth failure,
 * 9 replay, 10 too old, 2 bad parameter (malformed / no room). */
int ossl_srtp_protect(ossl_srtp *s, uint8_t *p, int *len, int cap, int rtcp);
int ossl_srtp_unprotect(ossl_srtp *s, uint8_t *p, int *len, int rtcp);

#endif
