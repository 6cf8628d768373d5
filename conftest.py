"""Fixtures shared by tests/ and sim/. Datasets come from $SNNHW_DATA, else ../shared/data
beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("SNNHW_DATA") or ROOT.parent / "shared" / "data")
    if not (d / "mnist").is_dir() and not any(d.glob("*-idx*-ubyte.gz")):
        pytest.fail(f"MNIST not found in {d}: set SNNHW_DATA to a folder holding mnist/")
    return d


@pytest.fixture(scope="session")
def mnist_train(data_dir):
    from snnhw.datasets import load_dataset

    return load_dataset("mnist", "train", data_dir, download=False)
