"""Input spike trains: seeded random trains, and reading and writing spike files.

A spike train is a list with one entry per timestep: an int64 array of the input indices that
spike in that timestep, in the order they are presented to the core.

File formats
------------
``.txt``
    One line per timestep: the input indices, separated by spaces, in order. An empty line is
    a timestep without input. Lines starting with ``#`` are comments.
``.npy``
    A boolean or 0/1 raster of shape ``(timesteps, input.size)``; each timestep's events are
    the set inputs in ascending order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["random_events", "load_events", "save_events"]


def random_events(n_in: int, timesteps: int, activity: float, seed: int) -> list[np.ndarray]:
    """Each input spikes independently with probability ``activity`` in each timestep; events
    of a timestep are in ascending index order."""
    if not 0.0 <= activity <= 1.0:
        raise InputError(f"activity = {activity}: must be between 0 and 1")
    if timesteps < 0:
        raise InputError(f"timesteps = {timesteps}: must be at least 0")
    if seed < 0:
        raise InputError(f"seed = {seed}: must be at least 0")
    rng = np.random.default_rng(seed)
    raster = rng.random((timesteps, n_in)) < activity
    return [np.flatnonzero(row).astype(np.int64) for row in raster]


def load_events(path: str | Path, n_in: int) -> list[np.ndarray]:
    """Read a spike file (``.txt`` or ``.npy``, see module docs) for a layer of ``n_in`` inputs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such input file")
    if path.suffix == ".npy":
        try:
            raster = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise InputError(f"{path}: not a NumPy array file ({e or 'empty file'})") from None
        if raster.ndim != 2 or raster.shape[1] != n_in:
            raise InputError(f"{path}: raster has shape {raster.shape}, must be "
                             f"(timesteps, {n_in})")
        if raster.dtype != bool and not np.isin(raster, (0, 1)).all():
            raise InputError(f"{path}: raster must hold only 0 and 1 (or booleans)")
        return [np.flatnonzero(row).astype(np.int64) for row in raster]
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read spike file ({e})") from None
    events = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            continue
        try:
            idx = np.array([int(x) for x in line.split()], dtype=np.int64)
        except ValueError:
            raise InputError(f"{path}:{lineno}: expected input indices separated by "
                             f"spaces, got {line.strip()!r}") from None
        if idx.size and (idx.min() < 0 or idx.max() >= n_in):
            raise InputError(f"{path}:{lineno}: input index out of range 0..{n_in - 1}")
        events.append(idx)
    return events


def save_events(path: str | Path, events: list[np.ndarray]) -> None:
    """Write a spike train in the ``.txt`` format."""
    Path(path).write_text("".join(" ".join(map(str, e.tolist())) + "\n" for e in events))
