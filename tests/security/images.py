"""Hostile images for the attack suite: made with qemu-img, then rewritten byte by byte.

qemu-img gives each image the tables QEMU needs to open it (so an accepted hostile
image really is opened, references and all); the writers below then put what the
attacker wants into the header: a backing name anywhere in the first cluster, header
extensions in any order, a data file, a vmdk descriptor, a parent hint.
"""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

BACKING_FORMAT = 0xE2792ACA
DATA_FILE = 0x44415441
FEATURE_TABLE = 0x6803F857
INCOMPAT_DATA_FILE = 1 << 2


def qemu_img(*args: str) -> None:
    done = subprocess.run(["qemu-img", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"qemu-img {' '.join(args)}: {done.stderr.strip()}")


def raw(path: Path, size: int = 1 << 20, data: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
        if data:
            f.seek(0)
            f.write(data)
    return path


def _ext(magic: int, body: bytes) -> bytes:
    return struct.pack(">II", magic, len(body)) + body + bytes(-len(body) % 8)


def qcow2(path: Path, *, backing: bytes | None = None, backing_offset: int | None = None,
          backing_size: int | None = None, extensions: Sequence[tuple[int, bytes]] = (),
          incompatible: int = 0, version: int = 3, cluster_bits: int = 16,
          raw_extensions: bytes | None = None, size: str = "1M") -> Path:
    """A qcow2 image whose first cluster says what the arguments say.

    ``backing`` is written at ``backing_offset`` (default: right after the
    extensions) and ``backing_size`` (default: its length) goes in the header;
    ``extensions`` replace qemu-img's (an END is added); ``raw_extensions`` are written
    as they are instead.
    """
    compat = "1.1" if version == 3 else "0.10"
    qemu_img("create", "-q", "-f", "qcow2", "-o",
             f"compat={compat},cluster_size={1 << cluster_bits}", str(path), size)
    data = bytearray(path.read_bytes()[: 1 << cluster_bits].ljust(1 << cluster_bits, b"\0"))
    header_length = 72 if version == 2 else struct.unpack(">I", data[100:104])[0]
    body = raw_extensions if raw_extensions is not None else b"".join(
        _ext(m, b) for m, b in extensions) + bytes(8)
    data[header_length:] = bytes(len(data) - header_length)
    data[header_length:header_length + len(body)] = body
    if version == 3:
        old = struct.unpack(">Q", data[72:80])[0]
        data[72:80] = struct.pack(">Q", old | incompatible)
    if backing is not None:
        where = backing_offset if backing_offset is not None else \
            header_length + len(body) + 8
        if where + len(backing) > len(data):
            data.extend(bytes(where + len(backing) - len(data)))
        data[where:where + len(backing)] = backing
        data[8:16] = struct.pack(">Q", where)
        data[16:20] = struct.pack(">I", len(backing) if backing_size is None else backing_size)
    with open(path, "r+b") as f:
        f.write(bytes(data))
    return path


def qcow2_chain(where: Path, names: Sequence[str], base: str, fmt: str = "raw") -> Path:
    """names[0] backed by names[1] ... backed by ``base`` (of format ``fmt``)."""
    below, below_fmt = base, fmt
    for name in reversed(names):
        qemu_img("create", "-q", "-f", "qcow2", "-b", below, "-F", below_fmt,
                 str(where / name), "1M")
        below, below_fmt = name, "qcow2"
    return where / names[0]


def qcow1(path: Path, backing: bytes | None) -> Path:
    """A qcow (v1) image; the backing name goes after the header."""
    qemu_img("create", "-q", "-f", "qcow", str(path), "1M")
    if backing is not None:
        data = bytearray(path.read_bytes())
        where = 48 + 16
        data[where:where + len(backing)] = backing
        data[8:16] = struct.pack(">Q", where)
        data[16:20] = struct.pack(">I", len(backing))
        path.write_bytes(bytes(data))
    return path


def qed(path: Path, backing: bytes | None, no_probe: bool = True) -> Path:
    """A qed image; features say backing file (and raw, not probed)."""
    qemu_img("create", "-q", "-f", "qed", str(path), "1M")
    if backing is not None:
        data = bytearray(path.read_bytes())
        features = struct.unpack("<Q", data[16:24])[0] | 0x01 | (0x04 if no_probe else 0)
        features &= ~(0 if no_probe else 0x04)
        where = 64
        data[where:where + len(backing)] = backing
        data[16:24] = struct.pack("<Q", features)
        data[56:60] = struct.pack("<I", where)
        data[60:64] = struct.pack("<I", len(backing))
        path.write_bytes(bytes(data))
    return path


def vmdk_descriptor(path: Path, extents: Sequence[str], create_type: str = "monolithicFlat",
                    parent: str | None = None, extra: str = "") -> Path:
    """A text vmdk descriptor with these extent lines (and a parent hint)."""
    cid = "ffffffff" if parent is None else "12345678"
    lines = ["# Disk DescriptorFile", "version=1", "CID=fedcba98", f"parentCID={cid}",
             f'createType="{create_type}"']
    if parent is not None:
        lines.append(f'parentFileNameHint="{parent}"')
    lines += ["", "# Extent description", *extents, "", extra]
    path.write_text("\n".join(lines) + "\n")
    return path


def vmdk_sparse(path: Path, *, embedded: str | None = None, hint: bytes | None = None) -> Path:
    """A monolithicSparse vmdk; ``embedded`` replaces its descriptor and sets capacity 0
    (vmdk_open_vmdk4() then reads the descriptor's extents); ``hint`` is written into
    the descriptor area at 0x200 (where vmdk_parent_open() looks)."""
    qemu_img("create", "-q", "-f", "vmdk", str(path), "1M")
    data = bytearray(path.read_bytes())
    desc_offset = struct.unpack("<Q", data[28:36])[0] * 512
    if embedded is not None:
        text = embedded.encode()
        data[12:20] = struct.pack("<Q", 0)  # capacity 0: the descriptor lists the extents
        data[desc_offset:desc_offset + len(text) + 1] = text + b"\0"
    if hint is not None:
        data[0x200:0x200 + len(hint)] = hint
    path.write_bytes(bytes(data))
    return path


def vpc_differencing(path: Path) -> Path:
    """A dynamic VHD whose footer says differencing (type 4), checksum fixed."""
    qemu_img("create", "-q", "-f", "vpc", str(path), "1M")
    data = bytearray(path.read_bytes())
    for base in (0, len(data) - 512):
        footer = data[base:base + 512]
        if footer[:8] != b"conectix":
            continue
        footer[60:64] = struct.pack(">I", 4)
        footer[64:68] = bytes(4)
        checksum = (~sum(footer)) & 0xFFFFFFFF
        footer[64:68] = struct.pack(">I", checksum)
        data[base:base + 512] = footer
    path.write_bytes(bytes(data))
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def symlink(path: Path, target: str) -> Path:
    os.symlink(target, path)
    return path
