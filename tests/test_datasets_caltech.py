"""Caltech 101 Faces vs Motorbikes: splits, search order, checksums and one-line errors;
Fashion-MNIST's missing folder."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from snnhw import datasets
from snnhw.datasets import (
    CALTECH,
    DatasetError,
    load_caltech_facemotor,
    load_dataset,
)

H, W = 40, 64  # small, so that the whole file runs in a few seconds


def exactly(message: str) -> str:
    """A ``pytest.raises`` pattern matching ``message`` only."""
    return f"^{re.escape(message)}$"


@pytest.fixture(scope="module")
def caltech_parent(data_dir) -> Path:
    """The data folder (the one holding mnist/), which must hold caltech-facemotor/ too."""
    if not (data_dir / CALTECH).is_dir() or not (data_dir / f"{CALTECH}.md5").is_file():
        pytest.fail(f"{CALTECH}/ and {CALTECH}.md5 not found in {data_dir}: set SNNHW_DATA to a "
                    "folder holding them")
    return data_dir


@pytest.fixture
def no_other_dirs(tmp_path, monkeypatch):
    """Only the data_dir argument is searched: no $SNNHW_DATA, an empty user cache."""
    monkeypatch.delenv("SNNHW_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def testing_copy(caltech_parent, tmp_path, no_other_dirs) -> Path:
    """A copy of the checksum list and of the testing split only, in a fresh folder."""
    root = tmp_path / "data"
    shutil.copytree(caltech_parent / CALTECH / "TestingSet", root / CALTECH / "TestingSet")
    shutil.copy(caltech_parent / f"{CALTECH}.md5", root)
    return root


@pytest.mark.parametrize("split, n", [("learning", 474), ("training", 400), ("testing", 396)])
def test_splits(caltech_parent, split, n):
    images, labels = load_caltech_facemotor(split, caltech_parent, height=H, width=W)
    assert images.shape == (n, H, W) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert labels.tolist() == [0] * (n // 2) + [1] * (n // 2)  # Faces first
    assert 0 < images.mean() < 255
    assert not images.flags.writeable and not labels.flags.writeable


def test_training_is_in_learning_and_testing_is_not(caltech_parent):
    learning, _ = load_caltech_facemotor("learning", caltech_parent, height=H, width=W)
    training, _ = load_caltech_facemotor("training", caltech_parent, height=H, width=W)
    testing, _ = load_caltech_facemotor("testing", caltech_parent, height=H, width=W)
    seen = {image.tobytes() for image in learning}
    assert all(image.tobytes() in seen for image in training)
    assert not any(image.tobytes() in seen for image in testing)


def test_decoding_is_deterministic_and_as_documented(caltech_parent, monkeypatch):
    first, labels = load_caltech_facemotor("testing", caltech_parent, height=H, width=W)
    assert load_caltech_facemotor("testing", caltech_parent, height=H, width=W)[0] is first
    monkeypatch.setattr(datasets, "_caltech_cache", {})
    monkeypatch.setattr(datasets, "_caltech_verified", set())
    again, _ = load_caltech_facemotor("testing", caltech_parent, height=H, width=W)
    assert again is not first and np.array_equal(again, first)
    motor = sorted((caltech_parent / CALTECH / "TestingSet" / "Motor").glob("*.jpg"))[0]
    with Image.open(motor) as im:
        expected = np.asarray(im.convert("L").resize((W, H), Image.BILINEAR))
    assert np.array_equal(first[int(np.argmax(labels))], expected)
    other, _ = load_caltech_facemotor("testing", caltech_parent, height=H + 1, width=W)
    assert other.shape == (396, H + 1, W)


def test_found_as_mnist_is(caltech_parent, monkeypatch):
    """Like mnist/: the folder holding caltech-facemotor/, or that folder itself, given as
    data_dir or as $SNNHW_DATA; load_dataset dispatches to it."""
    expected, _ = load_caltech_facemotor("testing", caltech_parent, height=H, width=W)
    itself, _ = load_caltech_facemotor("testing", caltech_parent / CALTECH, height=H, width=W)
    assert np.array_equal(itself, expected)
    monkeypatch.setenv("SNNHW_DATA", str(caltech_parent))
    assert np.array_equal(load_caltech_facemotor("testing", height=H, width=W)[0], expected)
    d = load_dataset(CALTECH, "testing", size=(H, W))
    assert (d.name, d.split, len(d)) == (CALTECH, "testing", 396)
    assert np.array_equal(d.images, expected)


def test_missing_folder(tmp_path, no_other_dirs):
    cache = tmp_path / "cache" / "snnhw" / CALTECH
    with pytest.raises(DatasetError, match=exactly(
            f"{tmp_path / CALTECH}, {cache}: not found; point --data-dir or SNNHW_DATA at the "
            "folder that holds it")):
        load_caltech_facemotor("testing", tmp_path, height=H, width=W)


def test_missing_checksum_list(testing_copy):
    (testing_copy / f"{CALTECH}.md5").unlink()
    with pytest.raises(DatasetError, match=exactly(
            f"{testing_copy / CALTECH}.md5: not found; the checksum list of {CALTECH} must lie "
            f"beside {testing_copy / CALTECH}")):
        load_caltech_facemotor("testing", testing_copy, height=H, width=W)


def test_altered_checksum_list(testing_copy):
    with open(testing_copy / f"{CALTECH}.md5", "a") as f:
        f.write("0" * 32 + f"  {CALTECH}/TestingSet/Face/extra.jpg\n")
    with pytest.raises(DatasetError, match=exactly(
            f"{testing_copy / CALTECH}.md5: MD5 checksum does not match the expected "
            f"{datasets._CALTECH_LIST_MD5}; the file is corrupt or not {CALTECH}'s list")):
        load_caltech_facemotor("testing", testing_copy, height=H, width=W)


def test_missing_split(testing_copy):
    root = testing_copy / CALTECH
    with pytest.raises(DatasetError, match=exactly(
            f"{root / 'LearningSet'}: not found; {root} lacks the learning split")):
        load_caltech_facemotor("learning", testing_copy, height=H, width=W)


def test_missing_class(testing_copy):
    root = testing_copy / CALTECH
    shutil.rmtree(root / "TestingSet" / "Motor")
    with pytest.raises(DatasetError, match=exactly(
            f"{root / 'TestingSet' / 'Motor'}: not found; {root} lacks the testing Motor "
            "images")):
        load_caltech_facemotor("testing", testing_copy, height=H, width=W)


def test_missing_file(testing_copy):
    root = testing_copy / CALTECH
    gone = sorted((root / "TestingSet" / "Motor").glob("*.jpg"))[5]
    gone.unlink()
    with pytest.raises(DatasetError, match=exactly(
            f"{gone}: not found; {root} is incomplete (the file is listed in {root}.md5)")):
        load_caltech_facemotor("testing", testing_copy, height=H, width=W)


def test_corrupt_file(testing_copy):
    root = testing_copy / CALTECH
    bad = sorted((root / "TestingSet" / "Face").glob("*.jpg"))[7]
    digest = hashlib.md5(bad.read_bytes()).hexdigest()
    with open(bad, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(DatasetError, match=exactly(
            f"{bad}: MD5 checksum does not match {digest} from {root}.md5; the file is "
            "corrupt")):
        load_caltech_facemotor("testing", testing_copy, height=H, width=W)


def test_file_not_listed(testing_copy):
    root = testing_copy / CALTECH
    face = root / "TestingSet" / "Face"
    shutil.copy(face / "image_0002.jpg", face / "copy.jpg")
    with pytest.raises(DatasetError, match=exactly(
            f"{face / 'copy.jpg'}: not in {root}.md5; not a {CALTECH} file")):
        load_caltech_facemotor("testing", testing_copy, height=H, width=W)


def test_unreadable_image(testing_copy, monkeypatch):
    """A file that matches its (altered) sum but is no image."""
    bad = testing_copy / CALTECH / "TestingSet" / "Face" / "image_0002.jpg"
    bad.write_bytes(b"not a JPEG")
    listing = testing_copy / f"{CALTECH}.md5"
    lines = listing.read_text().splitlines(keepends=True)
    lines = [hashlib.md5(b"not a JPEG").hexdigest() + line[32:]
             if line.endswith("TestingSet/Face/image_0002.jpg\n") else line for line in lines]
    listing.write_text("".join(lines))
    monkeypatch.setattr(datasets, "_CALTECH_LIST_MD5", hashlib.md5(listing.read_bytes())
                        .hexdigest())
    with pytest.raises(DatasetError, match=f"^{re.escape(str(bad))}: not a readable image "
                                           "\\(.+\\)$"):
        load_caltech_facemotor("testing", testing_copy, height=H, width=W)


@pytest.mark.parametrize("split, height, width, message", [
    ("train", H, W, "unknown caltech-facemotor split 'train'; choose learning, training, "
                    "testing"),
    ("testing", 0, W, "caltech-facemotor image height must be a positive integer, not 0"),
    ("testing", H, 6.5, "caltech-facemotor image width must be a positive integer, not 6.5"),
])
def test_bad_arguments(split, height, width, message):
    with pytest.raises(DatasetError, match=exactly(message)):
        load_caltech_facemotor(split, height=height, width=width)


def test_unknown_dataset_lists_caltech():
    with pytest.raises(DatasetError, match=exactly(
            "unknown dataset 'cifar'; choose mnist, fashion-mnist, caltech-facemotor")):
        load_dataset("cifar", "train")


def test_fashion_mnist_missing(caltech_parent, no_other_dirs):
    """The shared data folder holds mnist/ but no fashion-mnist/: one line, not a download."""
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "snnhw"
    with pytest.raises(DatasetError, match=exactly(
            f"fashion-mnist file train-images-idx3-ubyte.gz not found in {caltech_parent}, "
            f"{cache}; pass --data-dir or set SNNHW_DATA")):
        load_dataset("fashion-mnist", "train", caltech_parent, download=False)
