/* Node-API glue of the ICE-lite responder (stun.c, which stays free of Node headers so that the fuzz
 * harness compiles it alone): stunAnswer() for the tests, and the credentials reader relaySetIce uses. */
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* stunAnswer(packet, address, port, ufrag, pwd) -> { verdict, response?, nominated, code }: the
 * worker's responder as a pure function, for the tests that hold it against the TypeScript one. */
static napi_value stun_answer(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  KSBC_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) KSBC_THROW(env, "stunAnswer(packet, address, port, ufrag, pwd)");
  void *data = NULL;
  size_t len = 0;
  bool is_buf = false;
  napi_is_buffer(env, argv[0], &is_buf);
  if (!is_buf || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || len > 65535)
    KSBC_THROW(env, "packet must be a Buffer of at most 65535 octets");
  ksbc_sockaddr from;
  if (ksbc_parse_addr(env, argv[1], argv[2], &from)) return NULL;
  ksbc_ice *ice = ksbc_ice_from(env, argv[3], argv[4]);
  if (!ice) return NULL;
  unsigned char out[KSBC_STUN_ANSWER_MAX];
  int out_len = 0, nominated = 0, code = 0;
  int v = ksbc_stun_answer(ice, data, (int)len, &from, out, &out_len, &nominated, &code);
  free(ice);
  napi_value o;
  KSBC_CHECK(env, napi_create_object(env, &o));
  ksbc_set_number(env, o, "verdict", v);
  ksbc_set_number(env, o, "nominated", nominated);
  ksbc_set_number(env, o, "code", code);
  if (v == KSBC_STUN_SUCCESS || v == KSBC_STUN_ERROR) {
    napi_value b;
    KSBC_CHECK(env, napi_create_buffer_copy(env, (size_t)out_len, out, NULL, &b));
    napi_set_named_property(env, o, "response", b);
  }
  return o;
}

ksbc_ice *ksbc_ice_from(napi_env env, napi_value ufrag, napi_value pwd) {
  char u[KSBC_ICE_MAX + 2], w[KSBC_ICE_MAX + 2];
  size_t ul = 0, wl = 0;
  if (napi_get_value_string_latin1(env, ufrag, u, sizeof u, &ul) != napi_ok ||
      napi_get_value_string_latin1(env, pwd, w, sizeof w, &wl) != napi_ok || ul == 0 || ul > KSBC_ICE_MAX ||
      wl == 0 || wl > KSBC_ICE_MAX) {
    napi_throw_type_error(env, "SBC_ERR_MEDIA_NATIVE", "ICE ufrag and pwd must be strings of 1-256 characters");
    return NULL;
  }
  ksbc_ice *ice = malloc(sizeof *ice + ul + wl);
  if (!ice) {
    napi_throw_error(env, "SBC_ERR_MEDIA_NATIVE", "out of memory");
    return NULL;
  }
  ice->ufrag_len = (uint16_t)ul;
  ice->pwd_len = (uint16_t)wl;
  memcpy(KSBC_ICE_UFRAG(ice), u, ul);
  memcpy(KSBC_ICE_PWD(ice), w, wl);
  return ice;
}

napi_value ksbc_stun_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"stunAnswer", NULL, stun_answer, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
