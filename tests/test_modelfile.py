"""Model folders (snnhw.modelfile): what snnhw train, evaluate, run and the host API write and
read, and one clear line for every broken folder (never a traceback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnhw.config import load_config
from snnhw.errors import InputError
from snnhw.families import resolve_layer
from snnhw.golden.networks.diehl_cook import LearningState
from snnhw.modelfile import VERSION, load_model, read_report, save_model

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "host_tiny_20x6.toml"


@pytest.fixture
def layer():
    return resolve_layer(load_config(TINY))


def test_round_trip(layer, tmp_path: Path):
    state = LearningState.initial(layer)
    state.weights[2, 3], state.theta[1] = 77, 9
    path = save_model(tmp_path, state, np.arange(layer.n_out) % 10)
    assert path == tmp_path / "model.npz"
    assert int(np.load(path)["version"]) == VERSION
    back, labels = load_model(tmp_path, layer)
    assert np.array_equal(back.weights, state.weights)
    assert np.array_equal(back.theta, state.theta)
    assert np.array_equal(back.gens.states, state.gens.states)
    assert back.alive is None and back.prune_threshold == 0
    assert labels.tolist() == (np.arange(layer.n_out) % 10).tolist()


def _write(path: Path, **arrays) -> None:
    np.savez(path / "model.npz", **arrays)


@pytest.mark.parametrize("case, message", [
    ("none", "not a model folder (no model.npz)"),
    ("garbage", "not a model file written by snnhw"),
    ("pickle", "not a model file written by snnhw"),
    ("plain-npy", "a single array, not an .npz archive"),
    ("missing", "lacks generators; not a model file written by snnhw"),
    ("shape", "weights of shape (20, 100), the network needs (20, 6)"),
    ("version", "model format version 9; this snnhw reads 1"),
    ("zero-generator", "generator states must be in 1..65535"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_broken_model_folders_are_one_line(layer, tmp_path: Path, case, message):
    good = LearningState.initial(layer)
    arrays = {"weights": good.weights, "theta": good.theta, "generators": good.gens.states}
    if case == "garbage":
        (tmp_path / "model.npz").write_bytes(b"not a zip file at all")
    elif case == "pickle":
        np.save(tmp_path / "model.npz", np.array([{"a": 1}], dtype=object), allow_pickle=True)
        (tmp_path / "model.npz.npy").rename(tmp_path / "model.npz")
    elif case == "plain-npy":
        np.save(tmp_path / "model.npz", good.weights)
        (tmp_path / "model.npz.npy").rename(tmp_path / "model.npz")
    elif case == "missing":
        _write(tmp_path, weights=good.weights, theta=good.theta)
    elif case == "shape":
        _write(tmp_path, **arrays | {"weights": np.zeros((20, 100), dtype=np.int64)})
    elif case == "version":
        _write(tmp_path, **arrays, version=9)
    elif case == "zero-generator":
        _write(tmp_path, **arrays | {"generators": np.zeros_like(good.gens.states)})
    with pytest.raises(InputError) as e:
        load_model(tmp_path, layer)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_report_is_read_or_refused_in_one_line(tmp_path: Path):
    assert read_report(tmp_path) == {}
    (tmp_path / "report.json").write_text('{"dataset": "mnist"}')
    assert read_report(tmp_path) == {"dataset": "mnist"}
    for text in ("{not json", "[1, 2]"):
        (tmp_path / "report.json").write_text(text)
        with pytest.raises(InputError, match=r"report\.json: not a report written by snnhw"):
            read_report(tmp_path)
