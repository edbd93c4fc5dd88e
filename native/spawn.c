// A Node-API addon with one function, spawn(file, argv, fds, onExit[, { env, cwd }]): starts a program with
// posix_spawn.
//
// child_process.spawn has libuv fork() the whole controller before exec: copying a large Node process's page
// tables costs about 3 ms of CPU per spawn, on every prebaked start (criu restore). glibc's posix_spawn uses
// clone(CLONE_VM | CLONE_VFORK) and copies nothing.
//
// The child's fd i is fds[i]; its environment is `env` ("NAME=value" strings) or else the controller's; it
// starts in `cwd` when given; its signal mask is empty and every signal
// is at its default (as libuv does for child_process: Node ignores SIGPIPE, and exec keeps SIG_IGN).
// A thread per child waits for it to exit without reaping it (waitid WNOWAIT), then hands over to the main
// thread, which reaps it and calls onExit(exitCode | null, signalName | null). Reaping on the main thread means
// that JS learns of the exit in the same step that frees the pid: a pid JS still thinks alive cannot be reused.
// Like a ChildProcess, a running child keeps the event loop alive; once it is reaped, nothing is left behind.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>

extern char **environ;

struct child {
  pid_t pid;
  napi_threadsafe_function tsfn;
};

#define CHECK(env, call)                                                     \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error((env), "PREBAKE_ERR_SPAWN", "Node-API call failed: " #call); \
      goto fail;                                                             \
    }                                                                        \
  } while (0)

// Main thread: reap the child (it is a zombie by now) and report how it ended.
static void report_exit(napi_env env, napi_value on_exit, void *context, void *data) {
  (void)context;
  struct child *child = data;
  int status = 0;
  pid_t reaped;
  do reaped = waitpid(child->pid, &status, 0);
  while (reaped < 0 && errno == EINTR);
  free(child);
  if (env == NULL || on_exit == NULL) return;  // the environment is going away

  napi_value argv[2], undefined;
  napi_get_null(env, &argv[0]);
  napi_get_null(env, &argv[1]);
  if (reaped > 0 && WIFEXITED(status)) {
    napi_create_int32(env, WEXITSTATUS(status), &argv[0]);
  } else if (reaped > 0 && WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char *abbrev = sigabbrev_np(sig);
    char name[32];
    if (abbrev) snprintf(name, sizeof name, "SIG%s", abbrev);
    else snprintf(name, sizeof name, "SIG%d", sig);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &argv[1]);
  }
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, on_exit, 2, argv, NULL);
}

// Waiter thread: block until the child has exited, leaving it for report_exit to reap.
static void *wait_child(void *arg) {
  struct child *child = arg;
  siginfo_t info;
  while (waitid(P_PID, child->pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
  napi_threadsafe_function tsfn = child->tsfn;
  if (napi_call_threadsafe_function(tsfn, child, napi_tsfn_blocking) != napi_ok) free(child);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static char *get_string(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text && napi_get_value_string_utf8(env, value, text, length + 1, &length) != napi_ok) {
    free(text);
    return NULL;
  }
  return text;
}

// A JS array of strings as a NULL-terminated C array (NULL when `value` is not such an array).
static char **get_strings(napi_env env, napi_value value, uint32_t *count) {
  bool is_array = false;
  *count = 0;
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array) return NULL;
  if (napi_get_array_length(env, value, count) != napi_ok) return NULL;
  char **strings = calloc(*count + 1, sizeof *strings);
  if (!strings) return NULL;
  for (uint32_t i = 0; i < *count; i++) {
    napi_value element;
    if (napi_get_element(env, value, i, &element) != napi_ok || !(strings[i] = get_string(env, element))) {
      for (uint32_t j = 0; j < i; j++) free(strings[j]);
      free(strings);
      return NULL;
    }
  }
  return strings;
}

static void free_strings(char **strings, uint32_t count) {
  if (!strings) return;
  for (uint32_t i = 0; i < count; i++) free(strings[i]);
  free(strings);
}

static napi_value spawn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  char *file = NULL, *cwd = NULL;
  char **argv = NULL, **envp = NULL;
  uint32_t argv_count = 0, envp_count = 0, fd_count = 0;
  int *fds = NULL, *temps = NULL;
  struct child *child = NULL;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int have_actions = 0, have_attr = 0;
  napi_value result = NULL;

  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  napi_valuetype on_exit_type;
  bool is_array;
  if (argc < 4 || napi_typeof(env, args[3], &on_exit_type) != napi_ok || on_exit_type != napi_function) {
    napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn(file, argv, fds, onExit): onExit must be a function");
    goto fail;
  }
  file = get_string(env, args[0]);
  if (!file) {
    napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: file must be a string");
    goto fail;
  }

  argv = get_strings(env, args[1], &argv_count);
  if (!argv) {
    napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: argv must be an array of strings");
    goto fail;
  }

  napi_valuetype options_type = napi_undefined;
  if (argc >= 5) CHECK(env, napi_typeof(env, args[4], &options_type));
  if (options_type == napi_object) {
    bool has;
    napi_value value;
    CHECK(env, napi_has_named_property(env, args[4], "env", &has));
    if (has) {
      CHECK(env, napi_get_named_property(env, args[4], "env", &value));
      envp = get_strings(env, value, &envp_count);
      if (!envp) {
        napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: options.env must be an array of NAME=value strings");
        goto fail;
      }
    }
    CHECK(env, napi_has_named_property(env, args[4], "cwd", &has));
    if (has) {
      CHECK(env, napi_get_named_property(env, args[4], "cwd", &value));
      cwd = get_string(env, value);
      if (!cwd) {
        napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: options.cwd must be a string");
        goto fail;
      }
    }
  }

  CHECK(env, napi_is_array(env, args[2], &is_array));
  if (!is_array) {
    napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: fds must be an array of fds");
    goto fail;
  }
  CHECK(env, napi_get_array_length(env, args[2], &fd_count));
  fds = calloc(fd_count + 1, sizeof *fds);
  temps = calloc(fd_count + 1, sizeof *temps);
  if (!fds || !temps) goto oom;
  for (uint32_t i = 0; i < fd_count; i++) temps[i] = -1;
  for (uint32_t i = 0; i < fd_count; i++) {
    napi_value element;
    CHECK(env, napi_get_element(env, args[2], i, &element));
    if (napi_get_value_int32(env, element, &fds[i]) != napi_ok || fds[i] < 0) {
      napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: fds must be an array of fds");
      goto fail;
    }
  }
  // A source fd below fd_count could be overwritten by an earlier dup2, and dup2(fd, fd) would leave its
  // FD_CLOEXEC set: move every such fd out of the way first, to a close-on-exec copy at fd_count or above.
  // Then each dup2 copies from above the range into it, which clears FD_CLOEXEC on the copy.
  for (uint32_t i = 0; i < fd_count; i++) {
    if ((uint32_t)fds[i] >= fd_count) continue;
    for (uint32_t j = 0; j < i; j++) {
      if (fds[j] == fds[i] && temps[j] >= 0) temps[i] = temps[j];
    }
    if (temps[i] < 0) {
      temps[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)fd_count);
      if (temps[i] < 0) {
        napi_throw_error(env, "PREBAKE_ERR_SPAWN", strerror(errno));
        goto fail;
      }
    }
  }

  int error = posix_spawn_file_actions_init(&actions);
  if (error) goto spawn_error;
  have_actions = 1;
  for (uint32_t i = 0; i < fd_count && !error; i++) {
    error = posix_spawn_file_actions_adddup2(&actions, temps[i] >= 0 ? temps[i] : fds[i], (int)i);
  }
  if (!error && cwd) error = posix_spawn_file_actions_addchdir_np(&actions, cwd);
  if (error) goto spawn_error;

  error = posix_spawnattr_init(&attr);
  if (error) goto spawn_error;
  have_attr = 1;
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  error = posix_spawnattr_setsigmask(&attr, &empty);
  if (!error) error = posix_spawnattr_setsigdefault(&attr, &all);
  if (!error) error = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (error) goto spawn_error;

  child = calloc(1, sizeof *child);
  if (!child) goto oom;
  napi_value name;
  CHECK(env, napi_create_string_utf8(env, "prebake:spawn", NAPI_AUTO_LENGTH, &name));
  CHECK(env, napi_create_threadsafe_function(env, args[3], NULL, name, 0, 1, NULL, NULL, NULL, report_exit,
                                             &child->tsfn));

  pid_t pid;
  error = posix_spawnp(&pid, file, &actions, &attr, argv, envp ? envp : environ);
  if (error) {
    napi_release_threadsafe_function(child->tsfn, napi_tsfn_abort);
    goto spawn_error;
  }
  child->pid = pid;

  pthread_t thread;
  pthread_attr_t thread_attr;
  pthread_attr_init(&thread_attr);
  pthread_attr_setdetachstate(&thread_attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&thread_attr, 64 * 1024);
  error = pthread_create(&thread, &thread_attr, wait_child, child);
  pthread_attr_destroy(&thread_attr);
  if (error) {
    // Cannot happen in practice; without a waiter the child would never be reported, so do not leave it.
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    napi_release_threadsafe_function(child->tsfn, napi_tsfn_abort);
    goto spawn_error;
  }
  child = NULL;  // the waiter owns it now
  napi_create_int32(env, pid, &result);
  goto done;

spawn_error: {
  char message[512];
  snprintf(message, sizeof message, "spawn %s: %s", file, strerror(error));
  napi_value code, text, exception;
  napi_create_string_utf8(env, "PREBAKE_ERR_SPAWN", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &exception);
  napi_value errno_value;
  napi_create_int32(env, error, &errno_value);
  napi_set_named_property(env, exception, "errno", errno_value);
  napi_throw(env, exception);
  goto fail;
}
oom:
  napi_throw_error(env, "PREBAKE_ERR_SPAWN", "out of memory");
fail:
done:
  if (have_attr) posix_spawnattr_destroy(&attr);
  if (have_actions) posix_spawn_file_actions_destroy(&actions);
  if (temps) {
    for (uint32_t i = 0; i < fd_count; i++) {
      if (temps[i] < 0) continue;
      int duplicate = 0;
      for (uint32_t j = 0; j < i; j++) duplicate |= temps[j] == temps[i];
      if (!duplicate) close(temps[i]);
    }
  }
  free(child);
  free(temps);
  free(fds);
  free_strings(argv, argv_count);
  free_strings(envp, envp_count);
  free(cwd);
  free(file);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  return exports;
}
