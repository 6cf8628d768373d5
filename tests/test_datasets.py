"""MNIST loading: search order, checksums and one-line errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from snnhw.datasets import DatasetError, dataset_dirs, load_dataset


def test_mnist_train_and_test(data_dir):
    train = load_dataset("mnist", "train", data_dir, download=False)
    test = load_dataset("mnist", "test", data_dir, download=False)
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 28, 28)
    assert train.labels[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                 974, 1009]


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNHW_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert dataset_dirs(tmp_path / "arg") == [tmp_path / "arg", tmp_path / "env",
                                              tmp_path / "cache" / "snnhw"]


def test_env_variable_is_used(data_dir, monkeypatch):
    monkeypatch.setenv("SNNHW_DATA", str(data_dir))
    assert len(load_dataset("mnist", "test", download=False)) == 10000


def test_corrupt_file_is_refused(data_dir, tmp_path):
    mnist = data_dir / "mnist" if (data_dir / "mnist").is_dir() else data_dir
    for f in mnist.glob("t10k-*"):
        shutil.copy(f, tmp_path / f.name)
    with open(tmp_path / "t10k-labels-idx1-ubyte.gz", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(DatasetError, match="MD5 checksum does not match"):
        load_dataset("mnist", "test", tmp_path, download=False)


def test_missing_files_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("SNNHW_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="not found in .*pass --data-dir or set SNNHW_DATA"):
        load_dataset("fashion-mnist", "test", tmp_path, download=False)


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'; choose mnist, "
                                           "fashion-mnist"):
        load_dataset("cifar", "train")
