/* The ICE-lite STUN responder of the relay worker (stun.c): the algorithm of lib/media/stun/ice-lite.ts
 * (RFC 8445 §7.3, RFC 5389), so that ICE legs stay on the native packet path. */
#ifndef KSBC_STUN_H
#define KSBC_STUN_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <stdint.h>

/* A socket address of either family, as recvmmsg fills it and sendmmsg takes it: a leg's peer is
 * stored and passed with this size whatever its family (an AF_INET socket accepts a longer address
 * length), so the packet path never branches on the family. */
typedef union ksbc_sockaddr {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
  unsigned char size32[32]; /* 32, not 28: a power-of-two stride and two 16-octet moves per copy */
} ksbc_sockaddr;

/* RFC 8839 §5.4: ice-ufrag is 4–256 and ice-pwd 22–256 ice-chars. */
#define KSBC_ICE_MAX 256
/* The largest answer: header 20 + XOR-MAPPED-ADDRESS 24 (IPv6) + SOFTWARE 12 + MESSAGE-INTEGRITY 24 +
 * FINGERPRINT 8 = 88 octets; an error: 20 + ERROR-CODE 20 + SOFTWARE 12 + FINGERPRINT 8 = 60. */
#define KSBC_STUN_ANSWER_MAX 128

/* Our credentials toward one party (the a=ice-ufrag / a=ice-pwd we sent it): the ufrag's octets,
 * then the pwd's, allocated at their length (one per ICE leg, held for the call: ~50 octets, not
 * 2 × 256). Owned by: control; read by the worker under the relay lock. */
typedef struct ksbc_ice {
  uint16_t ufrag_len, pwd_len;
  unsigned char s[]; /* ufrag_len + pwd_len octets */
} ksbc_ice;
#define KSBC_ICE_UFRAG(i) ((i)->s)
#define KSBC_ICE_PWD(i) ((i)->s + (i)->ufrag_len)

/* The verdict on one datagram whose first octet is 0–3 (RFC 7983 §7), as IceLiteVerdict in TS. */
enum {
  KSBC_STUN_SUCCESS = 0, /* answer written: Binding success; *nominated = USE-CANDIDATE present */
  KSBC_STUN_ERROR = 1,   /* answer written: 400 or 401 (*code); a failed check */
  KSBC_STUN_DROP = 2,    /* harmless (an indication or a response): drop, not a failure */
  KSBC_STUN_DROP_BAD = 3 /* not well-formed STUN or a bad FINGERPRINT: drop, a failed check */
};

/* Answers `p` (len octets) received from `from` on a leg with credentials `ice`. Writes the answer
 * into `out` (KSBC_STUN_ANSWER_MAX octets) for SUCCESS and ERROR. Never reads outside `p`. */
int ksbc_stun_answer(const ksbc_ice *ice, const unsigned char *p, int len, const ksbc_sockaddr *from,
                     unsigned char *out, int *out_len, int *nominated, int *code);

#endif
