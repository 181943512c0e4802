from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat import oracle


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the corpus images (disk.img, disk.qcow2, cd.iso ...)."""
    where = tmp_path_factory.mktemp("images")
    oracle.make_images(where)
    return where


@pytest.fixture
def in_images(images: Path) -> Iterator[Path]:
    here = os.getcwd()
    os.chdir(images)
    try:
        yield images
    finally:
        os.chdir(here)
