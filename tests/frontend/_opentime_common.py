"""What the open-time tests share: a verdict cut down to QEMU's last line."""

from __future__ import annotations

import qdrive


def verdict(text: str, **options: object) -> tuple[bool, str]:
    """qdrive.check(text)'s ok and the last stderr line without QEMU's option prefix,
    the shape the corpus's messages are compared in."""
    r = qdrive.check(text, **options)  # type: ignore[arg-type]
    last = r.qemu_stderr().splitlines()[-1] if r.qemu_stderr() else ""
    return r.ok, last.removeprefix(f"qemu-system-x86_64: -drive {text}: ")
