"""A Landlock sandbox for QEMU: the kernel refuses what the policy did not check.

``python -m qdrive.frontend.policy._sandbox [--images DIR]... [--write DIR]... [--device DEV]...
-- PROGRAM ARGS...`` restricts itself with Landlock (Linux 5.13+) and execs PROGRAM, which inherits
the restriction: it may read QEMU's own files (/usr, /lib, its few files in /etc, /dev
null/zero/random/urandom/kvm, its own /proc/self, /sys), read and write files in the
image directories (but create or remove none), use the listed block devices, create and
remove files in the writable directories (snapshot overlays, the launcher's QMP socket),
and nothing else; where the kernel has Landlock ABI 4 it may neither connect nor bind a
TCP socket, from ABI 6 not reach abstract unix sockets or signal processes outside.

Why: the descriptor hand-off pins the checked inodes, not their bytes. An attacker who
rewrites a checked qcow2 header after the check can add an external data file (which no
-drive option can take away), or turn a sparse vmdk into one with an embedded descriptor;
QEMU would then open that name. Under this sandbox that open fails (EACCES). It is
defense in depth, not the policy: the attack suite judges the policy without it.

Landlock restricts path-based opens only: descriptors passed in stay usable, so the
hand-off works unchanged. UDP and named unix sockets are not covered by Landlock.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import sys
from collections.abc import Sequence

__all__ = ["abi", "restrict", "main"]

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# include/uapi/linux/landlock.h: LANDLOCK_ACCESS_FS_*
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
              5: (1 << 16) - 1}
_NET_TCP = (1 << 0) | (1 << 1)  # LANDLOCK_ACCESS_NET_BIND_TCP | _CONNECT_TCP (ABI 4)
_SCOPES = (1 << 0) | (1 << 1)  # LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | _SIGNAL (ABI 6)

READ = READ_FILE | READ_DIR
IMAGES = READ | WRITE_FILE | TRUNCATE
WRITABLE = IMAGES | MAKE_REG | REMOVE_FILE | MAKE_SOCK

# What QEMU 7.2 reads of the system (the attack suite's clean runs list it).
SYSTEM: tuple[tuple[str, int], ...] = (
    ("/usr", READ | EXECUTE), ("/lib", READ | EXECUTE), ("/lib64", READ | EXECUTE),
    ("/etc/ld.so.cache", READ_FILE), ("/etc/localtime", READ_FILE), ("/etc/qemu", READ),
    ("/etc/libnl", READ), ("/dev/null", READ_FILE | WRITE_FILE),
    ("/dev/zero", READ_FILE), ("/dev/random", READ_FILE), ("/dev/urandom", READ_FILE),
    ("/dev/kvm", READ_FILE | WRITE_FILE | IOCTL_DEV), ("/proc/self", READ),
    ("/proc/filesystems", READ_FILE), ("/proc/meminfo", READ_FILE), ("/sys", READ),
)


class _Beneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The kernel's Landlock ABI version (0: no Landlock)."""
    version = _libc().syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                              ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _check(ret: int, what: str) -> int:
    if ret < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"landlock {what}: {os.strerror(code)}")
    return ret


def restrict(rules: Sequence[tuple[str, int]]) -> int:
    """Restrict this process (and what it execs) to ``rules``: (path, access) pairs.
    Paths that do not exist are skipped. Returns the ABI used."""
    version = abi()
    if version < 1:
        raise OSError("this kernel has no Landlock: the sandbox cannot be applied")
    libc = _libc()
    fs = _FS_BY_ABI.get(version, _FS_BY_ABI[5])
    fields = [fs, _NET_TCP if version >= 4 else 0, _SCOPES if version >= 6 else 0]
    size = 8 if version < 4 else 16 if version < 6 else 24
    attr = (ctypes.c_uint64 * 3)(*fields)
    ruleset = _check(libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr),
                                  ctypes.c_size_t(size), ctypes.c_uint32(0)), "create_ruleset")
    try:
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if not os.path.isdir(f"/proc/self/fd/{fd}"):
                    access &= WRITE_FILE | READ_FILE | EXECUTE | TRUNCATE | IOCTL_DEV
                rule = _Beneath(access & fs, fd)
                _check(libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset),
                                    ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                                    ctypes.c_uint32(0)), f"add_rule {path}")
            finally:
                os.close(fd)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(libc.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset),
                            ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset)
    return version


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qdrive.frontend.policy._sandbox",
                                description="Run PROGRAM under a Landlock sandbox for QEMU.")
    p.add_argument("--images", action="append", default=[], metavar="DIR")
    p.add_argument("--write", action="append", default=[], metavar="DIR")
    p.add_argument("--device", action="append", default=[], metavar="DEV")
    p.add_argument("program", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        p.error("give the program to run after --")
    rules = [*SYSTEM, *((d, IMAGES) for d in args.images), *((d, WRITABLE) for d in args.write),
             *((d, READ_FILE | WRITE_FILE | IOCTL_DEV) for d in args.device)]
    try:
        restrict(rules)
    except OSError as exc:
        print(f"qdrive sandbox: {exc}", file=sys.stderr)
        return 126
    path = shutil.which(program[0]) or program[0]  # one execve, not a walk along $PATH
    try:
        os.execv(path, program)
    except OSError as exc:
        print(f"qdrive sandbox: {program[0]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
