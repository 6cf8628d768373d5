"""snnhw train / evaluate on real MNIST with a small network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnhw.cli import main
from snnhw.train import assign_labels, baseline_memory_bits, predict

SMALL = """
[input]
size = 784
[neurons]
count = 16
membrane_bits = 18
threshold = 4000
leak_shift = 6
refractory = 5
inhibition = "wta"
theta_increment = 50
[synapses]
weight_bits = 8
signed = false
init_high = 76
[encoder]
timesteps = 100
max_tries = 3
[stdp]
enabled = true
eta = 1311
normalize_target = 19992
"""


def test_assign_and_predict_hand_worked():
    counts = np.array([[5, 0, 1], [4, 1, 0], [0, 3, 0], [1, 2, 0]])
    labels = np.array([1, 1, 2, 2])
    a = assign_labels(counts, labels)
    assert a.tolist() == [1, 2, 1]  # neuron 2: class 1 mean 0.5 > class 2 mean 0
    # votes: class 1 = mean of neurons 0 and 2, class 2 = neuron 1
    # sample 0 ties (1.0 each): the lower class wins
    assert predict(np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]]), a).tolist() == [1, 2, 0]


def test_baseline_memory_counts_inhibitory_population():
    class L:
        n_in, n_out = 784, 400
    assert baseline_memory_bits(L) == 32 * (784 * 400 + 400 + 400 * 399 + 400)


def test_train_then_evaluate(tmp_path: Path, data_dir, capsys):
    cfg = tmp_path / "net.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "model"
    assert main(["train", str(cfg), "--samples", "400", "--label-samples", "300",
                 "--test-samples", "200", "--out", str(out), "--data-dir", str(data_dir)]) == 0
    assert "accuracy" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    for key in ("accuracy", "float_accuracy", "quantization_loss", "samples_trained",
                "weight_memory_bits", "baseline_memory_bits",
                "samples_per_second", "learning_curve"):
        assert key in report
    assert report["samples_trained"] == 400
    assert report["weight_memory_bits"] == 784 * 16 * 8
    assert 0.3 < report["accuracy"] <= 1.0, "16 neurons learn far above chance in 400 samples"
    for f in ("model.npz", "receptive_fields.png", "accuracy.png", "config.toml",
              "resolved_config.json"):
        assert (out / f).stat().st_size > 0
    model = np.load(out / "model.npz")
    assert model["weights"].shape == (784, 16) and model["weights"].max() <= 255
    # evaluation restarts from the saved state: exactly the same figures
    assert main(["evaluate", str(out), "--test-samples", "200",
                 "--data-dir", str(data_dir)]) == 0
    again = json.loads((out / "evaluation.json").read_text())
    assert again["accuracy"] == report["accuracy"]
    assert again["confusion"] == report["confusion"]


def test_train_with_pruning_reports_the_unpruned_run(tmp_path: Path, data_dir, capsys):
    cfg = tmp_path / "net.toml"
    cfg.write_text(SMALL + "[pruning]\nenabled = true\nthreshold = 30\nwarmup = 100\n"
                   "chunk_bits = 4\n")
    out = tmp_path / "model"
    assert main(["train", str(cfg), "--samples", "300", "--label-samples", "200",
                 "--test-samples", "100", "--no-float", "--out", str(out),
                 "--data-dir", str(data_dir)]) == 0
    assert "% of the connections alive" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert 0 < report["connectivity"] < 1
    assert 0 <= report["accuracy_unpruned"] <= 1
    assert report["pruning_loss"] == round(report["accuracy_unpruned"] - report["accuracy"], 4)
    curve = report["connectivity_curve"]
    assert curve[0] == {"samples": 0, "connectivity": 1.0}
    assert curve[-1] == {"samples": 300, "connectivity": report["connectivity"]}
    # nothing is pruned during the warm-up
    assert all(p["connectivity"] == 1.0 for p in curve if p["samples"] <= 100)
    # fewer alive synapses: fewer cycles, in learning and in inference
    assert report["cycles_per_sample_learning"] < report["cycles_per_sample_learning_unpruned"]
    assert (report["cycles_per_sample_inference"]
            < report["cycles_per_sample_inference_unpruned"])
    assert report["speedup_inference"] > 1 and report["speedup_learning"] > 1
    assert (out / "connectivity.png").stat().st_size > 0
    model = np.load(out / "model.npz")
    assert model["alive"].mean() == pytest.approx(report["connectivity"], abs=1e-4)
    assert not model["weights"][~model["alive"]].any()
    assert main(["evaluate", str(out), "--test-samples", "100",
                 "--data-dir", str(data_dir)]) == 0
    again = json.loads((out / "evaluation.json").read_text())
    assert again["accuracy"] == report["accuracy"]
    assert again["cycles_per_sample_inference"] == report["cycles_per_sample_inference"]


@pytest.mark.parametrize("text, message", [
    (SMALL.replace("enabled = true", "enabled = false"), "stdp.enabled = false: set it to true"),
    (SMALL.replace("size = 784", "size = 100"), "input.size = 100: must be 784"),
], ids=["no-stdp", "wrong-input-size"])
def test_train_refuses_untrainable_configs(text, message, tmp_path: Path, data_dir, capsys):
    cfg = tmp_path / "net.toml"
    cfg.write_text(text)
    assert main(["train", str(cfg), "--samples", "10", "--out", str(tmp_path / "o"),
                 "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_evaluate_needs_a_model_folder(tmp_path: Path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "not a model folder" in capsys.readouterr().err
