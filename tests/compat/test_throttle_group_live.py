"""-object throttle-group through util/throttle.c throttle_is_valid() as
block/throttle-groups.c throttle_group_obj_complete() runs it, each case started under
the real QEMU 7.2: every rule once (the x- properties and the JSON limits struct), and
the accepted shapes beside them. QEMU prints these errors without the option's location;
qdrive's verdict and message must be QEMU's, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

_TG = "throttle-group,id=tg0,"
OBJECTS = [
    _TG + "x-bps-total=512000,x-iops-total-max-length=5",  # a length without its burst
    _TG + "x-bps-total-max=100",  # a burst without its rate
    _TG + "x-bps-total-max-length=0",  # the lengths default to 1; 0 is refused
    _TG + "x-iops-size=4096",  # iops-size without an iops limit
    _TG + "x-bps-total=10,x-bps-read=5",  # total beside read/write
    _TG + "x-iops-total-max=10,x-iops-write-max=5",  # the same for the bursts
    _TG + "x-bps-total-max=5,x-bps-total=10",  # a burst below its rate
    _TG + "x-bps-total=10,x-bps-total-max=20,x-bps-total-max-length=1000000000000000",
    _TG + "x-bps-total=1000000000000001",  # past THROTTLE_VALUE_MAX
    _TG + "x-bps-total=1000000000000000",  # at it
    # the setter's burst-length range, at and one past UINT_MAX, then the length against
    # its burst (THROTTLE_VALUE_MAX / max)
    _TG + "x-bps-total=10,x-bps-total-max=20,x-bps-total-max-length=4294967295",
    _TG + "x-bps-total=10,x-bps-total-max=20,x-bps-total-max-length=4294967296",
    _TG + "x-bps-total=10,x-bps-total-max=1000000,x-bps-total-max-length=4294967295",
    _TG + "x-bps-total=10,x-bps-total-max=1000000,x-bps-total-max-length=1000000000",
    _TG + "x-iops-read=-1",  # the setter's own refusal comes first
    '{"qom-type":"throttle-group","id":"tg0","limits":{"iops-total-max-length":5}}',
    '{"qom-type":"throttle-group","id":"tg0","limits":{"iops-total":5,"iops-total-max":9,'
    '"iops-total-max-length":60}}',
    _TG + "x-bps-total=5,x-bps-total-max=10,x-bps-total-max-length=60,x-iops-size=0",
    _TG + "x-iops-total=100,x-iops-size=4096",
]


@pytest.mark.parametrize("obj", OBJECTS)
def test_throttle_group_limits_are_qemus(obj: str, in_images: Path) -> None:
    ours, qemus = compare.live_verdicts({"argv": ["-object", obj]}, in_images)
    assert ours == qemus


def test_the_cases_cover_both_verdicts(in_images: Path) -> None:
    seen = {compare.live_verdicts({"argv": ["-object", o]}, in_images)[1][0]
            for o in (OBJECTS[0], OBJECTS[-1])}
    assert seen == {True, False}
