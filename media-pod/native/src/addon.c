/* Module entry of the kube-sbc media addon. */
#include "common.h"

#include <string.h>

int ksbc_get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "SBC_ERR_MEDIA_NATIVE", "expected an unsigned 32-bit number");
    return -1;
  }
  return 0;
}

int ksbc_get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len + 1 >= size) {
    napi_throw_type_error(env, "SBC_ERR_MEDIA_NATIVE", "expected a short string");
    return -1;
  }
  return 0;
}

void ksbc_set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value n;
  if (napi_create_double(env, value, &n) == napi_ok) napi_set_named_property(env, obj, key, n);
}

static napi_value init(napi_env env, napi_value exports) {
  if (srtp_init() != srtp_err_status_ok) {
    napi_throw_error(env, "SBC_ERR_MEDIA_NATIVE", "srtp_init failed");
    return NULL;
  }
  ksbc_srtp_init(env, exports);
  ksbc_relay_init(env, exports);
  ksbc_loadgen_init(env, exports);
  ksbc_stun_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
