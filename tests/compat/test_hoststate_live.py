"""Every modelled host-state case, live: qdrive's check() and the real QEMU 7.2 agree in
each host state the harness builds (tests/compat/hoststate.py).

Runs as root with qemu-system-x86_64 installed (make test installs it when root); a state
that cannot be built here (no root, no /dev/fuse, a kernel without the io_uring sysctl) is
skipped with the reason. Cases marked ``needs`` are not modelled yet (none since issue 14
modelled the -blockdev ones); the last test checks that each still disagrees with its
recording, so a mark cannot go stale.
"""

from __future__ import annotations

import shutil
from collections import defaultdict

import pytest

from tests.compat import compare, corpus, hoststate, oracle

pytestmark = pytest.mark.live

BY_STATE: dict[str, list[dict]] = defaultdict(list)
for _case in hoststate.cases():
    if hoststate.modelled(_case):
        BY_STATE[_case["state"]].append(_case)


@pytest.mark.skipif(shutil.which(oracle.QEMU) is None,
                    reason="qemu-system-x86_64 not installed (make test installs it as root)")
@pytest.mark.parametrize("state", sorted(BY_STATE))
def test_qdrive_agrees_with_qemu_in_host_state(state: str) -> None:
    try:
        bad = hoststate.disagreements_in(state, BY_STATE[state])
    except hoststate.Unavailable as why:
        pytest.skip(f"host state {state}: {why}")
    report = [f"{c['id']}: {compare.key(c)} {cats}\n  QEMU  : {w['accepted']} {w['stderr']!r}"
              f"\n  qdrive: {g['accepted']} {g['stderr']!r}" for c, w, g, cats in bad]
    assert not report, "\n".join(report)


def test_every_state_has_cases() -> None:
    assert set(BY_STATE) == set(hoststate.STATES)
    assert all(len(cases) >= 4 for cases in BY_STATE.values())


def test_unmodelled_cases_still_disagree() -> None:
    """A ``needs`` mark is honest: qdrive still parts from the recorded QEMU 7.2 there
    (-blockdev lines whose host state qdrive does not judge on -blockdev nodes yet)."""
    _, recorded = corpus.read(oracle.qemu("7.2").fixtures / "hoststate.jsonl")
    by_id = {r["id"]: r for r in recorded}
    marked = [c for c in hoststate.cases() if not hoststate.modelled(c)]
    for case in marked:
        got = compare.ours_safely(corpus.as_case(case) or {})
        assert compare.disagreements(compare.verdict(by_id[case["id"]]), got), case["id"]
