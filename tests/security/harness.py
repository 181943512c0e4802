"""The judge of the attack suite: the real QEMU 7.2 started under strace.

A candidate the policy accepted is started as a launcher would start it
(``qemu-system-x86_64 -M pc -accel tcg -nodefaults -display none -S`` plus a QMP
socket of ours, plus the candidate's arguments), under ``strace -f`` with every
system call that names a path, connects, listens, sends to an address or runs a
program. QEMU is asked ``query-status`` (answered once machine init is done, so every
drive has been opened) and ``query-block``, its /proc/PID/fd is listed, then it quits.

A **violation** is any of:

* an open (successful or not) of a path outside the allowed directories that is not
  one of QEMU's own files (:data:`QEMU_OWN`, checked against clean runs by the tests);
* a path-changing call (unlink, rename, mkdir, link, symlink, truncate, chmod, chown,
  mknod, utimensat) outside the allowed and overlay directories;
* any connect(), any sendto()/sendmsg() with an address, any bind() other than our QMP
  socket, any execve() after QEMU's own;
* a descriptor in /proc/PID/fd naming a file outside, or a block device attached.

Successful opens are judged by the path strace reports for the returned descriptor
(``-y``: the kernel's own answer, symlinks resolved); failed ones by the name asked
for, made absolute against the descriptor or directory it was relative to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

QEMU = "qemu-system-x86_64"
BASE = ["-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"]
# For a whole command line from the user: -nodefaults and -display none must be its own.
ARGV_BASE = ["-accel", "tcg", "-S"]
SYSCALLS = ("open,openat,openat2,creat,connect,bind,sendto,sendmsg,execve,execveat,"
            "unlink,unlinkat,rename,renameat,renameat2,mkdir,mkdirat,link,linkat,symlink,"
            "symlinkat,truncate,mknod,mknodat,chmod,fchmodat,chown,fchownat,lchown,"
            "utimensat")
_OPENS = {"open", "openat", "openat2", "creat"}
_CHANGES = {"unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
            "link", "linkat", "symlink", "symlinkat", "truncate", "mknod", "mknodat", "chmod",
            "fchmodat", "chown", "fchownat", "lchown", "utimensat"}

# QEMU's own files: what a clean run opens (libraries, firmware, modules, its config,
# the kernel's interfaces). Prefixes end in "/"; the rest are exact paths.
QEMU_OWN = (
    "/lib/", "/lib64/", "/usr/lib/", "/usr/share/qemu/", "/usr/share/seabios/",
    "/usr/share/ipxe/", "/usr/share/zoneinfo/", "/etc/ld.so.cache", "/etc/localtime",
    "/etc/libnl/classid", "/etc/qemu/qemu.conf", "/dev/urandom", "/dev/null", "/dev/kvm",
    "/dev/sgx_vepc", "/proc/self/status", "/proc/filesystems", "/sys/bus/nd/devices",
    "/sys/devices/system/cpu/possible", "/sys/devices/system/cpu/online",
    "/sys/devices/system/node",
    "/sys/devices/system/node/",
)
_PROC_PID = re.compile(r"/proc/\d+/(task/\d+/)?")


def have_tools() -> str:
    """Why the live suite cannot run here ("" if it can)."""
    for tool in (QEMU, "strace", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make test installs it when run as root)"
    return ""


@attrs.frozen
class Event:
    """One traced system call."""

    pid: int
    call: str
    path: str  # absolute: resolved for a successful open, else as asked for
    ok: bool
    raw: str
    resolved: bool = True  # False: a successful open strace could not name (past PATH_MAX)


@attrs.frozen
class Run:
    """One QEMU start and what it did."""

    argv: tuple[str, ...]
    accepted: bool  # QEMU answered query-status: it started
    stderr: str
    events: tuple[Event, ...]
    violations: tuple[str, ...]
    block: tuple[dict[str, object], ...] = ()
    fd_paths: tuple[str, ...] = ()
    probed: object = None  # what run(probe=...) returned while QEMU was up
    stdout: str = ""  # QEMU's standard output (HMP qemu-io prints there)


def _unescape(text: str) -> str:
    """strace's C-escaped string (with -x: \\xNN for bytes outside ASCII)."""
    raw = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return os.fsdecode(raw.encode("latin-1"))


_LINE = re.compile(r"^(\d+) +(.*)$")
_CALL = re.compile(r"^([a-z0-9_]+)\((.*)\) += (.*)$", re.S)
_STRING = r'"((?:[^"\\]|\\.)*)"'
_FDPATH = re.compile(r"^(?:AT_FDCWD|-?\d+)<((?:[^>\\]|\\.)*)>")


def parse_trace(text: str) -> list[tuple[int, str, str, str]]:
    """(pid, call, arguments, result) of every complete call, resumed ones joined."""
    pending: dict[int, str] = {}
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = re.match(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)$", rest)
        if resumed:
            rest = pending.pop(pid, resumed.group(1) + "(") + resumed.group(2)
        call = _CALL.match(rest)
        if call:
            out.append((pid, call.group(1), call.group(2), call.group(3)))
    return out


def _args(text: str) -> list[str]:
    """Split strace's argument list at top-level commas (strings and braces kept whole)."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if ch in "{[<(":
            depth += 1
        elif ch in "}]>)":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def _string(arg: str) -> str | None:
    m = re.fullmatch(_STRING + r"(\.\.\.)?", arg)
    return _unescape(m.group(1)) if m else None


def _base(arg: str, cwd: str) -> str:
    m = _FDPATH.match(arg)
    return _unescape(m.group(1)) if m else cwd


def _result_path(result: str) -> str | None:
    m = re.match(r"^\d+<((?:[^>\\]|\\.)*)>", result)
    return _unescape(m.group(1)) if m else None


def events(text: str, cwd: str) -> list[Event]:
    """The path-naming, network and exec events of a trace."""
    out = []
    for pid, call, arglist, result in parse_trace(text):
        args = _args(arglist)
        ok = not result.startswith("-1") and not result.startswith("?")
        path = ""
        if call in _OPENS or call in _CHANGES or call in ("execve", "execveat"):
            strings = [(n, s) for n, a in enumerate(args) for s in [_string(a)] if s is not None]
            if not strings:
                continue
            n, name = strings[0]
            if not ok and args[n].endswith("...") and "ENAMETOOLONG" in result:
                # strace cut the name at PATH_MAX, and the kernel refused it for its
                # length before resolving any of it (fs/namei.c getname): nothing was
                # looked up, and the cut name cannot be judged.
                continue
            base = _base(args[n - 1], cwd) if n > 0 else cwd
            path = name if name.startswith("/") else f"{base}/{name}"
            resolved = True
            if call in _OPENS and ok:
                shown = _result_path(result)
                resolved = shown is not None
                path = shown or path
            out.append(Event(pid, call, path if not resolved else os.path.normpath(path), ok,
                             f"{call}({arglist}) = {result}", resolved))
        elif call in ("connect", "bind", "sendto", "sendmsg"):
            out.append(Event(pid, call, arglist, ok, f"{call}({arglist}) = {result}"))
    return out


def _inside(path: str, dirs: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def qemu_own(path: str) -> bool:
    """One of QEMU's own files (libraries, firmware, kernel interfaces)."""
    path = _PROC_PID.sub("/proc/self/", path)
    return any(path.startswith(p) if p.endswith("/") else path == p for p in QEMU_OWN)


def _inodes(dirs: Sequence[str]) -> set[tuple[int, int]]:
    """(device, inode) of every file below ``dirs`` (links not followed)."""
    out = set()
    for d in dirs:
        for _, subdirs, files, dirfd in os.fwalk(d):  # descriptors: no PATH_MAX
            for name in files + subdirs:
                with contextlib.suppress(OSError):
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                    out.add((st.st_dev, st.st_ino))
    return out


def _lands_inside(path: str, inside: set[tuple[int, int]]) -> bool:
    """Where ``path`` leads now, told by the kernel (an O_PATH open from the judge, which
    may open anything): an inode below the allowed directories, or not."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        return (st.st_dev, st.st_ino) in inside
    finally:
        os.close(fd)


def _denied(e: Event) -> bool:
    # The Landlock sandbox refused it: EACCES, nothing opened and nothing can be.
    return not e.ok and "= -1 EACCES" in e.raw


def judge(evs: Sequence[Event], allowed: Sequence[str], writable: Sequence[str],
          qmp_sock: str, cwd: str, sandboxed: bool = False) -> list[str]:
    """The violations among ``evs`` (see the module docstring). Only what QEMU does counts:
    events before its execve are the launcher's (a sandbox wrapper's)."""
    real_allowed = [os.path.realpath(d) for d in allowed] + list(allowed)
    real_writable = [os.path.realpath(d) for d in writable] + list(writable) + real_allowed
    start = next((n for n, e in enumerate(evs) if e.call == "execve" and e.ok
                  and os.path.basename(e.path) == QEMU), 0)
    bad = []
    for e in evs[start + 1:]:
        if sandboxed and _denied(e):
            continue
        if e.call in ("execve", "execveat"):
            bad.append(f"runs a program: {e.raw}")
        elif e.call in _OPENS and not e.resolved:
            if not _lands_inside(e.path, _inodes(allowed)):
                bad.append(f"opens {e.path} (not nameable; not an inode inside): {e.raw}")
        elif e.call in _OPENS:
            if not (_inside(e.path, real_allowed) or qemu_own(e.path) or e.path == cwd):
                bad.append(f"opens {e.path}: {e.raw}")
        elif e.call in _CHANGES:
            if not (_inside(e.path, real_writable) or e.path == qmp_sock):
                bad.append(f"changes {e.path}: {e.raw}")
        elif e.call == "connect":
            bad.append(f"connects: {e.raw}")
        elif e.call == "bind":
            if qmp_sock not in e.path and "AF_NETLINK" not in e.path:
                bad.append(f"listens: {e.raw}")
        elif e.call in ("sendto", "sendmsg"):
            if "sa_family=AF_" in e.path and "AF_NETLINK" not in e.path:
                bad.append(f"sends to an address: {e.raw}")
    return bad


def _fd_paths(pid: int | None) -> list[str]:
    out: list[str] = []
    if pid is None:
        return out
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return out


def _qemu_pid(strace_pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{strace_pid}/task"):
            with open(f"/proc/{strace_pid}/task/{task}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
    return None


def _connect(sock: str, proc: subprocess.Popen[bytes], deadline: float) -> Any:
    """A QMP session with QEMU, or None once QEMU has exited (or time is up). The socket
    file appears at bind(), before QEMU listens and greets: retry until it does."""
    from qemu.qmp.legacy import QEMUMonitorProtocol

    while proc.poll() is None and time.monotonic() < deadline:
        if os.path.exists(sock):
            mon = QEMUMonitorProtocol(sock)
            # The kernel accepts the connection while QEMU may still be stuck opening a
            # drive (an NBD server that never answers, a FIFO): the greeting would never
            # come. At the deadline QEMU itself is killed (not strace, which then writes
            # out the whole trace), and connect() fails.
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()),
                                       _kill_qemu, (proc.pid,))
            watchdog.start()
            try:
                mon.connect()
                return mon
            except Exception:  # noqa: BLE001 - not listening yet, or QEMU is stopping
                with contextlib.suppress(Exception):
                    mon.close()
            finally:
                watchdog.cancel()
        time.sleep(0.05)
    return None


def _kill_qemu(strace_pid: int) -> None:
    pid = _qemu_pid(strace_pid)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _sysfs(devices: Sequence[str]) -> list[str]:
    """QEMU reads an allowed block device's queue limits from sysfs (file-posix.c
    hdev_get_max_segments): those directories count as the device's own."""
    out = []
    for d in devices:
        with contextlib.suppress(OSError):
            st = os.stat(d)
            if stat.S_ISBLK(st.st_mode):
                link = f"/sys/dev/block/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
                out += [link, os.path.realpath(link)]
    return out


def run(args: Sequence[str], cwd: Path, allowed: Sequence[str], *,
        writable: Sequence[str] = (), pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None, timeout: float = 40.0,
        probe: Callable[[Any, int | None], object] | None = None,
        wrap: Callable[[str], list[str]] | None = None, base: Sequence[str] = BASE) -> Run:
    """Start QEMU with ``args`` under strace in ``cwd`` and judge what it did.

    ``probe(monitor, qemu_pid)`` runs while QEMU is up (after query-block); what it
    returns is ``Run.probed``. ``wrap(qmp_dir)`` gives a command to run QEMU under (the
    Landlock sandbox); its refusals (EACCES) are then not violations.
    """
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)  # refused connects are expected
    allowed = [*allowed, *_sysfs(allowed)]
    with tempfile.TemporaryDirectory(prefix="qdrive-redteam-") as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        trace = os.path.join(tmp, "trace")
        argv = [QEMU, *base, "-qmp", f"unix:{sock},server=on,wait=off", *args]
        cmd = ["strace", "-f", "-qq", "-y", "-x", "-s", "8192", "-o", trace,
               "-e", f"trace={SYSCALLS}", "-e", "signal=none",
               *(wrap(tmp) if wrap else []), *argv]
        full_env = {**os.environ, **(env or {})}
        out_file = open(os.path.join(tmp, "stdout"), "w+b")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out_file, stderr=subprocess.PIPE,
                                pass_fds=tuple(pass_fds), env=full_env,
                                start_new_session=True)
        accepted, block, fds, probed = False, [], [], None
        try:
            mon = _connect(sock, proc, time.monotonic() + timeout)
            if mon is not None:
                try:
                    mon.settimeout(timeout)
                    mon.cmd("query-status")  # answered once machine init is done
                    accepted = True
                    answer = mon.cmd("query-block")  # qemu.qmp >= 0.0.3: the return value
                    block = answer.get("return", []) if isinstance(answer, dict) else answer
                    pid = _qemu_pid(proc.pid)
                    fds = _fd_paths(pid)
                    if probe is not None:
                        probed = probe(mon, pid)
                except Exception:  # noqa: BLE001 - QEMU went away: not accepted
                    accepted = False
                finally:
                    with contextlib.suppress(Exception):
                        mon.cmd("quit")
                    with contextlib.suppress(Exception):
                        mon.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:  # strace and QEMU: the group this call started
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.stderr is not None
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        with open(trace, encoding="latin-1") as f:
            evs = events(f.read(), str(cwd))
        out_file.seek(0)
        printed = out_file.read().decode("utf-8", "replace")
        out_file.close()
    bad = judge(evs, allowed, writable, sock, str(cwd), sandboxed=wrap is not None)
    bad += [f"holds {p} open" for p in fds if p.startswith("/") and not (
        _inside(p, [os.path.realpath(d) for d in allowed] + list(writable)) or qemu_own(p)
        or p == str(cwd) or p.startswith("/dev/pts/") or p.startswith(tmp))]
    for b in block:
        inserted = b.get("inserted") if isinstance(b, dict) else None
        if isinstance(inserted, dict) and inserted.get("drv") in ("host_device", "host_cdrom") \
                and not any(_inside(p, allowed) for p in fds if p.startswith("/dev/")):
            bad.append(f"attaches host device {inserted.get('file')}")
    return Run(tuple(argv), accepted, err.strip(), tuple(evs), tuple(bad), tuple(block),
               tuple(fds), probed, printed)
