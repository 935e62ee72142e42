/* Thin libsrtp binding: create a session for one direction, protect/unprotect in place.
 * Return values: the new length (>= 0) or -(srtp_err_status_t), so JS maps auth_fail (7),
 * replay_fail (9) and replay_old (10) to its own counters without exceptions on the packet path. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static void finalize(napi_env env, void *data, void *hint) {
  ksbc_srtp *s = data;
  if (s->session) srtp_dealloc(s->session);
  ossl_srtp_free(s->ossl);
  free(s);
}

int ksbc_protect(ksbc_srtp *s, uint8_t *p, int *len, int cap, int rtcp) {
  if (s->ossl) return ossl_srtp_protect(s->ossl, p, len, cap, rtcp);
  if (*len + SRTP_MAX_TRAILER_LEN > cap) return srtp_err_status_bad_param;
  return rtcp ? srtp_protect_rtcp(s->session, p, len) : srtp_protect(s->session, p, len);
}

int ksbc_unprotect(ksbc_srtp *s, uint8_t *p, int *len, int rtcp) {
  if (s->ossl) return ossl_srtp_unprotect(s->ossl, p, len, rtcp);
  return rtcp ? srtp_unprotect_rtcp(s->session, p, len) : srtp_unprotect(s->session, p, len);
}

ksbc_srtp *ksbc_srtp_from(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok ||
      data == NULL) {
    napi_throw_type_error(env, "SBC_ERR_MEDIA_NATIVE", "expected an SRTP session handle");
    return NULL;
  }
  return data;
}

/* srtpCreate(profile, keyAndSalt: Buffer, outbound: boolean, engine = 0) -> External
 * engine 0 = libsrtp, 1 = the OpenSSL transforms of ossl-srtp.c. */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  KSBC_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) KSBC_THROW(env, "srtpCreate(profile, key, outbound)");
  uint32_t profile;
  if (ksbc_get_u32(env, argv[0], &profile)) return NULL;
  void *key;
  size_t keylen;
  if (napi_get_buffer_info(env, argv[1], &key, &keylen) != napi_ok) KSBC_THROW(env, "key must be a Buffer");
  bool outbound;
  if (napi_get_value_bool(env, argv[2], &outbound) != napi_ok) KSBC_THROW(env, "outbound must be a boolean");
  uint32_t engine = 0;
  if (argc > 3) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined && ksbc_get_u32(env, argv[3], &engine)) return NULL;
  }
  if (engine > 1) KSBC_THROW(env, "engine must be 0 (libsrtp) or 1 (openssl)");
  unsigned want = srtp_profile_get_master_key_length(profile) + srtp_profile_get_master_salt_length(profile);
  if (want == 0 || keylen != want) KSBC_THROW(env, "key length does not match the SRTP profile");

  srtp_policy_t policy;
  memset(&policy, 0, sizeof policy);
  if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, profile) != srtp_err_status_ok ||
      srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, profile) != srtp_err_status_ok)
    KSBC_THROW(env, "unsupported SRTP profile");
  unsigned char keybuf[64];
  memcpy(keybuf, key, keylen);
  policy.key = keybuf;
  policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
  policy.window_size = 64; /* RFC 3711 §3.3.2 minimum; matches the TypeScript ReplayWindow */
  policy.allow_repeat_tx = 1; /* a relay forwards peer retransmissions as they come */

  ksbc_srtp *s = calloc(1, sizeof *s);
  if (!s) KSBC_THROW(env, "out of memory");
  s->outbound = outbound;
  srtp_err_status_t st = srtp_err_status_ok;
  if (engine == 1) {
    s->ossl = ossl_srtp_create((int)profile, keybuf, keylen, outbound);
    if (!s->ossl) st = srtp_err_status_init_fail;
  } else {
    st = srtp_create(&s->session, &policy);
  }
  memset(keybuf, 0, sizeof keybuf);
  if (st != srtp_err_status_ok) {
    free(s);
    KSBC_THROW(env, "srtp_create failed");
  }
  napi_value ext;
  KSBC_CHECK(env, napi_create_external(env, s, finalize, NULL, &ext));
  return ext;
}

static napi_value transform(napi_env env, napi_callback_info info, int protect, int rtcp) {
  size_t argc = 3;
  napi_value argv[3];
  KSBC_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) KSBC_THROW(env, "expected (session, buffer, length)");
  ksbc_srtp *s = ksbc_srtp_from(env, argv[0]);
  if (!s) return NULL;
  void *data;
  size_t cap;
  if (napi_get_buffer_info(env, argv[1], &data, &cap) != napi_ok) KSBC_THROW(env, "expected a Buffer");
  uint32_t len;
  if (ksbc_get_u32(env, argv[2], &len)) return NULL;
  napi_value out;
  if (len > cap || cap > INT32_MAX) {
    /* -4: the same "no room / malformed" code space as SrtpStatus in TypeScript */
    KSBC_CHECK(env, napi_create_int32(env, -4, &out));
    return out;
  }
  int n = (int)len;
  int st = protect ? ksbc_protect(s, data, &n, (int)cap, rtcp) : ksbc_unprotect(s, data, &n, rtcp);
  if (st == srtp_err_status_bad_param) st = 4;
  KSBC_CHECK(env, napi_create_int32(env, st == 0 ? n : -st, &out));
  return out;
}

static napi_value protect(napi_env env, napi_callback_info info) { return transform(env, info, 1, 0); }
static napi_value unprotect(napi_env env, napi_callback_info info) { return transform(env, info, 0, 0); }
static napi_value protect_rtcp(napi_env env, napi_callback_info info) { return transform(env, info, 1, 1); }
static napi_value unprotect_rtcp(napi_env env, napi_callback_info info) { return transform(env, info, 0, 1); }

napi_value ksbc_srtp_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"srtpCreate", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"srtpProtect", NULL, protect, NULL, NULL, NULL, napi_default, NULL},
      {"srtpUnprotect", NULL, unprotect, NULL, NULL, NULL, napi_default, NULL},
      {"srtpProtectRtcp", NULL, protect_rtcp, NULL, NULL, NULL, napi_default, NULL},
      {"srtpUnprotectRtcp", NULL, unprotect_rtcp, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
