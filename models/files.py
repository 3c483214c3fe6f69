"""Atomic file writes: a reader (or the next run after a crash) sees the old file or the new one,
never a part of the new one.

Every write goes the same way: a temporary file in the target's own directory (``.tmp-<random>-<name>``,
so it keeps the name's suffix and the ``.tmp-*`` globs that clean up after a killed job find it),
flushed and fsynced, ``os.replace``-d over the target (atomic on POSIX), then the directory is fsynced
so the rename itself survives a power cut. A failure before the rename removes the temporary file and
leaves any previous file as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_dir(path: str | Path) -> None:
    """Make the directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp_path(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{secrets.token_hex(6)}-{path.name}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path) -> Path:
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def atomic_write(path: str | Path, data: bytes | str, *, encoding: str = "utf-8", mode: int = 0o666) -> Path:
    """Replace ``path`` whole with ``data`` (text is encoded with ``encoding``).

    ``mode`` is the new file's permission before the umask (the default gives what ``open`` gives).
    The parent directory must exist.
    """
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    tmp = _tmp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        return _publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_with(path: str | Path, produce: Callable[[Path], object], *, mode: int = 0o666) -> Path:
    """Replace ``path`` whole with the file ``produce(tmp)`` writes at the temporary path it is given
    (for writers that take a path: ``lambda p: df.to_parquet(p)``, ``lambda p: np.save(p, a)``).

    The temporary path ends with ``path``'s name, so a writer that adds a missing suffix adds none.
    """
    path = Path(path)
    tmp = _tmp_path(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    try:
        produce(tmp)
        _fsync_file(tmp)
        return _publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_symlink(link: str | Path, target: str | Path) -> Path:
    """Make ``link`` a symlink to ``target`` (relative targets stay relative), replacing whatever
    ``link`` was in one step: a reader follows the old target or the new one, never none."""
    link = Path(link)
    tmp = _tmp_path(link)
    os.symlink(target, tmp)
    try:
        return _publish(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
