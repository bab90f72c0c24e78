"""Atomic publication of a folder (an adapter into ``adapters/<key>/``, a prepared data set).

The files are written into a temporary folder *next to* the target (same file system, so a
rename is atomic) whose name starts with ``.`` — the server's adapter registry ignores folders
starting with ``.`` or ``_`` — flushed to disk (fsync of every file and of the folders), then
renamed into place:

* target absent: one ``rename(staging, target)``;
* target present, Linux: ``renameat2(RENAME_EXCHANGE)`` swaps the two folders in one atomic step
  (no moment without a target), then the old one (now under the staging name) is deleted;
* target present elsewhere (or a file system without RENAME_EXCHANGE): rename the target aside
  to ``.<name>.old-…``, rename the new one in, delete the old. Between the two renames (a few
  microseconds) ``<key>/`` does not exist: a registry scan landing exactly there sees the key
  vanish and serves the base model until the new folder has been stable for
  ``EXTRACTOR_ADAPTER_STABLE_S``. A crash there leaves the previous version in ``.<name>.old-…``
  (rename it back by hand).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (and ``root`` itself)."""
    root = Path(root)
    for folder, dirs, files in os.walk(root):
        for name in files:
            _fsync_path(Path(folder) / name)
        for name in dirs:
            _fsync_path(Path(folder) / name, directory=True)
    _fsync_path(root, directory=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False when not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM, errno.EXDEV):
        return False
    raise OSError(err, f"renameat2({a}, {b}, RENAME_EXCHANGE) failed: {os.strerror(err)}")


def staging_path(target: Path, tag: str = "tmp") -> Path:
    """A fresh hidden sibling of ``target``: ``.<name>.<tag>-<pid>-<random>``."""
    target = Path(target)
    return target.parent / f".{target.name}.{tag}-{os.getpid()}-{secrets.token_hex(3)}"


def replace_dir(staging: Path, target: Path) -> None:
    """Move the finished ``staging`` folder to ``target`` atomically, replacing any previous one."""
    staging, target = Path(staging), Path(target)
    fsync_tree(staging)
    parent = target.parent
    if target.exists() or target.is_symlink():
        if target.is_dir() and not target.is_symlink() and _exchange(staging, target):
            _fsync_path(parent, directory=True)
            shutil.rmtree(staging, ignore_errors=True)  # holds the previous version now
            return
        old = staging_path(target, "old")
        os.replace(target, old)
        try:
            os.replace(staging, target)
        except OSError:
            os.replace(old, target)  # put the previous version back
            raise
        _fsync_path(parent, directory=True)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
        return
    os.replace(staging, target)
    _fsync_path(parent, directory=True)


@contextlib.contextmanager
def publishing(target: Path, tag: str = "tmp") -> Iterator[Path]:
    """``with publishing(target) as tmp:`` write into ``tmp``; on success it replaces ``target``
    atomically, on an exception ``tmp`` is deleted and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(target, tag)
    staging.mkdir()
    try:
        yield staging
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
