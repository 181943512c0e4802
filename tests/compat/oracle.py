"""Run a real qemu-system-x86_64 on drives and record its verdict, via qemu.qmp.

QEMU connects to a QMP server of ours (``-qmp unix:SOCK``). Accepted = the QMP
session is established *and* QEMU answers ``query-status`` (the greeting alone
can come before the board has created its devices); rejected = QEMU exits
first, and its stderr holds the message. For an accepted case the facts of
``query-block`` and the QOM type of each attached device are recorded, and for a
command line with ``-blockdev`` also the facts of ``query-named-block-nodes``.

Several QEMU versions can be asked (:data:`QEMUS`): Debian 12's 7.2 is the system
binary; 10.0 and 11.1 are the wrappers ``../shared/tools/qemu-chroot`` writes, which
chroot into a Debian 13 or sid tree and run there in the current directory. Inside
the chroot only the folders bind-mounted into it exist (/tmp, /var/tmp and the
folder above the repository), so the image directory and the QMP socket must live
under one of those; :meth:`Qemu.check_visible` refuses any other path rather than
letting the wrapper fall back to ``/`` silently.

Images are made by :func:`make_images` in a scratch directory and drives name them
relatively, so fixtures hold no paths. They are always made with the system (7.2)
``qemu-img``, for every QEMU version: the images are then the same bytes whichever
QEMU reads them, so a difference between two versions' recordings is the reader's,
never the image writer's, and no image needs a chroot to be made. (For a plain 1 MiB
qcow2 the three versions' qemu-img write the same bytes today; VMDK, VHDX, VDI and LUKS
images carry UUIDs, salts or timestamps and differ on every creation anyway.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import headers

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"

QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
BASE_ARGS = ["-M", "pc", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"]
# query-block "inserted" keys recorded as facts (throttle limits, cache, ...).
THROTTLE_FACTS = ("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "bps_max",
                  "bps_rd_max", "bps_wr_max", "iops_max", "iops_rd_max", "iops_wr_max",
                  "iops_size")
# query-named-block-nodes keys recorded as facts of each node (-blockdev command lines).
NODE_FACTS = ("node-name", "drv", "ro", "cache", "detect_zeroes", "file", "backing_file_depth",
              "encrypted")


# -- the QEMU binaries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Qemu:
    """One qemu-system-x86_64 the oracle can ask: its version and how it is started."""

    version: str  # major.minor, as QEMU reports it
    binary: str  # a name on PATH or a path

    @property
    def dialect(self) -> str:
        """The qdrive dialect that models this QEMU (``qemu-7.2`` ...)."""
        return f"qemu-{self.version}"

    @property
    def fixtures(self) -> Path:
        """fixtures/qemu72, fixtures/qemu100, fixtures/qemu111: major and minor, no dot."""
        return FIXTURES / ("qemu" + self.version.replace(".", ""))

    def path(self) -> str | None:
        return shutil.which(self.binary)

    def available(self) -> bool:
        return self.path() is not None

    @functools.cached_property
    def chroot(self) -> str | None:
        """The tree a qemu-chroot wrapper runs QEMU in, or None for a plain binary."""
        found = self.path()
        if found is None:
            return None
        try:
            with open(found, "rb") as f:
                head = f.read(4096)
        except OSError:
            return None
        m = re.search(rb"exec chroot (\S+) ", head) if head.startswith(b"#!") else None
        return m.group(1).decode() if m else None

    @functools.cached_property
    def visible_roots(self) -> tuple[str, ...]:
        """Host folders that exist at the same path for this QEMU ('/' when not chrooted)."""
        if self.chroot is None:
            return ("/",)
        roots = []
        with open("/proc/self/mounts") as f:
            for line in f:
                where = line.split()[1].replace("\\040", " ")
                if where.startswith(self.chroot + "/"):
                    inner = where[len(self.chroot):]
                    if inner not in ("/dev", "/proc", "/sys"):
                        roots.append(inner)
        return tuple(sorted(roots))

    def check_visible(self, path: Path | str) -> None:
        """Refuse a path this QEMU cannot see (the wrapper would run in '/' instead)."""
        real = os.path.realpath(path)
        if not any(real == r or real.startswith(r.rstrip("/") + "/")
                   for r in self.visible_roots):
            raise ValueError(f"{path} is not visible to {self.binary} (chroot {self.chroot}); "
                             f"use a folder under {', '.join(self.visible_roots)}")

    def command(self, args: Sequence[str], *, cwd: Path,
                user: tuple[int, int] | None = None) -> list[str]:
        """The argv that starts this QEMU on ``args`` in ``cwd`` (as ``user`` = (uid, gid))."""
        if user is None:
            return [self.binary, *args]
        uid, gid = user
        if self.chroot is None:
            return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                    "--", self.binary, *args]
        # The wrapper needs root to chroot; chroot itself can then drop to the user.
        script = 'cd "$0" || exit 125; exec qemu-system-x86_64 "$@"'
        return ["chroot", f"--userspec={uid}:{gid}", self.chroot, "/bin/sh", "-c", script,
                str(cwd), *args]

    @functools.cached_property
    def version_line(self) -> str:
        """The first line of ``--version`` (``QEMU emulator version 7.2.22 (...)``)."""
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                             check=True, cwd="/tmp")
        return out.stdout.splitlines()[0]


QEMUS: Mapping[str, Qemu] = {
    "7.2": Qemu("7.2", QEMU),
    "10.0": Qemu("10.0", "qemu-system-x86_64-10.0"),
    "11.1": Qemu("11.1", "qemu-system-x86_64-11.1"),
}
DEFAULT = QEMUS["7.2"]


def qemu(version: str | None = None) -> Qemu:
    """The oracle for a version (7.2, 10.0, 11.1; qemu-7.2 is read as 7.2 too)."""
    name = (version or DEFAULT.version).removeprefix("qemu-")
    if name not in QEMUS:
        raise ValueError(f"no QEMU {version!r}; the oracle knows {', '.join(QEMUS)}")
    return QEMUS[name]


def have_qemu(version: str | None = None) -> bool:
    return qemu(version).available() and shutil.which(QEMU_IMG) is not None


def scratch(prefix: str) -> str:
    """A new folder under /tmp (visible to every QEMU of :data:`QEMUS`)."""
    base = os.path.realpath(tempfile.gettempdir())
    if not any(base == r or base.startswith(r + "/") for r in ("/tmp", "/var/tmp")):
        base = "/tmp"
    return tempfile.mkdtemp(prefix=prefix, dir=base)


# -- the images ---------------------------------------------------------------------------------

# name -> (qemu-img format, size); the corpus refers to these names.
IMAGES = {
    "disk.img": ("raw", "1M"), "disk2.img": ("raw", "1M"), "disk3.img": ("raw", "1M"),
    "disk4.img": ("raw", "1M"), "disk.qcow2": ("qcow2", "1M"),
    "cd.iso": ("raw", "1M"), "a,b.img": ("raw", "1M"), "sp ace.img": ("raw", "1M"),
    "a=b.img": ("raw", "1M"), "fd.img": ("raw", "1440K"),
}

# The harvest's own names (/work/harvest/images.md): further images of one command line,
# other formats, and the files a few drivers read.
HARVEST_IMAGES = {
    **{f"harvest{n}.img": ("raw", "1M") for n in range(5, 200)},
    **{f"harvest{n}.qcow2": ("qcow2", "1M") for n in range(2, 40)},
    **{f"harvest-cd{n}.iso": ("raw", "1M") for n in range(2, 10)},
    **{f"harvest-fd{n}.img": ("raw", "1440K") for n in range(2, 5)},
    "harvest.vmdk": ("vmdk", "1M"), "harvest.vdi": ("vdi", "1M"),
    "harvest.vhdx": ("vhdx", "1M"), "harvest.luks": ("luks", "1M"),
    "harvest2.luks": ("luks", "1M"),
}
HARVEST_FILES = {  # name -> content (empty files QEMU's drivers read)
    "harvest-blkdebug.conf": b"", "harvest-ceph.conf": b"", "harvest-gluster.log": b"",
}
HARVEST_DIRS = ("harvest-fat",)  # vvfat's directory
# Crafted images of the formats qemu-img does not write (bochs, cloop, dmg, parallels
# variants): one header field each that the driver's open checks (tests/compat/headers.py)
HEADER_FILES = headers.header_files()

# Further formats and sizes the generator (tests/compat/generate.py) needs: one image of
# each format qemu-img writes, a qcow2 overlay on disk.qcow2, a LUKS-encrypted qcow2, and
# flash images around the pc board's limits (hw/i386/pc_sysfw.c).
GENERATED_IMAGES = {
    "gen.qcow": ("qcow", "1M"), "gen.qed": ("qed", "1M"), "gen.vpc": ("vpc", "1M"),
    "gen.parallels": ("parallels", "1M"), "gen.vmdk": ("vmdk", "1M"),
    "gen.vdi": ("vdi", "1M"), "gen.vhdx": ("vhdx", "1M"), "gen.luks": ("luks", "1M"),
    "gen-enc.qcow2": ("qcow2-luks", "1M"), "gen-overlay.qcow2": ("qcow2-overlay", "1M"),
    "gen-data.qcow2": ("qcow2-datafile", "1M"),
    "gen-flash-4k.img": ("raw", "4K"), "gen-flash-64k.img": ("raw", "64K"),
    "gen-flash-odd.img": ("raw", "1000"), "gen-flash-4m.img": ("raw", "4M"),
    "gen-flash-8m.img": ("raw", "8M"), "gen-flash-16m.img": ("raw", "16M"),
    "gen-big.img": ("raw", "64M"), "gen-empty.img": ("raw", "0"),
}

# The passphrase of every LUKS image, and the secret file. harvest-secret.key is what
# libvirt's lines use as their master key (format=raw, 32 bytes for AES-256); its bytes are
# fixed so that QEMU's decryption errors are the same on every run.
SECRET = "harvest"
SECRET_KEY = hashlib.sha256(b"qdrive harvest master key").digest()
SECRET_FILES = {"harvest-secret.key": SECRET_KEY, "gen-passphrase.txt": SECRET.encode()}

ALL_IMAGES = {**IMAGES, **HARVEST_IMAGES, **GENERATED_IMAGES}
DEV = "DEV"  # the harvest's placeholder for a host block device


def _create(path: Path, fmt: str, size: str) -> None:
    """One image with the system qemu-img (sparse raw files need none)."""
    if fmt == "raw" or shutil.which(QEMU_IMG) is None:
        with open(path, "wb") as f:
            if fmt == "qcow2":  # no qemu-img: a minimal qcow2 header is enough for the probe
                f.write(b"QFI\xfb\x00\x00\x00\x03" + bytes(504))
            else:
                f.truncate(_bytes(size))
        return
    secret = ["--object", f"secret,id=sec0,data={SECRET}"]
    cmd = {
        "luks": [*secret, "-f", "luks", "-o", "key-secret=sec0,iter-time=10"],
        "qcow2-luks": [*secret, "-f", "qcow2", "-o",
                       "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"],
        "qcow2-overlay": ["-f", "qcow2", "-b", "disk.qcow2", "-F", "qcow2"],
        "qcow2-datafile": ["-f", "qcow2", "-o", f"data_file={path.stem}.data,data_file_raw=on"],
    }.get(fmt, ["-f", fmt])
    img_create([*cmd, path.name, size], path.parent)


def img_create(args: Sequence[str], cwd: Path, attempts: int = 5) -> None:
    """``qemu-img create -q ARGS`` in ``cwd``. A LUKS header's PBKDF2 benchmark
    (crypto/pbkdf.c qcrypto_pbkdf2_count_iters) fails now and then on a loaded machine
    ("Unable to get accurate CPU usage"): that failure alone is tried again."""
    for attempt in range(attempts):
        done = subprocess.run([QEMU_IMG, "create", "-q", *args], cwd=cwd, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode == 0:
            return
        if "Unable to get accurate CPU usage" not in done.stderr or attempt == attempts - 1:
            raise subprocess.CalledProcessError(done.returncode, done.args, stderr=done.stderr)


def _bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


TEMPLATE_CACHE = Path("/var/tmp/qdrive-image-templates")


@functools.cache
def _templates() -> Path:
    """One copy of every non-raw image; make_images copies from here.

    LUKS images take seconds each (QEMU benchmarks PBKDF2 before it writes the header),
    so the templates are kept between runs in /var/tmp/qdrive-image-templates/KEY, KEY
    naming the qemu-img version and the image table; a changed table gets a new folder.
    """
    version = (subprocess.run([QEMU_IMG, "--version"], capture_output=True, text=True
                              ).stdout if shutil.which(QEMU_IMG) else "no qemu-img")
    key = hashlib.sha256(repr((version, sorted(ALL_IMAGES.items()), SECRET)).encode()
                         ).hexdigest()[:16]
    final = TEMPLATE_CACHE / key
    if final.is_dir():
        return final
    TEMPLATE_CACHE.mkdir(parents=True, exist_ok=True)
    where = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=TEMPLATE_CACHE))
    for name, (fmt, size) in ALL_IMAGES.items():
        if fmt == "raw":
            continue
        # images of one format and size are interchangeable here: make one, copy it
        twin = next((n for n, (f, s) in ALL_IMAGES.items()
                     if (f, s) == (fmt, size) and (where / n).exists()), None)
        if twin is not None:
            shutil.copyfile(where / twin, where / name)
        else:
            _create(where / name, fmt, size)
    try:
        where.rename(final)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(where, ignore_errors=True)
    return final


def make_images(where: Path) -> None:
    """Create the corpus images and files in ``where`` (qemu-img when present)."""
    templates = _templates()
    for name, (fmt, size) in ALL_IMAGES.items():
        path = where / name
        if path.exists():
            continue
        if fmt == "raw":
            _create(path, fmt, size)
        else:
            shutil.copyfile(templates / name, path)
            data = templates / f"{path.stem}.data"
            if data.exists():
                shutil.copyfile(data, where / data.name)
    for name, content in {**HARVEST_FILES, **SECRET_FILES, **HEADER_FILES}.items():
        if not (where / name).exists():
            (where / name).write_bytes(content)
    for name in HARVEST_DIRS:
        (where / name).mkdir(exist_ok=True)


def image_state(where: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every image: a QEMU that opens an image read-write may rewrite
    its header (vhdx's log sequence, parallels' in-use flag, a qcow2 dirty bit, the
    superblock blklogwrites writes), and the next case must not see that."""
    out = {}
    for name in (*ALL_IMAGES, *SECRET_FILES, *HARVEST_FILES, *HEADER_FILES):
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(where / name)
            out[name] = (st.st_size, st.st_mtime_ns)
    return out


def restore_images(where: Path, state: dict[str, tuple[int, int]]) -> list[str]:
    """Put back every image whose size or mtime moved since ``state`` (which is brought
    up to date); the names of those put back."""
    changed = [n for n, was in state.items() if _stat(where / n) != was]
    for name in changed:
        (where / name).unlink(missing_ok=True)
        data = where / f"{Path(name).stem}.data"
        if name in GENERATED_IMAGES and data.exists():
            data.unlink()
    if changed:
        make_images(where)
        state.update(image_state(where))
    return changed


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


class HostDevice:
    """``DEV`` in an image folder: a symlink to a loop device of its own (root only).

    ``with HostDevice(where) as dev:`` gives the loop device's path, or None (with
    :attr:`reason`) when loop devices cannot be made here; the loop device and the
    symlink are gone afterwards.
    """

    def __init__(self, where: Path, size: int = 1 << 20) -> None:
        self.where, self.size = where, size
        self.loop: str | None = None
        self.reason = ""

    def __enter__(self) -> str | None:
        if os.geteuid() != 0 or shutil.which("losetup") is None:
            self.reason = "DEV needs root and losetup to be a loop device"
            return None
        backing = self.where / ".dev-backing.img"
        with open(backing, "wb") as f:
            f.truncate(self.size)
        out = subprocess.run(["losetup", "--find", "--show", str(backing)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            self.reason = f"losetup failed: {out.stderr.strip()}"
            backing.unlink()
            return None
        self.loop = out.stdout.strip()
        link = self.where / DEV
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(self.loop)
        return self.loop

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.where / DEV).unlink()
        if self.loop is not None:
            subprocess.run(["losetup", "--detach", self.loop], check=False)
            self.loop = None
        with contextlib.suppress(FileNotFoundError):
            (self.where / ".dev-backing.img").unlink()


@contextlib.contextmanager
def image_dir(prefix: str = "qdrive-oracle-") -> Iterator[Path]:
    """A scratch folder with every image, DEV when root; removed (loop device too) after."""
    where = Path(scratch(prefix))
    try:
        make_images(where)
        with HostDevice(where):
            yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


# -- one QEMU start -----------------------------------------------------------------------------


def qemu_args(case: Mapping[str, Any]) -> list[str]:
    """QEMU arguments for a corpus case: {"drives": [...]} or {"argv": [...]}."""
    if "argv" in case:
        return list(case["argv"])
    return [a for d in case["drives"] for a in ("-drive", d)]


def run(case: list[str] | Mapping[str, Any], cwd: Path, timeout: float = 20.0,
        qemu: Qemu = DEFAULT, user: tuple[int, int] | None = None) -> dict[str, Any]:
    """One QEMU start: {"accepted", "stderr", "devices"[, "nodes"][, "timeout"]}.

    ``devices`` (and ``nodes`` for -blockdev lines) only when accepted; ``timeout`` when
    QEMU neither exited nor answered within ``timeout`` seconds (it is then killed and the
    case counts as rejected). A case may carry ``files`` (name -> text) that are written
    into ``cwd`` for this start only (-readconfig files). ``user`` runs QEMU as (uid, gid).
    """
    if not isinstance(case, Mapping):
        case = {"drives": case}
    qemu.check_visible(cwd)
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)  # EOF at quit is expected
    with case_files(cwd, case.get("files", {})):
        return asyncio.run(_run(qemu_args(case), cwd, timeout, qemu, user))


@contextlib.contextmanager
def case_files(cwd: Path, files: Mapping[str, str]) -> Iterator[None]:
    """A case's ``files`` written into the image folder, and removed again after."""
    written = []
    try:
        for name, text in files.items():
            if "/" in name or name.startswith("."):
                raise ValueError(f"a case file must be a plain name in the image folder: "
                                 f"{name!r}")
            path = cwd / name
            path.write_text(text, "utf-8")
            written.append(path)
        yield
    finally:
        for path in written:
            path.unlink(missing_ok=True)


async def _run(args: list[str], cwd: Path, timeout: float, qemu: Qemu,
               user: tuple[int, int] | None) -> dict[str, Any]:
    from qemu.qmp import QMPClient

    tmp = scratch("qdrive-qmp-")
    try:
        sock = os.path.join(tmp, "qmp.sock")
        client = QMPClient("qdrive-oracle")
        await client.start_server(sock)
        if user is not None:  # an unprivileged QEMU must reach our socket
            os.chmod(tmp, 0o755)
            os.chmod(sock, 0o777)
        proc = await asyncio.create_subprocess_exec(
            *qemu.command([*BASE_ARGS, "-qmp", f"unix:{sock}", *args], cwd=cwd, user=user),
            cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        timed_out = False
        try:
            facts = await asyncio.wait_for(_session(client, proc, "-blockdev" in args, cwd),
                                           timeout)
        except TimeoutError:
            facts, timed_out = None, proc.returncode is None
        except Exception:  # noqa: BLE001 - any other failure = rejected
            facts = None
        finally:
            if proc.returncode is None and not timed_out:
                # QEMU is exiting (it quit, or it refused the case): let the child watcher
                # reap it, rather than kill() reaping it under the watcher (asyncio then
                # warns "Unknown child process").
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proc.wait()), 5)
            with contextlib.suppress(ProcessLookupError):
                if proc.returncode is None:
                    proc.kill()
            assert proc.stderr is not None
            err = await proc.stderr.read()
            await proc.wait()
            with contextlib.suppress(Exception):
                await client.disconnect()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {"accepted": facts is not None,
                           "stderr": err.decode("utf-8", "replace").rstrip("\n")}
    if facts is not None:
        out.update(facts)
    if timed_out:
        out["timeout"] = True
    return out


async def _session(client: Any, proc: asyncio.subprocess.Process, nodes: bool,
                   cwd: Path) -> dict[str, Any]:
    accept = asyncio.ensure_future(client.accept())
    died = asyncio.ensure_future(proc.wait())
    try:
        done, _ = await asyncio.wait({accept, died}, return_when=asyncio.FIRST_COMPLETED)
        if accept not in done:
            raise RuntimeError("QEMU exited before the QMP session")
        accept.result()
    finally:
        # Also on a timeout (this coroutine cancelled): both tasks end here, and their
        # outcome is fetched, so asyncio never reports an exception nobody retrieved.
        for task in (accept, died):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    await client.execute("query-status")
    out: dict[str, Any] = {
        "devices": [await _facts(client, b) for b in await client.execute("query-block")]}
    if nodes:
        listed = await client.execute("query-named-block-nodes", {"flat": True})
        out["nodes"] = [_node(n, cwd) for n in listed]
    with contextlib.suppress(Exception):
        await client.execute("quit")
    return out


async def _facts(client: Any, block: dict[str, Any]) -> dict[str, Any]:
    """The facts qdrive predicts, from one query-block entry (and qom-get for the device)."""
    facts: dict[str, Any] = {"device": block["device"], "removable": block["removable"]}
    if block.get("qdev"):
        # block-backend.c blk_get_attached_dev_id(): the device's id when it has one, a
        # partial QOM path that is ambiguous when the device names a bus after itself
        # (nvme's "dev0" bus); the full path of a device with an id is under peripheral
        path = block["qdev"] if block["qdev"].startswith("/") else \
            f"/machine/peripheral/{block['qdev']}"
        facts["type"] = await client.execute("qom-get", {"path": path, "property": "type"})
    inserted = block.get("inserted")
    if inserted is not None:
        facts.update(ro=inserted["ro"], drv=inserted["drv"], cache=inserted["cache"],
                     detect_zeroes=inserted["detect_zeroes"],
                     throttle={k: inserted[k] for k in THROTTLE_FACTS if inserted.get(k)})
    return facts


def _node(node: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """One query-named-block-nodes entry, its file names relative to the image folder."""
    out = {k: node[k] for k in NODE_FACTS if k in node}
    if isinstance(out.get("file"), str):
        out["file"] = relative(out["file"], cwd)
    return out


def relative(text: str, cwd: Path) -> str:
    """``text`` with the image folder's absolute path taken out (fixtures hold no paths)."""
    real = os.path.realpath(cwd)
    for prefix in {str(cwd), real}:
        text = text.replace(prefix + "/", "")
    return text


# -- a QEMU left running ------------------------------------------------------------------------


CONNECT_ATTEMPTS = 100  # 50 ms apart


class Running:
    """A QEMU started on drives and left running (``with Running(drives, cwd) as pid``)."""

    def __init__(self, drives: list[str], cwd: Path, qemu: Qemu = DEFAULT,
                 argv: Sequence[str] = ()) -> None:
        qemu.check_visible(cwd)
        self.dir = scratch("qdrive-run-")
        ready = os.path.join(self.dir, "ready")
        args = [*BASE_ARGS, "-qmp", f"unix:{ready},server=on,wait=off",
                *qemu_args({"drives": drives}), *argv]
        self.proc = subprocess.Popen(qemu.command(args, cwd=cwd), cwd=cwd,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.sock = ready

    def __enter__(self) -> int:
        try:
            self._wait_ready()
        except BaseException:
            # __exit__ is not called when __enter__ fails: stop QEMU here, or it is left
            # running with the image locked (a refused connect once did exactly that)
            err = self._stop()
            raise RuntimeError(f"QEMU did not come up: {err}") from None
        return self.proc.pid

    def _wait_ready(self) -> None:
        from qemu.qmp.legacy import QEMUMonitorProtocol

        for _ in range(400):  # the socket appears once QEMU has parsed its options
            if _is_socket(self.sock) or self.proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"], check=False)
        if self.proc.poll() is not None or not _is_socket(self.sock):
            raise RuntimeError("QEMU exited before its QMP socket appeared")
        # The socket file appears at bind(); a connect() before QEMU's listen() is refused,
        # which a loaded machine makes likely enough to matter: retry for a while.
        for attempt in range(CONNECT_ATTEMPTS):
            mon = QEMUMonitorProtocol(self.sock)
            try:
                mon.connect()
                break
            except Exception:  # noqa: BLE001 - qemu.qmp wraps the refusal in ConnectError
                mon.close()
                if attempt == CONNECT_ATTEMPTS - 1 or self.proc.poll() is not None:
                    raise
                subprocess.run(["sleep", "0.05"], check=False)
        try:
            mon.cmd("query-status")  # answered only once machine init is done
        finally:
            mon.close()

    def _stop(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate()
        shutil.rmtree(self.dir, ignore_errors=True)
        return err.decode("utf-8", "replace")

    def __exit__(self, *exc: object) -> None:
        self._stop()


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def fd_flags(pid: int, path: Path) -> list[int]:
    """open() flags of every descriptor of ``pid`` that refers to ``path`` (/proc/PID/fdinfo)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target == str(path):
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("flags:"):
                        out.append(int(line.split()[1], 8))
    return out
