"""MNIST and Fashion-MNIST from their IDX files.

Where the files are looked for, in order:

1. the ``data_dir`` argument (``--data-dir`` on the command line);
2. the ``$SNNHW_DATA`` environment variable;
3. the user cache folder, ``$XDG_CACHE_HOME/snnhw`` (default ``~/.cache/snnhw``).

In each place, the files may be directly in the folder or in a subfolder named after the
dataset (``mnist/``, ``fashion-mnist/``). When they are found nowhere, they are downloaded into
the cache folder from their canonical locations and checked against the published MD5 sums.
If that fails, :class:`DatasetError` says where the files were looked for.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, SnnhwError

__all__ = ["DatasetError", "Dataset", "DATASETS", "load_dataset", "dataset_dirs", "sample_order",
           "check_input_size"]

log = logging.getLogger(__name__)


class DatasetError(SnnhwError):
    """A dataset is missing, unreachable or corrupt."""


@dataclass(frozen=True)
class _Spec:
    name: str
    urls: tuple[str, ...]
    md5: dict[str, str]


_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DATASETS = {
    "mnist": _Spec(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": _Spec(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split: ``images`` uint8 ``(n, 28, 28)`` and ``labels`` uint8 ``(n,)``."""

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "snnhw"


def dataset_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched, in order (see the module documentation)."""
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    if os.environ.get("SNNHW_DATA"):
        dirs.append(Path(os.environ["SNNHW_DATA"]))
    dirs.append(_cache_dir())
    return dirs


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find(spec: _Spec, filename: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for candidate in (d / filename, d / spec.name / filename):
            if candidate.is_file():
                return candidate
    return None


def _download(spec: _Spec, filename: str, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    errors = []
    for base in spec.urls:
        url = base + filename
        log.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                data = r.read()
        except (urllib.error.URLError, OSError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        if hashlib.md5(data).hexdigest() != spec.md5[filename]:
            errors.append(f"{url}: checksum mismatch")
            continue
        tmp = dest.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(dest)
        return dest
    raise DatasetError(f"{spec.name} file {filename} not found and could not be downloaded "
                       f"({'; '.join(errors)})")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x0800 | ndim:
        raise DatasetError(f"{path}: not an IDX file of {ndim} dimension(s) "
                           f"(magic {magic:#x})")
    dims = [int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: truncated ({data.size} bytes for shape {dims})")
    return data.reshape(dims)


def load_dataset(name: str, split: str, data_dir: str | Path | None = None, *,
                 download: bool = True) -> Dataset:
    """Load ``split`` ("train" or "test") of dataset ``name`` ("mnist" or "fashion-mnist").

    Files found on disk are checked against the published MD5 sums too.

    Raises
    ------
    DatasetError
        Unknown name or split, files missing and not downloadable, or a checksum mismatch.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose {', '.join(DATASETS)}")
    if split not in _FILES:
        raise DatasetError(f"unknown split {split!r}; choose train or test")
    spec = DATASETS[name]
    dirs = dataset_dirs(data_dir)
    paths = []
    for filename in _FILES[split]:
        path = _find(spec, filename, dirs)
        if path is None:
            if not download:
                raise DatasetError(f"{name} file {filename} not found in "
                                   f"{', '.join(map(str, dirs))}; pass --data-dir or set "
                                   "SNNHW_DATA")
            path = _download(spec, filename, _cache_dir() / spec.name)
        elif _md5(path) != spec.md5[filename]:
            raise DatasetError(f"{path}: MD5 checksum does not match the published "
                               f"{spec.md5[filename]}; the file is corrupt or not {name}")
        paths.append(path)
    images, labels = _read_idx(paths[0], 3), _read_idx(paths[1], 1)
    if len(images) != len(labels):
        raise DatasetError(f"{name} {split}: {len(images)} images but {len(labels)} labels")
    return Dataset(name=name, split=split, images=images, labels=labels)


def sample_order(n_data: int, samples: int, seed: int) -> np.ndarray:
    """Indices of ``samples`` samples of a set of ``n_data``: seeded shuffled passes, a new
    permutation per pass (snnhw train's and snnhw run's order)."""
    rng = np.random.default_rng(seed)
    passes = -(-samples // n_data)
    return np.concatenate([rng.permutation(n_data) for _ in range(passes)])[:samples]


def check_input_size(n_in: int, dataset: Dataset) -> None:
    """:class:`ConfigError` unless a network of ``n_in`` inputs takes one pixel per input."""
    n_pixels = dataset.images[0].size
    if n_in != n_pixels:
        raise ConfigError([f"input.size = {n_in}: must be {n_pixels} (one input per pixel of "
                           "the dataset)"])
