"""snnhw run on the golden backend, end to end on real MNIST, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snnhw.cli import main
from snnhw.config import load_config
from snnhw.datasets import sample_order
from snnhw.families import resolve_layer
from snnhw.golden.networks.diehl_cook import LearningState
from snnhw.golden.networks.diehl_cook_fast import run_samples_fast

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "sim" / "configs" / "learning" / "mnist_784x16_adaptive_rest.toml"


def test_run_learns_labels_infers_and_writes_a_model(tmp_path: Path, data_dir, capsys):
    out = tmp_path / "run"
    assert main(["run", str(CONFIG), "--backend", "golden", "--learn", "20", "--label", "40",
                 "--infer", "30", "--data-dir", str(data_dir), "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("golden: learned 20 samples (")
    assert "; labelled with 40 samples (" in lines[0] and "; inferred 30 samples (" in lines[0]
    assert lines[1].startswith("accuracy ") and " on 30 test samples, " in lines[1]
    assert lines[1].endswith(" busy cycles per sample")
    assert lines[2] == f"wrote {out}"
    r = json.loads((out / "report.json").read_text())
    assert (r["backend"], r["samples_learned"]) == ("golden", 20)
    assert [r[s]["samples"] for s in ("learning", "labelling", "inference")] == [20, 40, 30]
    assert 0.0 <= r["accuracy"] <= 1.0 and r["accuracy"] == r["inference"]["accuracy"]
    c = r["inference"]["counters"]
    assert c["cycles"] is None and c["busy_cycles"] > 0
    assert c["presentations"] == round(30 * r["inference"]["presentations_per_sample"])
    model = np.load(out / "model.npz")
    assert sorted(model.files) == ["assignments", "generators", "theta", "version", "weights"]
    assert model["assignments"].max() < 10
    assert (out / "config.toml").read_text() == CONFIG.read_text()
    assert (out / "resolved_config.json").is_file()

    # the model folder runs again: its labels, its place in the learning schedule
    again = tmp_path / "again"
    assert main(["run", str(CONFIG), "--backend", "golden", "--model", str(out), "--infer",
                 "10", "--data-dir", str(data_dir), "-o", str(again)]) == 0
    r2 = json.loads((again / "report.json").read_text())
    assert "labelling" not in r2 and "learning" not in r2
    assert r2["samples_learned"] == 20 and r2["inference"]["samples"] == 10
    assert np.array_equal(np.load(again / "model.npz")["weights"], model["weights"])


def test_run_learns_in_the_order_and_schedule_of_snnhw_train(tmp_path: Path, data_dir,
                                                             mnist_train):
    assert main(["run", str(CONFIG), "--backend", "golden", "--learn", "12", "--label", "0",
                 "--infer", "0", "--seed", "3", "--data-dir", str(data_dir), "-o",
                 str(tmp_path)]) == 0
    layer = resolve_layer(load_config(CONFIG))
    state = LearningState.initial(layer)
    images = mnist_train.images.reshape(len(mnist_train), -1)
    run_samples_fast(layer, state, images[sample_order(len(mnist_train), 12, 3)], learn=True)
    model = np.load(tmp_path / "model.npz")
    assert np.array_equal(model["weights"], state.weights)
    assert np.array_equal(model["theta"], state.theta)
    assert np.array_equal(model["generators"], state.gens.states)


def test_run_errors_are_one_line(tmp_path: Path, data_dir, capsys):
    cases = [
        (["--backend", "serial"], "error: --backend serial needs --port PORT or --board NAME"),
        (["--port", "/dev/ttyNOPE7"], "error: serial port /dev/ttyNOPE7 does not exist: is "
                                      "the board plugged in? Pass its port with --port"),
        (["--board", "ulx3s-85f", "--port", "/dev/ttyNOPE7"],
         "error: serial port /dev/ttyNOPE7 does not exist: is the board plugged in? Pass its "
         "port with --port"),
        (["--backend", "golden", "--label", "0", "--infer", "5"],
         "error: the neurons have no labels to classify with: label them (--label N) or load "
         "a labelled model (--model)"),
        (["--backend", "golden", "--model", str(tmp_path)],
         f"error: {tmp_path}: not a model folder (no model.npz); train one with snnhw train"),
    ]
    for args, message in cases:
        code = main(["run", str(CONFIG), *args, "--data-dir", str(data_dir), "-o",
                     str(tmp_path / "out")])
        assert (code, capsys.readouterr().err.strip()) == (1, message), args
