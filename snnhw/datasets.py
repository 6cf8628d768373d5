"""MNIST and Fashion-MNIST from their IDX files; Caltech 101 Faces vs Motorbikes from JPEGs.

Where the files are looked for, in order:

1. the ``data_dir`` argument (``--data-dir`` on the command line);
2. the ``$SNNHW_DATA`` environment variable;
3. the user cache folder, ``$XDG_CACHE_HOME/snnhw`` (default ``~/.cache/snnhw``).

In each place, the files may be directly in the folder or in a subfolder named after the
dataset (``mnist/``, ``fashion-mnist/``). When they are found nowhere, they are downloaded into
the cache folder from their canonical locations and checked against the published MD5 sums.
If that fails, :class:`DatasetError` says where the files were looked for.

Caltech 101 Faces vs Motorbikes (``caltech-facemotor``) is found the same way, as a folder
``caltech-facemotor/`` holding ``LearningSet/``, ``TrainingSet/`` and ``TestingSet/``, each with
``Face/`` and ``Motor/`` JPEGs, or as such a folder itself. Its checksum list
``caltech-facemotor.md5`` lies beside that folder; it is not downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ConfigError, SnnhwError

__all__ = ["DatasetError", "Dataset", "DATASETS", "CALTECH", "CALTECH_SPLITS", "CALTECH_CLASSES",
           "load_dataset", "load_caltech_facemotor", "dataset_dirs", "sample_order",
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


CALTECH = "caltech-facemotor"
#: split name -> folder of caltech-facemotor
CALTECH_SPLITS = {"learning": "LearningSet", "training": "TrainingSet", "testing": "TestingSet"}
#: class folders of caltech-facemotor; a sample's label is its class's index
CALTECH_CLASSES = ("Face", "Motor")
# MD5 of the checksum list caltech-facemotor.md5 ("<md5>  caltech-facemotor/<Set>/<Class>/<file>"
# per line), so that the list is checked as MNIST's published sums are.
_CALTECH_LIST_MD5 = "a5c214f4cc41b6a79d91835042ac114b"
# per process: the (folder, split)s whose files matched their sums, and the decoded splits
_caltech_verified: set[tuple[Path, str]] = set()
_caltech_cache: dict[tuple[Path, str, int, int], tuple[np.ndarray, np.ndarray]] = {}


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split: ``images`` uint8 ``(n, height, width)`` (28 x 28 for the IDX datasets) and
    ``labels`` ``(n,)`` (uint8 for the IDX datasets, int64 for caltech-facemotor)."""

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
                 download: bool = True, size: tuple[int, int] | None = None) -> Dataset:
    """Load ``split`` of dataset ``name``: "train" or "test" of "mnist" or "fashion-mnist",
    "learning", "training" or "testing" of "caltech-facemotor".

    Files found on disk are checked against the published MD5 sums too.
    ``size`` is the ``(height, width)`` caltech-facemotor's images are resized to, required for
    it and not allowed for the others; it is never downloaded (see
    :func:`load_caltech_facemotor`).

    Raises
    ------
    DatasetError
        Unknown name or split, files missing and not downloadable, or a checksum mismatch.
    """
    if name == CALTECH:
        if size is None:
            raise TypeError(f"{CALTECH} needs size=(height, width)")
        images, labels = load_caltech_facemotor(split, data_dir, height=size[0], width=size[1])
        return Dataset(name=name, split=split, images=images, labels=labels)
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose {', '.join([*DATASETS, CALTECH])}")
    if size is not None:
        raise TypeError(f"{name} images are 28 x 28; size is only for {CALTECH}")
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


def load_caltech_facemotor(split: str, data_dir: str | Path | None = None, *, height: int,
                           width: int) -> tuple[np.ndarray, np.ndarray]:
    """Load ``split`` of Caltech 101 Faces vs Motorbikes, resized to ``height`` x ``width``.

    Parameters
    ----------
    split : str
        "learning" (237 + 237 images, for unsupervised learning), "training" (200 + 200, a
        subset of "learning", for the readout) or "testing" (198 + 198, disjoint from both).
    data_dir : str or Path, optional
        Searched first (see the module documentation), for ``caltech-facemotor/`` or as that
        folder itself; ``caltech-facemotor.md5`` must lie beside the folder found.
    height, width : int
        Size of the returned images. Each JPEG is converted to greyscale ("L") and resized with
        Pillow's bilinear filter.

    Returns
    -------
    images : ndarray of uint8, shape (n, height, width)
    labels : ndarray of int64, shape (n,)
        0 for Face, 1 for Motor. Faces come first, each class in file-name order.

    Both arrays are read-only and shared: the split is decoded once per process and size, and
    its files are checked against their MD5 sums once per process.

    Raises
    ------
    DatasetError
        Unknown split, bad size, the folder, a split or class folder, a file or the checksum list
        missing, a file not matching its MD5 sum or not listed, or an image not decodable.
    """
    if split not in CALTECH_SPLITS:
        raise DatasetError(f"unknown {CALTECH} split {split!r}; choose "
                           f"{', '.join(CALTECH_SPLITS)}")
    for what, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DatasetError(f"{CALTECH} image {what} must be a positive integer, not {value!r}")
    root = _caltech_root(dataset_dirs(data_dir))
    key = (root.resolve(), split, height, width)
    if key not in _caltech_cache:
        _caltech_cache[key] = _read_caltech(root, split, height, width)
    return _caltech_cache[key]


def _caltech_root(dirs: list[Path]) -> Path:
    for d in dirs:
        if (d / CALTECH).is_dir():
            return d / CALTECH
        if any((d / folder).is_dir() for folder in CALTECH_SPLITS.values()):
            return d
    raise DatasetError(f"{', '.join(str(d / CALTECH) for d in dirs)}: not found; point "
                       "--data-dir or SNNHW_DATA at the folder that holds it")


def _caltech_sums(root: Path) -> tuple[Path, dict[str, str]]:
    """The checksum list found for ``root`` and its sums by path relative to ``root``."""
    path = root.parent / f"{CALTECH}.md5"
    if not path.is_file():
        raise DatasetError(f"{path}: not found; the checksum list of {CALTECH} must lie beside "
                           f"{root}")
    raw = path.read_bytes()
    if hashlib.md5(raw).hexdigest() != _CALTECH_LIST_MD5:
        raise DatasetError(f"{path}: MD5 checksum does not match the expected "
                           f"{_CALTECH_LIST_MD5}; the file is corrupt or not {CALTECH}'s list")
    sums = {}
    for line in raw.decode("ascii").splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.removeprefix(f"{CALTECH}/")] = digest
    return path, sums


def _read_caltech(root: Path, split: str, height: int, width: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    list_path, sums = _caltech_sums(root)
    split_dir = root / CALTECH_SPLITS[split]
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir}: not found; {root} lacks the {split} split")
    files: list[tuple[Path, str]] = []
    counts = []
    for cls in CALTECH_CLASSES:
        cls_dir = split_dir / cls
        if not cls_dir.is_dir():
            raise DatasetError(f"{cls_dir}: not found; {root} lacks the {split} {cls} images")
        prefix = f"{CALTECH_SPLITS[split]}/{cls}/"
        listed = sorted(name for name in sums if name.startswith(prefix))
        extra = sorted({f.name for f in cls_dir.glob("*.jpg")}
                       - {name.removeprefix(prefix) for name in listed})
        if extra:
            raise DatasetError(f"{cls_dir / extra[0]}: not in {list_path}; not a {CALTECH} file")
        files += [(root / name, sums[name]) for name in listed]
        counts.append(len(listed))
    verified = (root.resolve(), split)
    verify = verified not in _caltech_verified
    log.info("reading %s %s (%d images) at %d x %d", CALTECH, split, len(files), height, width)
    images = np.empty((len(files), height, width), dtype=np.uint8)
    for k, (path, digest) in enumerate(files):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DatasetError(f"{path}: not found; {root} is incomplete (the file is listed in "
                               f"{list_path})") from None
        except OSError as e:
            raise DatasetError(f"{path}: cannot be read ({e.strerror})") from None
        if verify and hashlib.md5(raw).hexdigest() != digest:
            raise DatasetError(f"{path}: MD5 checksum does not match {digest} from {list_path}; "
                               "the file is corrupt")
        images[k] = _decode_grey(path, raw, height, width)
    _caltech_verified.add(verified)
    labels = np.repeat(np.arange(len(CALTECH_CLASSES), dtype=np.int64), counts)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _decode_grey(path: Path, raw: bytes, height: int, width: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(raw)) as im:
            grey = im.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DatasetError(f"{path}: not a readable image ({e})") from None
    return np.asarray(grey.resize((width, height), Image.Resampling.BILINEAR))


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
