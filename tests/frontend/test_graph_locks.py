"""qdrive.frontend._graph_locks: one drive's graph against its own image locks."""

from __future__ import annotations

from pathlib import Path

from qdrive.frontend import _graph_locks as graph_locks


def _img(tmp_path: Path, name: str = "a.img") -> str:
    p = tmp_path / name
    p.write_bytes(bytes(512))
    return str(p)


def test_a_reader_after_a_writer_cannot_unshare_write(tmp_path: Path) -> None:
    img = _img(tmp_path)
    with graph_locks.one_graph():
        assert graph_locks.take(img, True) == ""
        assert graph_locks.take(img, False).startswith('Failed to get shared "write" lock')


def test_a_writer_after_any_holder_cannot_take_write(tmp_path: Path) -> None:
    img = _img(tmp_path)
    with graph_locks.one_graph():
        assert graph_locks.take(img, False) == ""
        assert graph_locks.take(img, True) == (
            f'Failed to get "write" lock\nIs another process using the image [{img}]?')
    with graph_locks.one_graph():
        assert graph_locks.take(img, True) == ""
        assert graph_locks.take(img, True).startswith('Failed to get "write" lock')


def test_readers_share_and_other_files_and_names_are_apart(tmp_path: Path) -> None:
    img, other = _img(tmp_path), _img(tmp_path, "b.img")
    link = tmp_path / "c.img"
    link.symlink_to(img)
    with graph_locks.one_graph():
        assert graph_locks.take(img, False) == ""
        assert graph_locks.take(img, False) == ""  # two readers
        assert graph_locks.take(other, True) == ""  # another file
        assert "[" + str(link) + "]" in graph_locks.take(str(link), True)  # the same inode


def test_outside_a_graph_and_for_missing_files_nothing_is_held(tmp_path: Path) -> None:
    img = _img(tmp_path)
    assert graph_locks.take(img, True) == "" and graph_locks.take(img, True) == ""
    with graph_locks.one_graph():
        missing = str(tmp_path / "missing.img")
        assert graph_locks.take(missing, True) == "" and graph_locks.take(missing, True) == ""
    with graph_locks.one_graph():  # a new graph forgets the last one's holders
        assert graph_locks.take(img, True) == ""
