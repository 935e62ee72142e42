/* Shared declarations of the kube-sbc media addon (ADR 0040). Plain C + Node-API, no C++. */
#ifndef KSBC_COMMON_H
#define KSBC_COMMON_H

#include <node_api.h>
#include <srtp2/srtp.h>
#include <stdint.h>

#include "ossl-srtp.h"
#include "stun.h"

#define KSBC_CHECK(env, call)                                                    \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error((env), "SBC_ERR_MEDIA_NATIVE", "Node-API call failed: " #call); \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

/* Throws a TypeError with a stable code and returns NULL from the calling function. */
#define KSBC_THROW(env, msg)                                   \
  do {                                                         \
    napi_throw_type_error((env), "SBC_ERR_MEDIA_NATIVE", msg); \
    return NULL;                                               \
  } while (0)

/* One libsrtp session (one direction). Owned by: JS (finaliser frees it) unless handed to a relay
 * leg, after which only the relay worker thread uses it (the JS object only keeps it alive). */
typedef struct ksbc_srtp {
  srtp_t session;    /* engine 0: libsrtp (Debian: NSS crypto) */
  ossl_srtp *ossl;   /* engine 1: OpenSSL transforms (ossl-srtp.c) */
  int outbound;
} ksbc_srtp;

/* Engine-independent transforms, in place; 0 or a libsrtp-numbered status (7 auth, 9/10 replay). */
int ksbc_protect(ksbc_srtp *s, uint8_t *p, int *len, int cap, int rtcp);
int ksbc_unprotect(ksbc_srtp *s, uint8_t *p, int *len, int rtcp);

/* Returns the ksbc_srtp behind an External, or NULL (and a pending exception) when it is not one. */
ksbc_srtp *ksbc_srtp_from(napi_env env, napi_value v);

napi_value ksbc_srtp_init(napi_env env, napi_value exports);
napi_value ksbc_relay_init(napi_env env, napi_value exports);
napi_value ksbc_loadgen_init(napi_env env, napi_value exports);
napi_value ksbc_stun_init(napi_env env, napi_value exports);

/* Reads ICE credentials (ufrag, pwd: strings of 1–256 Latin-1 characters) into a new ksbc_ice (the
 * caller frees it), or NULL with a pending exception. */
ksbc_ice *ksbc_ice_from(napi_env env, napi_value ufrag, napi_value pwd);

/* Helpers to read arguments; each returns 0 on success, -1 with a pending exception. */
int ksbc_get_u32(napi_env env, napi_value v, uint32_t *out);
int ksbc_get_string(napi_env env, napi_value v, char *buf, size_t size);
/* Reads an IPv4 or IPv6 address (a string, no zone) and a port into `out`. */
int ksbc_parse_addr(napi_env env, napi_value address, napi_value port, ksbc_sockaddr *out);
void ksbc_set_number(napi_env env, napi_value obj, const char *key, double value);

#endif
