// A Node-API addon loaded by the node runtime just before its snapshot: trim() hands the C heap's free memory
// back to the kernel (glibc's malloc_trim(0)) and returns whether any was released.
//
// After a full GC, the freed memory of V8's and Node's C++ allocations stays committed in glibc's heap
// (brk arena and mmap'd arenas), so criu would dump it into every image and copy it into every clone: for
// heavy-node, 24 MB of 72. malloc_trim(0) releases every free page of every arena (MADV_DONTNEED), which
// criu then skips.
#include <malloc.h>
#include <stdbool.h>

#include <node_api.h>

static napi_value trim(napi_env env, napi_callback_info info) {
  napi_value released;
  napi_get_boolean(env, malloc_trim(0) == 1, &released);
  return released;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  return exports;
}
