// A Node-API addon with one function, spawn(file, argv, fds, onExit[, { env, cwd, cgroupProcs }]): starts a
// program the way posix_spawn does, optionally inside given cgroups.
//
// child_process.spawn has libuv fork() the whole controller before exec: copying a large Node process's page
// tables costs about 3 ms of CPU per spawn, on every prebaked start (criu restore). glibc's posix_spawn uses
// clone(CLONE_VM | CLONE_VFORK) and copies nothing. This file does the same clone itself, because posix_spawn
// has no hook for the one extra step an instance needs: joining its cgroups (each `cgroupProcs` file gets "0",
// which moves the writer) in the child, before exec, so that not one instruction of the program runs outside
// its limits, and no window exists in which it could fork a child the cgroup would miss.
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
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

// What the child does between clone and exec. It shares the controller's memory (CLONE_VM) while the calling
// thread waits (CLONE_VFORK), as in glibc's posix_spawn: it only makes system calls, and reports a failure
// through `error` before _exit.
struct spawn_plan {
  const char *file;
  char **argv;
  char **envp;
  const char *cwd;
  const int *sources;  // dup2(sources[i], i); every source is at fd_count or above (see spawn below)
  uint32_t fd_count;
  const int *cgroup_fds;  // open cgroup.procs files, written before the dup2s can cover them
  uint32_t cgroup_count;
  int error;
};

#define CHILD_STACK_SIZE (256 * 1024)

static int child_main(void *arg) {
  struct spawn_plan *plan = arg;
  // The controller's handlers must not run on this shared memory: the parent blocked every signal around the
  // clone; set each back to its default before unblocking (exec would only reset the caught ones).
  struct sigaction default_action;
  memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &default_action, NULL);  // glibc's own refuse: fine
  }
  for (uint32_t i = 0; i < plan->cgroup_count; i++) {
    if (write(plan->cgroup_fds[i], "0", 1) != 1) goto fail;
  }
  for (uint32_t i = 0; i < plan->fd_count; i++) {
    if (dup2(plan->sources[i], (int)i) < 0) goto fail;
  }
  if (plan->cwd && chdir(plan->cwd) != 0) goto fail;
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, NULL);
  execvpe(plan->file, plan->argv, plan->envp);
fail:
  plan->error = errno ? errno : EINVAL;
  _exit(127);
}

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

// options[name] as a NULL-terminated C array: 1 when read, 0 when absent, -1 when not an array of strings.
static int get_strings_option(napi_env env, napi_value options, const char *name, char ***out, uint32_t *count) {
  bool has = false;
  napi_value value;
  if (napi_has_named_property(env, options, name, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, options, name, &value) != napi_ok) return -1;
  *out = get_strings(env, value, count);
  return *out ? 1 : -1;
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
  char **argv = NULL, **envp = NULL, **cgroup_paths = NULL;
  uint32_t argv_count = 0, envp_count = 0, fd_count = 0, cgroup_count = 0;
  int *fds = NULL, *temps = NULL, *sources = NULL, *cgroup_fds = NULL;
  struct child *child = NULL;
  void *stack = MAP_FAILED;
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
    if (get_strings_option(env, args[4], "env", &envp, &envp_count) < 0) {
      napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: options.env must be an array of NAME=value strings");
      goto fail;
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
    if (get_strings_option(env, args[4], "cgroupProcs", &cgroup_paths, &cgroup_count) < 0) {
      napi_throw_type_error(env, "PREBAKE_ERR_SPAWN", "spawn: options.cgroupProcs must be an array of paths");
      goto fail;
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

  int error = 0;
  sources = calloc(fd_count + 1, sizeof *sources);
  cgroup_fds = calloc(cgroup_count + 1, sizeof *cgroup_fds);
  if (!sources || !cgroup_fds) goto oom;
  for (uint32_t i = 0; i < fd_count; i++) sources[i] = temps[i] >= 0 ? temps[i] : fds[i];
  for (uint32_t i = 0; i < cgroup_count; i++) cgroup_fds[i] = -1;
  // Opened here, so that a cgroup that cannot be joined is an error with its path, not a failed exec.
  for (uint32_t i = 0; i < cgroup_count; i++) {
    cgroup_fds[i] = open(cgroup_paths[i], O_WRONLY | O_CLOEXEC);
    if (cgroup_fds[i] < 0) {
      char message[512];
      snprintf(message, sizeof message, "spawn %s: cannot open %s: %s", file, cgroup_paths[i], strerror(errno));
      napi_throw_error(env, "PREBAKE_ERR_SPAWN", message);
      goto fail;
    }
  }
  stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) goto oom;

  child = calloc(1, sizeof *child);
  if (!child) goto oom;
  napi_value name;
  CHECK(env, napi_create_string_utf8(env, "prebake:spawn", NAPI_AUTO_LENGTH, &name));
  CHECK(env, napi_create_threadsafe_function(env, args[3], NULL, name, 0, 1, NULL, NULL, NULL, report_exit,
                                             &child->tsfn));

  struct spawn_plan plan = {
    .file = file, .argv = argv, .envp = envp ? envp : environ, .cwd = cwd,
    .sources = sources, .fd_count = fd_count, .cgroup_fds = cgroup_fds, .cgroup_count = cgroup_count, .error = 0,
  };
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  pid_t pid = clone(child_main, (char *)stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  // Back here, the child has exec'd or exited: its stack and the plan are free again.
  if (pid < 0) error = clone_errno;
  else if (plan.error) {
    error = plan.error;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
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
  if (stack != MAP_FAILED) munmap(stack, CHILD_STACK_SIZE);
  if (cgroup_fds) {
    for (uint32_t i = 0; i < cgroup_count; i++) {
      if (cgroup_fds[i] >= 0) close(cgroup_fds[i]);
    }
  }
  free(cgroup_fds);
  free(sources);
  free_strings(cgroup_paths, cgroup_count);
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
