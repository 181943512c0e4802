"""The converter builds a typed DriveDraft, frozen into a Drive at the end (issue 13)."""

from __future__ import annotations

import typing

import attrs
import pytest

from qdrive import DriveFieldError
from qdrive.frontend._draft import DriveDraft
from qdrive.frontend._walk import Walk
from qdrive.model import CacheMode, Drive, Interface
from qdrive.options import OPTIONS


def _types(cls: type) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {a.name: hints[a.name] for a in attrs.fields(cls)}


def test_the_draft_has_every_field_of_the_drive_but_its_dialect() -> None:
    drive = _types(Drive)
    draft = _types(DriveDraft)
    assert set(drive) - set(draft) == {"dialect"}
    assert set(draft) <= set(drive)
    # The same types, except the maps the Drive freezes (the draft's are dicts it fills).
    mutable = {"throttling", "driver_options"}
    assert {k: v for k, v in draft.items() if k not in mutable} == {
        k: drive[k] for k in draft if k not in mutable}


def test_every_field_the_option_table_names_exists_on_the_draft() -> None:
    draft = DriveDraft()
    for key, row in OPTIONS.items():
        if row.field and row.field != "throttling":
            draft.put(row.field, getattr(draft, row.field))  # no AttributeError
            assert hasattr(draft, row.field), key


def test_put_refuses_a_name_the_drive_lacks() -> None:
    draft = DriveDraft()
    with pytest.raises(AttributeError, match="'no_such_field'"):
        draft.put("no_such_field", 1)
    with pytest.raises(AttributeError):
        draft.no_such_field = 1  # type: ignore[attr-defined]  # slots: no stray attribute


def test_build_freezes_and_checks_the_fields() -> None:
    draft = DriveDraft(file="a.img", interface=Interface.VIRTIO)
    draft.throttling["throttling.iops-total"] = 5
    draft.driver_options["file.locking"] = "off"
    drive = draft.build("qemu-10.0")
    assert drive == Drive(dialect="qemu-10.0", file="a.img", interface=Interface.VIRTIO,
                          throttling={"throttling.iops-total": 5},
                          driver_options={"file.locking": "off"})
    draft.throttling["throttling.bps-total"] = 1  # the Drive holds its own copy
    assert "throttling.bps-total" not in drive.throttling
    draft.put("cache", "bogus")
    with pytest.raises(DriveFieldError) as info:
        draft.build("qemu-7.2")
    assert info.value.field == "cache"
    assert DriveDraft(cache=CacheMode.NONE).build("qemu-7.2").cache is CacheMode.NONE


def test_the_walk_keeps_no_dictionary_of_field_names() -> None:
    # The shape the issue asked for: the walk's Drive-in-progress is the typed draft.
    assert "draft" in Walk.__init__.__code__.co_names
    assert "f" not in Walk.__init__.__code__.co_names
