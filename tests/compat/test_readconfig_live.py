"""-readconfig: what each section meets as util/qemu-config.c hands it on (the id of a
section is checked before the next one is read; the last one exits before its hint), and
where a later error of a section's drive is located (``prog:FILE:LINE: ``). Each file is
started under the real QEMU 7.2 and qdrive's verdict and message must be QEMU's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import compare, oracle

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not oracle.have_qemu("7.2"), reason="QEMU 7.2 not installed")]

DRIVE = '  file = "disk.img"\n  format = "raw"\n'
FILES = {
    "bad id, then an unknown group": f'[drive "1bad"]\n{DRIVE}\n[drive-x]\n{DRIVE}',
    "bad id last": f'[drive "ok"]\n{DRIVE}\n[drive "1bad"]\n{DRIVE}',
    "bad id of another group, mid-file": '[device "1bad"]\n  driver = "virtio-rng-pci"\n'
                                         f'[drive "d0"]\n{DRIVE}',
    "bad id of another group, last": f'[drive "d0"]\n{DRIVE}[device "1bad"]\n'
                                     '  driver = "virtio-rng-pci"\n',
    "good ids": f'[drive "a"]\n{DRIVE}  if = "none"\n[drive "b"]\n  file = "disk2.img"\n'
                '  format = "raw"\n  if = "none"\n',
    "one image twice, the second section last": f'[drive "a"]\n{DRIVE}  if = "none"\n'
                                                f'[drive "b"]\n{DRIVE}  if = "none"\n',
    "one image twice, then a third section": f'[drive "a"]\n{DRIVE}  if = "none"\n'
                                             f'[drive "b"]\n{DRIVE}  if = "none"\n'
                                             '[drive "c"]\n  file = "disk2.img"\n'
                                             '  format = "raw"\n  if = "none"\n',
}


@pytest.mark.parametrize("name", FILES)
def test_a_config_file_is_read_as_qemu_reads_it(name: str, in_images: Path) -> None:
    case = {"argv": ["-readconfig", "rc.cfg"], "files": {"rc.cfg": FILES[name]}}
    ours, qemus = compare.live_verdicts(case, in_images)
    assert ours == qemus
