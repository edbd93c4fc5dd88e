// A Node-API addon with one function, pipe(): [readFd, writeFd] of a new kernel pipe, both O_CLOEXEC.
//
// Node has no pipe(2): child_process "pipe" stdio is a unix socketpair. A function instance's pipes must be
// real pipes, because `criu restore --inherit-fd fd[N]:pipe:[INODE]` swaps a fresh pipe in for each one the
// snapshot recorded, and that is how a restored clone gets its own channels to the controller.
// O_CLOEXEC keeps one instance's ends from leaking into another instance spawned at the same moment; spawn's
// dup2 clears the flag on the copies the child is meant to get.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>

static napi_value make_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    napi_throw_error(env, "PREBAKE_ERR_PIPE", strerror(errno));
    return NULL;
  }
  napi_value result, read_fd, write_fd;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fds[0], &read_fd);
  napi_create_int32(env, fds[1], &write_fd);
  napi_set_element(env, result, 0, read_fd);
  napi_set_element(env, result, 1, write_fd);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "pipe", NAPI_AUTO_LENGTH, make_pipe, NULL, &fn);
  napi_set_named_property(env, exports, "pipe", fn);
  return exports;
}
