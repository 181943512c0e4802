"""The QAPI visitor over the derived 7.2 schema: keyval and JSON, QEMU's messages."""

from __future__ import annotations

import pytest

from qdrive.frontend.blockdev_args import BlockdevError, parse_blockdev


def test_keyval_scalars_are_typed_by_the_schema() -> None:
    got = parse_blockdev("driver=file,filename=a.img,node-name=n,read-only=on,"
                         "aio-max-batch=0x10,cache.direct=yes")
    assert got["read-only"] is True and got["aio-max-batch"] == 16
    assert got["cache"] == {"direct": True}


def test_children_by_reference_or_inline() -> None:
    assert parse_blockdev("qcow2,node-name=n,file=f")["file"] == "f"
    inline = parse_blockdev('{"driver":"qcow2","node-name":"n","file":{"driver":"file",'
                            '"filename":"x"}}')
    assert inline["file"] == {"driver": "file", "filename": "x"}


@pytest.mark.parametrize(("text", "message"), [
    ("node-name=n0,cache.direct=on", "Parameter 'driver' is missing"),
    ("driver=nosuch", "Parameter 'driver' does not accept value 'nosuch'"),
    ("driver=raw,node-name=n", "Parameter 'file' is missing"),
    ("driver=file,node-name=n,filename=x,file=y", "Parameter 'file' is unexpected"),
    ("driver=file,filename=x,read-only=maybe", "Parameter 'read-only' expects 'on' or 'off'"),
    ("driver=file,filename=x,aio-max-batch=x", "Parameter 'aio-max-batch' expects integer"),
    ("driver=file,filename=x,aio=bogus", "Parameter 'aio' does not accept value 'bogus'"),
    ("raw,file.driver=file,file.filename=x,file.bogus=1", "Parameter 'file.bogus' is unexpected"),
    ("raw,file.filename=x", "Parameter 'file.driver' is missing"),
    ("driver=file,filename.x=1", "Parameters 'filename.*' are unexpected"),
    ('{"driver":"file","filename":"x","cache":{"direct":"yes"}}',
     "Invalid parameter type for 'cache.direct', expected: boolean"),
    ('{"driver":"file","filename":1}', "Invalid parameter type for 'filename', expected: string"),
    ('{"driver":"file","filename":"x","cache":true}',
     "Invalid parameter type for 'cache', expected: object"),
    ('{"driver":"raw","file":true}', "Invalid parameter type for 'file', expected: BlockdevRef"),
    ('{"driver"', "JSON parse error, premature EOI"),
    ('{"driver":"file","fi', "JSON parse error, stray '\"fi'"),
])
def test_errors_are_qemus(text: str, message: str) -> None:
    with pytest.raises(BlockdevError) as e:
        parse_blockdev(text)
    assert str(e.value) == message
