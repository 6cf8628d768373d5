"""Output folders that are written all at once, so that a failed or interrupted run never
leaves a half-written result where a complete one is expected."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_dir"]


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a hidden sibling folder of ``path`` to fill; it replaces ``path`` (and whatever
    was there) only when the body succeeds. On an error or Ctrl-C it is removed and ``path``
    is left as it was."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as e:
        raise OutputError(f"{path}: cannot create output folder ({e.strerror})") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    try:
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{path}: cannot replace the output folder ({e.strerror})") from None
    shutil.rmtree(old, ignore_errors=True)
