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


@pytest.fixture
def served(data_dir, tmp_path, monkeypatch):
    """The MNIST test files served over HTTP on localhost, as the canonical mirror."""
    import functools
    import http.server
    import threading

    from snnhw import datasets

    root = tmp_path / "mirror"
    root.mkdir()
    mnist = data_dir / "mnist" if (data_dir / "mnist").is_dir() else data_dir
    for f in mnist.glob("t10k-*"):
        shutil.copy(f, root / f.name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = datasets.DATASETS["mnist"]
    url = f"http://127.0.0.1:{server.server_port}/"
    monkeypatch.setitem(datasets.DATASETS, "mnist",
                        datasets._Spec(spec.name, (url,), spec.md5))
    monkeypatch.delenv("SNNHW_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield root
    server.shutdown()
    server.server_close()


def test_download_into_cache(served, tmp_path):
    d = load_dataset("mnist", "test", tmp_path / "empty")
    assert len(d) == 10000
    cached = tmp_path / "cache" / "snnhw" / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert cached.is_file()
    # the second load finds the cached copy
    assert len(load_dataset("mnist", "test", download=False)) == 10000


def test_download_refuses_a_bad_checksum(served, tmp_path):
    with open(served / "t10k-labels-idx1-ubyte.gz", "r+b") as f:
        f.seek(50)
        f.write(b"\x00\x00\x00")
    with pytest.raises(DatasetError, match="could not be downloaded .*checksum mismatch"):
        load_dataset("mnist", "test", tmp_path / "empty")
    assert not (tmp_path / "cache" / "snnhw" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
