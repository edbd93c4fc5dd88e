// A Node-API addon loaded inside restored Node instances: reseed(seed: Buffer) reseeds OpenSSL's generator.
//
// Clones restored from one snapshot share OpenSSL's DRBG state, and OpenSSL's fork detection does not fire
// because a restored process keeps its PID. RAND_poll pulls fresh kernel entropy into the primary DRBG (the
// per-thread public and private DRBGs reseed from it on their next use, seeing its reseed counter move), and
// RAND_add mixes in the controller's seed as well. Both symbols come from the node binary itself, which
// exports OpenSSL's API; they are resolved when the addon is loaded.
#include <stddef.h>

#include <node_api.h>

extern int RAND_poll(void);
extern void RAND_add(const void *buf, int num, double randomness);

static napi_value reseed(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  size_t length = 0;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "reseed(seed: Buffer)");
    return NULL;
  }
  if (RAND_poll() != 1) {
    napi_throw_error(env, "PREBAKE_ERR_RESEED", "OpenSSL RAND_poll failed");
    return NULL;
  }
  if (length > 0) RAND_add(data, (int)length, (double)length);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "reseed", NAPI_AUTO_LENGTH, reseed, NULL, &fn);
  napi_set_named_property(env, exports, "reseed", fn);
  return exports;
}
