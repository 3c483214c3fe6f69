"""models.files: the one atomic write (temp file in the same directory, fsync, replace, fsync dir)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from models.files import TMP_PREFIX, atomic_symlink, atomic_write, atomic_write_with


class Boom(Exception):
    pass


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each os.fsync call, as 'file' or 'dir' (the fd is inspected before the real fsync)."""
    calls: list[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        calls.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TMP_PREFIX))


def test_text_and_bytes_replace_the_content_whole(tmp_path: Path, fsyncs: list[str]) -> None:
    path = tmp_path / "rules.json"
    path.write_text("old content that is longer than the new one")
    assert atomic_write(path, "né") == path
    assert path.read_bytes() == "né".encode()
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    atomic_write(path, "ñ", encoding="latin-1")
    assert path.read_bytes() == b"\xf1"
    assert _leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["rules.json"]
    assert fsyncs == ["file", "dir"] * 3  # the file before the rename, its directory after


def test_mode_is_the_default_open_mode_unless_given(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    atomic_write(tmp_path / "a", "x")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o666 & ~umask
    atomic_write(tmp_path / "b", "x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "job.json"
    path.write_text("old")

    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", failing_fsync)
        with pytest.raises(OSError, match="disk full"):
            atomic_write(path, "new")
    assert path.read_text() == "old" and _leftovers(tmp_path) == []

    def failing_replace(src, dst) -> None:
        raise Boom

    with monkeypatch.context() as m:
        m.setattr(os, "replace", failing_replace)
        with pytest.raises(Boom):
            atomic_write(path, "new")
    assert path.read_text() == "old" and _leftovers(tmp_path) == []


def test_a_callback_raising_mid_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "part-00001.parquet"
    path.write_bytes(b"complete old part")
    seen = []

    def half_then_crash(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"half a fi")
        raise Boom

    with pytest.raises(Boom):
        atomic_write_with(path, half_then_crash)
    assert path.read_bytes() == b"complete old part" and _leftovers(tmp_path) == []
    (tmp,) = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(TMP_PREFIX) and tmp.name.endswith(path.name)

    with pytest.raises(Boom):  # a new file that fails: nothing at all is left
        atomic_write_with(tmp_path / "new.bin", half_then_crash)
    assert not (tmp_path / "new.bin").exists() and _leftovers(tmp_path) == []


def test_callback_write_keeps_the_suffix_and_fsyncs(tmp_path: Path, fsyncs: list[str]) -> None:
    path = tmp_path / "vectors.npy"
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    atomic_write_with(path, lambda tmp: np.save(tmp, vectors, allow_pickle=False))  # np.save adds no .npy
    np.testing.assert_array_equal(np.load(path), vectors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors.npy"]
    assert fsyncs == ["file", "dir"]


def test_symlink_is_replaced_in_one_step(tmp_path: Path, fsyncs: list[str]) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    link = tmp_path / "latest"
    atomic_symlink(link, "v1")
    assert os.readlink(link) == "v1"
    atomic_symlink(link, "v2")
    assert os.readlink(link) == "v2" and link.resolve() == (tmp_path / "v2").resolve()
    assert _leftovers(tmp_path) == []
    assert fsyncs == ["dir", "dir"]
