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
def atomic_dir(path: str | Path, marker: str = "report.json") -> Iterator[Path]:
    """Yield a hidden sibling folder of ``path`` to fill; it replaces ``path`` only when the
    body succeeds. On an error or Ctrl-C it is removed and ``path`` is left as it was.

    An existing ``path`` is replaced only if it is empty or holds ``marker`` (an earlier
    result of the same kind); any other folder or file is refused, never deleted."""
    path = Path(path)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir())
                                                 or (path / marker).is_file())):
        raise OutputError(f"{path}: exists and is not an earlier result (no {marker}); "
                          "choose another --out, or remove it first")
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
    moved = False
    try:
        if path.exists():
            path.rename(old)
            moved = True
        tmp.rename(path)
    except OSError as e:
        if moved and not path.exists():
            old.rename(path)  # put the earlier result back
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{path}: cannot replace the output folder ({e.strerror})") from None
    if moved:
        shutil.rmtree(old, ignore_errors=True)
