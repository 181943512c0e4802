"""Verify a running VM: what qdrive predicted against what the running QEMU reports.

:func:`verify` takes a connected ``qemu.qmp.QMPClient`` and the :class:`CheckResult` of
the drives the VM was started with, asks ``query-block`` (and ``qom-get`` for each
attached device's type, ``query-named-block-nodes`` for drives with a node-name) and
returns every mismatch: a device missing or unexpected, read-only, the driver, the cache
triple, detect-zeroes, the throttle limits, the device type, removability. The predicted
side is :func:`qdrive.frontend.facts.query_block`, the same facts the compatibility corpus scores.
Everything asked is read-only: verify never changes the VM.

qemu.qmp is an optional dependency (``pip install qdrive[qmp]``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import QDriveError

if TYPE_CHECKING:
    from .results import CheckResult

__all__ = ["Mismatch", "verify", "verify_socket", "VerifyError"]

_COMPARED = ("removable", "type", "ro", "drv", "cache", "detect_zeroes", "throttle")


class VerifyError(QDriveError, RuntimeError):
    """The VM cannot be asked (no socket, not a QMP server) or the drives were refused."""


@attrs.frozen
class Mismatch:
    """One fact the running QEMU reports differently from the prediction."""

    device: str
    fact: str
    predicted: Any
    actual: Any

    def __str__(self) -> str:
        return (f"{self.device}: {self.fact}: qdrive predicted {_show(self.predicted)}, "
                f"QEMU reports {_show(self.actual)}")

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "fact": self.fact, "predicted": self.predicted,
                "actual": self.actual}


def _show(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)  # null: the fact is not there


async def verify(client: Any, result: CheckResult) -> list[Mismatch]:
    """Every mismatch between ``result``'s prediction and the VM behind ``client``."""
    from .facts import query_block

    predicted = query_block(result)
    if predicted is None:
        raise VerifyError("the drives are refused by QEMU's rules: there is no running VM "
                          "to compare with (see qdrive check)")
    actual = {b["device"]: await _facts(client, b) for b in await client.execute("query-block")}
    out: list[Mismatch] = []
    for want in predicted:
        dev = want["device"]
        have = actual.pop(dev, None)
        if have is None:
            out.append(Mismatch(dev, "device", "present", "missing"))
            continue
        for fact in _COMPARED:
            if want.get(fact) != have.get(fact):
                out.append(Mismatch(dev, fact, want.get(fact), have.get(fact)))
    out += [Mismatch(dev, "device", "missing", "present") for dev in actual]
    out += await _nodes(client, result)
    return out


async def _facts(client: Any, block: dict[str, Any]) -> dict[str, Any]:
    # The facts of tests/compat/oracle.py, from one query-block entry (block/qapi.c).
    facts: dict[str, Any] = {"device": block["device"], "removable": block["removable"]}
    if block.get("qdev"):
        facts["type"] = await client.execute("qom-get", {"path": block["qdev"],
                                                         "property": "type"})
    inserted = block.get("inserted")
    if inserted is not None:
        from .facts import _THROTTLE_NAMES

        facts.update(ro=inserted["ro"], drv=inserted["drv"], cache=inserted["cache"],
                     detect_zeroes=inserted["detect_zeroes"],
                     throttle={k: inserted[k] for k in _THROTTLE_NAMES.values()
                               if inserted.get(k)})
    return facts


async def _nodes(client: Any, result: CheckResult) -> list[Mismatch]:
    """A drive with node-name= names its format node: it must exist in the VM."""
    named = [r.drive.node_name for r in result.drives if r.drive and r.drive.node_name]
    if not named:
        return []
    listed = await client.execute("query-named-block-nodes", {"flat": True})
    there = {n.get("node-name") for n in listed}
    return [Mismatch(name, "node-name", "present", "missing") for name in named
            if name not in there]


def verify_socket(socket: str, result: CheckResult, timeout: float = 30.0) -> list[Mismatch]:
    """:func:`verify` against the QMP server at ``socket`` (QEMU's ``-qmp unix:PATH,server``)."""
    first = result.first_error
    if first is not None:  # nothing to compare: QEMU would not have started
        raise VerifyError(f"the drives are refused by QEMU's rules ({first[1].message}): "
                          "there is no running VM to compare with (see qdrive check)")
    try:
        from qemu.qmp import QMPClient
    except ImportError:
        raise VerifyError("verify needs qemu.qmp: pip install 'qdrive[qmp]'") from None

    async def run() -> list[Mismatch]:
        client = QMPClient("qdrive-verify")
        try:
            await asyncio.wait_for(client.connect(socket), timeout)
        except Exception as exc:  # noqa: BLE001 - qemu.qmp wraps OSError in ConnectError
            raise VerifyError(f"cannot connect to QMP at {socket}: {exc}") from None
        try:
            return await asyncio.wait_for(verify(client, result), timeout)
        finally:
            await client.disconnect()

    import logging

    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)  # its EOF noise at disconnect
    return asyncio.run(run())


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
