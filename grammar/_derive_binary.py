"""What a QEMU binary says about itself, for grammar/derive_qemu.py.

* :func:`version` and :func:`format_help`: ``--version`` and ``-drive format=help``.
* :func:`query_schema`: QMP ``query-qmp-schema`` over ``-qmp stdio`` (no socket, no
  dependency), the schema as the binary was built, with QEMU's masked type names.
* :func:`option_lists`: every initialised ``QemuOptsList`` in the executable (and in loadable
  block modules), read from the ELF file itself. A QemuOptsList is recognised by its
  ``head`` field, a QTAILQ head whose ``tql_prev`` points back at itself (the
  ``QTAILQ_HEAD_INITIALIZER`` of include/qemu/queue.h); the descriptors follow it,
  each ``{name, type, help, def_value_str}`` (include/qemu/option.h), until a NULL name.
  Pointers in a position-independent executable are R_X86_64_RELATIVE relocations,
  so they are read from ``.rela.dyn``. x86-64 little-endian ELF64 only.
"""

from __future__ import annotations

from typing import Any

import json
import os
import select
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["version", "format_help", "query_schema", "option_lists", "BinaryError"]

_OPT_TYPES = {0: "string", 1: "bool", 2: "number", 3: "size"}
_R_X86_64_RELATIVE = 8


class BinaryError(RuntimeError):
    """The binary could not be run or read as expected."""


def _run(binary: str, *args: str) -> str:
    try:
        proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60,
                              check=False, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BinaryError(f"{binary}: {exc}") from exc
    return proc.stdout + proc.stderr


def version(binary: str) -> str:
    """The first line of ``--version`` (e.g. ``QEMU emulator version 7.2.22 (Debian ...)``)."""
    return _run(binary, "--version").splitlines()[0].strip()


def format_help(binary: str) -> dict[str, list[str]]:
    """The formats ``-drive format=help`` lists: {"formats": [...], "read_only": [...]}."""
    out: dict[str, list[str]] = {"formats": [], "read_only": []}
    for line in _run(binary, "-drive", "format=help").splitlines():
        head, _, names = line.partition(":")
        if head.strip() == "Supported formats":
            out["formats"] = names.split()
        elif head.strip() == "Supported formats (read-only)":
            out["read_only"] = names.split()
    if not out["formats"]:
        raise BinaryError(f"{binary} -drive format=help listed no formats")
    return out


def query_schema(binary: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """``query-qmp-schema`` of a QEMU started with no machine, talking QMP on stdio."""
    args = [binary, "-machine", "none", "-nodefaults", "-display", "none", "-S",
            "-qmp", "stdio"]
    try:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, cwd="/")
    except OSError as exc:
        raise BinaryError(f"{binary}: {exc}") from exc
    try:
        lines = _LineReader(proc, timeout)
        lines.next_message()  # the greeting
        for n, command in enumerate(("qmp_capabilities", "query-qmp-schema")):
            _send(proc, {"execute": command, "id": n})
            reply = lines.reply(n)
        _send(proc, {"execute": "quit"})
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    result = reply.get("return")
    if not isinstance(result, list):
        raise BinaryError(f"{binary}: query-qmp-schema failed: {reply}")
    return result


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


class _LineReader:
    """JSON messages from the QMP monitor's stdout, with one overall deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        self.proc = proc
        self.deadline = time.monotonic() + timeout
        self.buffer = b""

    def next_message(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise BinaryError("QMP: no answer in time")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise BinaryError("QMP: the monitor closed its output")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise BinaryError("QMP: not an object")
        return message

    def reply(self, ident: int) -> dict[str, Any]:
        while True:
            message = self.next_message()
            if message.get("id") == ident:
                return message


# -- the ELF file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    vaddr: int
    offset: int
    filesz: int


class _Elf:
    """Just enough of an ELF64 file: loadable segments and RELATIVE relocations."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise BinaryError(f"{path}: not a little-endian ELF64 file")
        phoff, shoff = struct.unpack_from("<QQ", d, 0x20)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", d, 0x36)
        self.segments = []
        for i in range(phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
                "<IIQQQQ", d, phoff + i * phentsize)
            if p_type == 1:  # PT_LOAD
                self.segments.append(_Segment(p_vaddr, p_offset, p_filesz))
        self.relocs: dict[int, int] = {}
        for i in range(shnum):
            sh = struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize)
            sh_type, sh_offset, sh_size, sh_entsize = sh[1], sh[4], sh[5], sh[9]
            if sh_type != 4 or not sh_entsize:  # SHT_RELA
                continue
            for off in range(sh_offset, sh_offset + sh_size, sh_entsize):
                r_offset, r_info, r_addend = struct.unpack_from("<QQq", d, off)
                if r_info & 0xFFFFFFFF == _R_X86_64_RELATIVE:
                    self.relocs[r_offset] = r_addend

    def file_offset(self, vaddr: int) -> int | None:
        for seg in self.segments:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return seg.offset + vaddr - seg.vaddr
        return None

    def pointer(self, vaddr: int) -> int:
        if vaddr in self.relocs:
            return self.relocs[vaddr]
        off = self.file_offset(vaddr)
        return struct.unpack_from("<Q", self.data, off)[0] if off is not None else 0

    def u32(self, vaddr: int) -> int:
        off = self.file_offset(vaddr)
        return struct.unpack_from("<I", self.data, off)[0] if off is not None else 0

    def byte(self, vaddr: int) -> int:
        off = self.file_offset(vaddr)
        return self.data[off] if off is not None else 0

    def string(self, vaddr: int) -> str | None:
        if not vaddr:
            return None
        off = self.file_offset(vaddr)
        if off is None:
            return None
        end = self.data.find(b"\0", off)
        if end < 0 or end - off > 4096:
            return None
        try:
            return self.data[off:end].decode("utf-8")
        except UnicodeDecodeError:
            return None

    def list_heads(self) -> Iterator[int]:
        """Addresses of structures whose field at +24 is a QTAILQ head pointing at itself."""
        for where, target in sorted(self.relocs.items()):
            if target == where - 8:
                yield where - 32


def _option_list(elf: _Elf, base: int) -> dict[str, Any] | None:
    name = elf.string(elf.pointer(base))
    if name is None or elf.pointer(base + 24) != 0:
        return None
    options: list[dict[str, Any]] = []
    at = base + 40
    while True:
        opt_name = elf.string(elf.pointer(at))
        if opt_name is None:
            break
        kind = elf.u32(at + 8)
        if kind not in _OPT_TYPES:
            return None
        entry: dict[str, Any] = {"name": opt_name, "type": _OPT_TYPES[kind]}
        # The help text at +16 is QEMU's prose, not a fact the tables need: not kept.
        default = elf.string(elf.pointer(at + 24))
        if default is not None:
            entry["default"] = default
        options.append(entry)
        at += 32
    out: dict[str, Any] = {"name": name, "options": options}
    implied = elf.string(elf.pointer(base + 8))
    if implied is not None:
        out["implied_opt_name"] = implied
    if elf.byte(base + 16):
        out["merge_lists"] = True
    return out


def option_lists(path: str) -> list[dict[str, Any]]:
    """Every QemuOptsList initialised in the ELF file ``path``, in address order."""
    elf = _Elf(path)
    out = []
    for base in elf.list_heads():
        found = _option_list(elf, base)
        if found is not None:
            found["binary"] = os.path.basename(path)
            out.append(found)
    return out
