"""qdrive 0.1's module paths and Drive members still answer in 0.2, with a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import qdrive
from qdrive._aliases import ALIASES

_FRESH = ("import sys, warnings; warnings.simplefilter('error'); import qdrive\n"
          "try:\n    import {old}\nexcept DeprecationWarning as w:\n    print(w)\n")


@pytest.mark.parametrize("old", sorted(ALIASES))
def test_each_old_path_is_the_new_module(old: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert importlib.import_module(old) is importlib.import_module(ALIASES[old])


def test_the_old_path_warns_with_the_new_one() -> None:
    # A fresh interpreter: here the alias may have been imported (and warned) already.
    out = subprocess.run([sys.executable, "-c", _FRESH.format(old="qdrive.flags")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("qdrive.flags moved to qdrive.block.flags in qdrive 0.2; "
                                  "the old path goes in 0.3")


def test_a_submodule_of_an_old_package_is_loaded_once() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("qdrive.backends.threads")
    new = importlib.import_module("qdrive.block.backends.threads")
    assert old is new and old.__name__ == "qdrive.block.backends.threads"


def test_check_stays_the_function() -> None:
    # No alias for qdrive.check: importing a submodule of that name would replace it.
    assert "qdrive.check" not in ALIASES
    assert callable(qdrive.check) and qdrive.check("file=a.img,format=raw", probe_files=False).ok


def test_unknown_names_are_left_to_the_other_finders() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("qdrive.no_such_module")


def test_drive_forwards_warn_and_agree_with_the_stages() -> None:
    d = qdrive.parse_drive("file=a.img,format=raw,if=virtio,cache=none")
    with pytest.warns(DeprecationWarning, match=r"qdrive\.bdrv_flags\(drive\)"):
        assert d.bdrv_flags == qdrive.bdrv_flags(d)
    with pytest.warns(DeprecationWarning, match=r"qdrive\.open_flags\(drive\)"):
        assert d.open_flags == qdrive.open_flags(d)
    with pytest.warns(DeprecationWarning):
        assert d.to_blockdev_args() == list(qdrive.to_blockdev(d).args())
    with pytest.warns(DeprecationWarning):
        assert d.to_blockdev().args() == qdrive.to_blockdev(d).args()


def test_the_driver_reads_no_strings() -> None:
    from qdrive.block import driver

    with pytest.raises(TypeError, match=r"qdrive\.open\(\) also takes a -drive string"):
        driver.open("file=a.img,format=raw")
