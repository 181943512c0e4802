"""The API a launcher uses: the builder, Drive objects in check(), the result's argv,
raise_for_error, lazy names, async with, and a consumer type-checked with mypy --strict."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import qdrive

REPO = Path(__file__).resolve().parents[1]


def test_builder_gives_the_drive_qemu_reads() -> None:
    d = qdrive.drive(file="a,b.img", format="raw", interface="virtio", cache="none",
                     aio=qdrive.Aio.NATIVE, read_only=False, throttling={"bps": 1_000_000},
                     driver_options={"file.locking": "off"})
    assert d == qdrive.parse_drive(d.to_string())
    assert d.to_string() == ("file=a,,b.img,format=raw,if=virtio,read-only=off,cache=none,"
                             "aio=native,throttling.bps-total=1000000,file.locking=off")
    assert d.interface is qdrive.Interface.VIRTIO and d.cache_triple == (True, True, False)


def test_builder_refuses_with_qemus_message_and_a_fix() -> None:
    with pytest.raises(qdrive.DriveError) as info:
        qdrive.drive(file="disk.img", format="raw", cache="None")
    assert info.value.message == "invalid cache option"
    assert str(info.value).splitlines()[1] == " " * 32 + "^~~~~~~~~~"
    assert info.value.fix == "file=disk.img,format=raw,cache=none"
    with pytest.raises(qdrive.DriveError, match="aio=native was specified"):
        qdrive.drive(file="disk.img", format="raw", aio="native")
    with pytest.raises(qdrive.DriveError, match="Parameter 'bus' expects a number"):
        qdrive.drive(file="disk.img", bus="first")


@pytest.mark.parametrize(("fields", "message"), [
    ({"cahce": "none"}, "'cahce' is not a Drive field; did you mean 'cache'?"),
    ({"throttling": {"bsp": 1}}, "'bsp' is not a throttling limit; did you mean 'bps"),
    ({"throttling": 5}, "throttling must be a mapping"),
    ({"stats_intervals": "60"}, "stats_intervals must be a sequence"),
])
def test_builder_programming_errors_are_type_errors(fields: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("?", r"\?")):
        qdrive.drive(file="x", **fields)


def test_builder_2008_dialect() -> None:
    d = qdrive.drive(dialect="qemu-0.9-sync", file="x.img", cache="off", sync=True)
    assert d.dialect == "qemu-0.9-sync" and d.sync is True


def test_check_takes_drive_objects_and_gives_argv() -> None:
    boot = qdrive.drive(file="disk.img", format="raw", interface="virtio")
    result = qdrive.check([boot, "file=cd.iso,format=raw,media=cdrom"], probe_files=False)
    assert result.ok
    assert result.to_args() == ["-drive", "file=disk.img,format=raw,if=virtio",
                                "-drive", "file=cd.iso,format=raw,media=cdrom"]
    args = result.to_blockdev_args()
    assert args.count("-blockdev") == 4 and args.count("-device") == 2
    assert qdrive.check(boot, probe_files=False).drives[0].drive == boot


def test_shorthands_keep_their_option_in_to_args() -> None:
    result = qdrive.check([qdrive.DriveArg("a,b.img", "-hda", "media=disk",
                                           (("if", "ide"), ("index", "0"),
                                            ("file", "a,b.img")))], probe_files=False)
    assert result.to_args() == ["-hda", "a,b.img"]


def test_raise_for_error_raises_what_qemu_stops_at() -> None:
    result = qdrive.check(["file=a.img,format=raw,aio=native", "file=b.img,format=raw,if=xen,"
                           "id=x", "file=c.img,format=raw,id=x"], probe_files=False)
    with pytest.raises(qdrive.DriveSyntaxError) as info:  # duplicate ids: found at parse time
        result.raise_for_error()
    assert info.value.message == "Duplicate ID 'x' for drive"
    with pytest.raises(qdrive.DriveError):
        result.to_args()
    qdrive.check("file=a.img,format=raw", probe_files=False).raise_for_error()


def test_dir_lists_the_lazy_names_without_loading_them() -> None:
    code = ("import sys, qdrive; names = dir(qdrive); "
            "assert {'open', 'RawDevice', 'drive', 'suggest_fix', 'verify'} <= set(names); "
            "assert not {'Any', 'Sequence', 'TYPE_CHECKING', '_LAZY'} & set(names), names; "
            "lazy = ('qdrive.frontend.builder', 'qdrive.frontend.fixes', 'qdrive.frontend.verify', "
            "'qdrive.frontend.compare', 'qdrive.frontend.autodialect', 'qdrive.block.driver', "
            "'lark', 'cffi'); loaded = [m for m in sys.modules if m.startswith(lazy)]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_is_documented() -> None:
    for name in qdrive.__all__:
        obj = getattr(qdrive, name)
        if callable(obj) and not isinstance(obj, type) or isinstance(obj, type):
            assert (obj.__doc__ or "").strip(), name


def test_async_with(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(1 << 20))

    async def main() -> bytes:
        async with qdrive.open(f"file={path},format=raw", backend="threads") as dev:
            await dev.write(b"x" * 4096, 8192)
            data = await dev.read(4096, 8192)
        assert dev._closed
        return data

    assert asyncio.run(main()) == b"x" * 4096
    assert path.read_bytes()[8192:8192 + 4096] == b"x" * 4096


def test_async_with_keeps_the_blocks_exception(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(1 << 20))

    async def main() -> None:
        async with qdrive.open(f"file={path},format=raw", backend="threads"):
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        asyncio.run(main())
    assert dev_closed(path)


def dev_closed(path: Path) -> bool:
    # The image lock is released: a writer can open it again.
    with qdrive.open(f"file={path},format=raw", backend="threads"):
        return True


LAUNCHER = '''
    """A launcher as a user writes it, type-checked with mypy --strict."""
    from __future__ import annotations

    import qdrive


    def command_line(image: str, cdrom: str | None) -> list[str]:
        drives: list[qdrive.Drive] = [qdrive.drive(file=image, format="raw",
                                                   interface="virtio", cache="none",
                                                   aio="native")]
        if cdrom is not None:
            drives.append(qdrive.drive(file=cdrom, format="raw", media="cdrom"))
        result: qdrive.CheckResult = qdrive.check(drives, probe_files=False)
        result.raise_for_error()
        fix: qdrive.Fix | None = qdrive.suggest_fix("file=x,aio=native")
        if fix is not None:
            print(fix.text, *fix.changes)
        for r in result.drives:
            if r.placement is not None:
                print(r.placement.device_id)
        try:
            qdrive.parse_drive("file=x,cache=bogus")
        except qdrive.DriveError as exc:
            start, end = exc.span
            print(exc.message, start, end, exc.fix)
        return ["qemu-system-x86_64", "-nodefaults", *result.to_args()]


    def blockdev(image: str) -> list[str]:
        return qdrive.check(qdrive.drive(file=image, format="raw"),
                            probe_files=False).to_blockdev_args()


    async def touch(image: str) -> int:
        async with qdrive.open(f"file={image},format=raw") as dev:
            return await dev.write(b"boot", 0)
'''


@pytest.mark.skipif(shutil.which("mypy") is None and not (Path(sys.executable).parent /
                                                          "mypy").exists(),
                    reason="mypy is not installed (pip install -e '.[test]')")
def test_consumer_is_mypy_strict_clean(tmp_path: Path) -> None:
    src = tmp_path / "my_launcher.py"
    src.write_text(textwrap.dedent(LAUNCHER))
    # follow-imports=silent: qdrive's own modules are read for their types, as an installed
    # package is, and only the consumer's code is judged.
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                        "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
                        str(src), str(REPO / "examples" / "launcher.py")],
                       capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "MYPYPATH": str(REPO)})
    assert p.returncode == 0, p.stdout + p.stderr
    assert (REPO / "qdrive" / "py.typed").exists()
