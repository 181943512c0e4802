"""qdrive.Policy through the API: refusals are errors with their own code and span."""

from __future__ import annotations

from pathlib import Path

import qdrive


def test_untrusted_refusals_carry_spans(in_images: Path) -> None:
    policy = qdrive.Policy.untrusted([str(in_images)])
    r = qdrive.check("file=disk.img,format=raw,file.driver=ssh", policy=policy)
    (d,) = r.drives
    assert d.error is not None and d.error.code == "policy-protocol"
    text = "file=disk.img,format=raw,file.driver=ssh"
    assert text[d.error.span.start:d.error.span.end] == "file.driver=ssh"
    assert qdrive.check("file=disk.img,format=raw", policy=policy).ok


def test_trusted_policy_refuses_nothing(in_images: Path) -> None:
    assert qdrive.check("file=/etc/hostname,format=raw,if=virtio,read-only=on",
                        policy=qdrive.Policy()).ok


def test_refused_paths_are_not_opened(in_images: Path) -> None:
    # A path outside the allowed directories is refused before probing: the refusal,
    # not "Could not open", is what the caller sees.
    policy = qdrive.Policy.untrusted([str(in_images / "sub")])
    (d,) = qdrive.check("file=missing.img,format=raw", policy=policy).drives
    assert d.error is not None and d.error.code == "policy-path"
