"""Fork mode (docs/PROTOCOL.md, "Fork templates"): a restored clone that runs no handler itself and forks a
child per invocation, so that copy-on-write shares the snapshot's pages instead of criu copying them into
every clone. Imported by the shim only when the controller makes a clone a template (never at init: nothing
here is in the snapshot).

Each child gets what any other instance gets:
  - its own pipes to the controller (made here; the controller opens its ends through /proc/<template>/fd and
    tells the template to close its copies with `release`), and none of the template's (dup2 over fds 1 to 4,
    everything else closed);
  - its own cgroup: the controller moves the child in before it sends the first frame (`resume`), and the
    child sets up its sandbox only after reading that frame, so that its /tmp and everything it allocates
    is charged to its own cgroup;
  - its own PID namespace (it is PID 1 there, with its own /proc: it can neither see nor signal the template
    or a sibling), its own IPC namespace (no SysV object or POSIX queue of the template's or a sibling's) and its own /tmp (a fresh tmpfs of tmpMb holding a copy of the template's /tmp, which is
    the snapshot's). The template's user namespace gave away its capabilities, so the child is cloned into a
    user namespace of its own (mapping only its uid) that owns its new mount and PID namespaces, and drops
    every capability once it has mounted them;
  - its own randomness: `resume` reseeds it, as in a restored clone;
  - its exit status, which the template (its parent) reaps and writes on the child's status pipe.

One clone(2) with the namespace flags rather than os.fork() and unshare(): unshare cannot move the caller
into a new PID namespace, so that way needs a second fork, and each fork of a big interpreter copies its page
tables (about 2 ms for heavy-python here). Python's own fork bookkeeping runs around it (PyOS_BeforeFork and
PyOS_AfterFork_*), as os.fork() does.
"""

import ctypes
import errno
import fcntl
import gc
import os
import platform
import shutil
import signal
import socket
import stat
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
SYS_CLONE = {'x86_64': 56, 'aarch64': 220}.get(platform.machine())
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
PR_CAPBSET_DROP = 24
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
LINUX_CAPABILITY_VERSION_3 = 0x20080522
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
CONTROLLER_ENDS = ('controlIn', 'controlOut', 'stdout', 'stderr', 'status')
# Where a child's ends go (docs/PROTOCOL.md, "Channels"); the status pipe's write end stays with the template.
CHILD_FDS = {'stdout': 1, 'stderr': 2, 'controlIn': 3, 'controlOut': 4}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
# The GIL stays held across clone (PyDLL): the child must not run Python before PyOS_AfterFork_Child.
_syscall = ctypes.PyDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long
_held = []
# The write end of each live child's status pipe, by pid.
_status_pipes = {}


class _CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32), ('inheritable', ctypes.c_uint32)]


def _check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f'{what}: {os.strerror(error)}')


def become_template():
    """Returns how many threads the process has: a fork copies only the calling one."""
    threads = len(os.listdir('/proc/self/task'))
    signal.signal(signal.SIGCHLD, _reap)
    # Objects that exist now stay out of every later collection, so that a child's collections do not write
    # to (and so copy) the pages they share with the template.
    gc.collect()
    gc.freeze()
    return threads


def _reap(signum, frame):
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(wait_status)
        fd = _status_pipes.pop(pid, None)
        if fd is not None:
            try:
                os.write(fd, f'signal {-code}'.encode() if code < 0 else f'exit {code}'.encode())
            except OSError:  # the controller has let go of the child already
                pass
            os.close(fd)


def fork(tmp_mb, offline, user_namespaces, read_frame, serve):
    """
    Forks a child (`offline`: into a network namespace of its own with loopback only, as the launcher does for
    "network": "none" and "outbound", whose egress the controller attaches; unless `user_namespaces`, one that can create no user namespace, see _deny_user_namespaces);
    returns its pid and the template's copies of the controller's ends (kept until release).
    """
    if SYS_CLONE is None:
        raise OSError(0, f'fork mode does not know clone(2) on {platform.machine()}')
    pipes = {name: os.pipe() for name in CONTROLLER_ENDS}
    # SIGCHLD stays blocked until the child's status pipe is registered: a child that dies at once is reaped
    # with somewhere to report to.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    # As the template sees them: in the child's new user namespace they are unmapped until it maps them.
    uid, gid = os.getuid(), os.getgid()
    try:
        ctypes.pythonapi.PyOS_BeforeFork()
        flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | (CLONE_NEWNET if offline else 0)
        pid = _syscall(SYS_CLONE, flags | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            ctypes.pythonapi.PyOS_AfterFork_Child()
            _child(pipes, (uid, gid), tmp_mb, offline, user_namespaces, read_frame, serve)
        error = ctypes.get_errno()
        ctypes.pythonapi.PyOS_AfterFork_Parent()
        if pid < 0:
            for read, write in pipes.values():
                os.close(read)
                os.close(write)
            raise OSError(error, f'clone: {os.strerror(error)}')
        _status_pipes[pid] = pipes['status'][1]
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    # controlIn: the controller writes, the child reads; the others the other way round.
    ours = {name: (write if name == 'controlIn' else read) for name, (read, write) in pipes.items()}
    for name, (read, write) in pipes.items():
        if name != 'status':
            os.close(read if name == 'controlIn' else write)
    _held.extend(ours.values())
    return pid, ours


def release():
    """The controller holds its ends: the template lets go of its copies."""
    while _held:
        os.close(_held.pop())


def _child(pipes, ids, tmp_mb, offline, user_namespaces, read_frame, serve):
    uid, gid = ids
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        for name, fd in CHILD_FDS.items():
            read, write = pipes[name]
            os.dup2(read if name == 'controlIn' else write, fd, inheritable=fd <= 2)
        # The template's pipes: the new ones' first fds (now on 1 to 4), the other children's status pipes and
        # the last child's ends, in case they were not released. What the function itself held open at the
        # snapshot stays open, as in a restored clone.
        for fd in {fd for pair in pipes.values() for fd in pair} | set(_status_pipes.values()) | set(_held):
            if fd > max(CHILD_FDS.values()):
                os.close(fd)
        # The controller sends the first frame once this process is in its own cgroup: everything from here
        # on is charged there.
        first = read_frame()
        for name, text in (('setgroups', 'deny'), ('uid_map', f'{uid} {uid} 1'), ('gid_map', f'{gid} {gid} 1')):
            fd = os.open(f'/proc/self/{name}', os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        _fresh_tmp(tmp_mb)
        _check(_libc.mount(b'proc', b'/proc', b'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, None), 'mount /proc')
        if offline:
            _loopback_up()
        os.setsid()
        _drop_capabilities()
        if not user_namespaces:
            _deny_user_namespaces()
    except BaseException as error:  # the child cannot run: say why in its logs, exit 70 (EX_SOFTWARE)
        try:
            os.write(2, f'prebake: the forked child could not start: {error}\n'.encode())
        finally:
            os._exit(70)
    serve(first)


def _fresh_tmp(tmp_mb):
    # The template's /tmp is the snapshot's (no handler ever ran in it): its content is copied into the new one.
    template_tmp = os.open('/tmp', os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _check(_libc.mount(b'tmpfs', b'/tmp', b'tmpfs', MS_NOSUID | MS_NODEV, f'size={tmp_mb}m,mode=1777'.encode()), 'mount /tmp')
        if os.listdir(template_tmp):
            shutil.copytree(f'/proc/self/fd/{template_tmp}', '/tmp', symlinks=True, dirs_exist_ok=True)
        _move_open_files(template_tmp, os.fstat(template_tmp).st_dev)
    finally:
        os.close(template_tmp)


def _move_open_files(template_tmp, template_dev):
    # Files the function held open in /tmp at the snapshot are the template's: left as they are, every child
    # would write into the same file. Each such fd is reopened on the child's copy, with its flags and
    # position (as criu does for a restored clone); one whose file was deleted (a tempfile.TemporaryFile)
    # gets an unnamed copy of its content in the new /tmp.
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            st = os.fstat(fd)
        except OSError:  # the directory listing's own fd, already closed
            continue
        if fd == template_tmp or st.st_dev != template_dev:
            continue
        with open(f'/proc/self/fdinfo/{fd}') as f:
            info = dict(line.split(':', 1) for line in f if ':' in line)
        flags, pos = int(info['flags'], 8), int(info['pos'])
        kept = flags & (os.O_ACCMODE | os.O_APPEND | os.O_NONBLOCK | os.O_DIRECTORY | os.O_CLOEXEC)
        target = os.readlink(f'/proc/self/fd/{fd}')
        if target.endswith(' (deleted)'):
            if not stat.S_ISREG(st.st_mode):
                continue
            moved = os.open('/tmp', os.O_TMPFILE | os.O_RDWR | (kept & (os.O_APPEND | os.O_CLOEXEC)), st.st_mode & 0o7777)
            for offset in range(0, st.st_size, 1 << 20):
                os.pwrite(moved, os.pread(fd, 1 << 20, offset), offset)
        else:
            moved = os.open(target, kept)
        if stat.S_ISREG(st.st_mode):
            os.lseek(moved, pos, os.SEEK_SET)
        os.dup2(moved, fd, inheritable=not flags & os.O_CLOEXEC)
        os.close(moved)


def _deny_user_namespaces():
    # The launcher's filter (native/prebake-exec.c, policy "fork") lets a Python instance clone(2) a user
    # namespace with exactly the flags used above, for its children; a child forks none: it gets a filter that
    # refuses clone(2) with CLONE_NEWUSER outright (EPERM). unshare(2) and clone3(2) are refused already.
    def op(code, k, jt=0, jf=0):
        return struct.pack('HBBI', code, jt, jf, k)
    load_word, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    program = b''.join([
        op(load_word, 0),  # seccomp_data.nr
        op(jeq, SYS_CLONE, 0, 3),
        op(load_word, 16),  # the low word of seccomp_data.args[0]: the flags
        op(jset, CLONE_NEWUSER, 0, 1),
        op(ret, 0x00050000 | errno.EPERM),  # SECCOMP_RET_ERRNO
        op(ret, 0x7fff0000),  # SECCOMP_RET_ALLOW
    ])
    buffer = ctypes.create_string_buffer(program)

    class Program(ctypes.Structure):
        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]

    prog = Program(len(program) // 8, ctypes.addressof(buffer))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), 'seccomp')


def _loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack('16sH', b'lo', 0)
        flags = struct.unpack('16sH', fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack('16sH', b'lo', flags | IFF_UP))


def _drop_capabilities():
    # As the launcher leaves every instance: an empty bounding set, no capability at all.
    cap = 0
    while _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), 'capset')
