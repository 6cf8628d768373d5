"""Conv network configs (one-line errors), and snnhw train / evaluate on a small TTFS conv
network learning Caltech faces/motorbikes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnhw.cli import main
from snnhw.config import parse_config
from snnhw.errors import ConfigError

DATA = Path(__file__).parent / "data"
TINY = DATA / "ttfs_tiny_caltech.toml"


def _conv(**kw):
    return {"kind": "conv", "maps": 4, "kernel": 5, "threshold": 100, "init_low": 100,
            "init_high": 120} | kw


def _raw(*layers, **top):
    return {"input": {"height": 20, "width": 30}, "layer": list(layers)} | top


@pytest.mark.parametrize("raw,message", [
    (_raw(_conv(kernel=25)),
     "layer[0].kernel = 25: larger than its input of 20 x 30 (with padding 0): the layer's "
     "output would be empty"),
    (_raw(_conv(), {"kind": "pool", "size": 16}, _conv()),
     "layer[2].kernel = 5: larger than its input of 1 x 1 (with padding 0): the layer's output "
     "would be empty"),
    (_raw(_conv(), {"kind": "pool", "size": 40}),
     "layer[1].size = 40: larger than its input of 16 x 26 (with padding 0): the layer's "
     "output would be empty"),
    (_raw(_conv(winners=5)),
     "layer[0].winners = 5: must be at most maps = 4 (each map wins once per image)"),
    (_raw(_conv(threshold=12751)),
     "layer[0].threshold = 12751: can never be reached: the largest potential is 2 x 5 x 5 x "
     "255 = 12750"),
    (_raw(_conv(padding=5)), "layer[0].padding = 5: must be below kernel = 5"),
    (_raw(_conv(init_high=300)), "layer[0].init_high = 300: must be at most 2**weight_bits - "
                                 "1 = 255"),
    (_raw(_conv(init_low=130)), "layer[0].init_high = 120: must be at least init_low = 130"),
    (_raw(_conv(stdp={"a_plus": 500, "a_plus_max": 400})),
     "layer[0].stdp.a_plus_max = 400: must be at least stdp.a_plus = 500"),
    (_raw(_conv(pruning={"threshold": 256})),
     "layer[0].pruning.threshold = 256: must be at most 2**weight_bits - 1 = 255"),
    (_raw(_conv(stdp={"images": -1})), "layer[0].stdp.images = -1: must be 0 to 100000000"),
    (_raw(_conv(colour=1)), "layer[0].colour: unknown key; allowed: maps, kernel, padding, "
                            "threshold, weight_bits, init_low, init_high, winners, radius, "
                            "pointwise_inhibition, kind, stdp, pruning"),
    (_raw(_conv(), {"kind": "pool", "size": 2}),
     'readout.features = "max_potential": the last layer must be a conv layer (global max '
     'pooling of its potentials); use "spike_times" after a pool layer'),
    (_raw(_conv(), encoder={"size": 6}), "encoder.size = 6: must be odd"),
    (_raw(_conv(), encoder={"sigma_centre": 2.0, "sigma_surround": 1.5}),
     "encoder.sigma_surround = 1.5: must be above sigma_centre = 2.0"),
    (_raw(_conv(), encoder={"sigma_centre": "wide"}),
     'encoder.sigma_centre = "wide": must be a number'),
    (_raw(_conv(), neurons={"count": 3}),
     "neurons: unknown section; allowed in a conv network: network, input, encoder, readout, "
     "hardware, layer"),
    (_raw({"kind": "pool", "size": 2}), 'layer: a conv network needs at least one kind = "conv" '
                                        "layer"),
    (_raw(_conv(maps=1024, kernel=1, threshold=5),
          _conv(kernel=63, weight_bits=16, init_low=1, init_high=2)) | {
        "input": {"height": 63, "width": 63}},
     f"layer[1].kernel = 63: potentials up to {1024 * 63 * 63 * 65535} would not fit the "
     "31-bit membranes; use fewer input maps, a smaller kernel or narrower weights"),
    (_raw(_conv(pruning={"enabled": True})),
     "layer[0].pruning.enabled = true: pruning happens while the layer learns: set stdp.images "
     "above 0"),
], ids=["kernel-too-big", "nothing-left", "pool-too-big", "k-above-maps", "unreachable",
        "padding", "init-range", "init-order", "rate-max", "prune-threshold", "images",
        "unknown-key", "readout-after-pool", "even-dog", "sigmas", "not-a-number",
        "dense-section", "no-conv", "membrane-width", "prune-without-learning"])
def test_conv_config_errors_are_one_line(raw, message):
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert message in e.value.errors, e.value.errors


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("ttfs") / "model"
    status = main(["train", str(TINY), "--dataset", "caltech-facemotor", "--out", str(out),
                   "--data-dir", str(data_dir)])
    assert status == 0
    return out


def test_train_writes_a_complete_model_folder(trained):
    names = {p.name for p in trained.iterdir()}
    assert names == {"config.toml", "resolved_config.json", "model.npz", "report.json",
                     "features.png", "convergence.png", "connectivity.png", "spike_maps.png"}
    resolved = json.loads((trained / "resolved_config.json").read_text())
    assert [x["name"] for x in resolved["layers"]] == ["conv1", "pool1", "conv2"]
    r = json.loads((trained / "report.json").read_text())
    assert r["test_images"] == 396 and r["readout_images"] == 400
    assert 0 <= r["accuracy"] <= 1 and 0 <= r["float_accuracy"] <= 1
    assert [x["images_trained"] for x in r["layers"]] == [30, 30]
    # the second layer prunes: fewer taps alive, fewer cycles than the run that keeps them
    assert r["layers"][0]["connectivity"] == 1.0 > r["layers"][1]["connectivity"]
    assert r["cycles_per_image_inference"] < r["cycles_per_image_inference_unpruned"]
    assert r["speedup_inference"] > 1 and r["speedup_learning"] > 1
    # the total is each layer's per-image mean (rounded to 0.1) times its images
    per_layer = sum(x["learning_cycles_per_image"] * x["images_trained"] for x in r["layers"])
    assert abs(r["cycles_learning_total"] - per_layer) <= 0.05 * 60
    assert r["speedup_learning_total"] == round(r["cycles_learning_total_unpruned"] /
                                                r["cycles_learning_total"], 3)
    assert len(r["layers"][1]["convergence_curve"]) == 30
    assert not list(trained.parent.glob(".model.*"))  # no partial folder left behind


def test_evaluate_reproduces_the_accuracy(trained, data_dir, capsys):
    assert main(["evaluate", str(trained), "--data-dir", str(data_dir)]) == 0
    r = json.loads((trained / "report.json").read_text())
    e = json.loads((trained / "evaluation.json").read_text())
    assert e["accuracy"] == r["accuracy"]
    assert e["cycles_per_image_inference"] == r["cycles_per_image_inference"]
    assert f"accuracy {r['accuracy']:.4f} on 396 test images" in capsys.readouterr().out


def test_evaluate_refuses_a_model_of_another_network(trained, tmp_path, data_dir, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for f in ("model.npz", "report.json"):
        (other / f).write_bytes((trained / f).read_bytes())
    (other / "config.toml").write_text(TINY.read_text().replace("maps = 6", "maps = 5"))
    assert main(["evaluate", str(other), "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {other / 'model.npz'}: conv2 has shape (6, 4, 5, 5), the config's "
                   "is (5, 4, 5, 5)"]
    np.savez(other / "model.npz", weights=np.zeros(3))
    assert main(["evaluate", str(other), "--data-dir", str(data_dir)]) == 1
    assert "not a ttfs_conv model" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--samples", "100"], "error: --samples: the training budget of a conv network is "
                           "stdp.images per layer in its config"),
    (["--dataset", "mnist"], "error: mnist images are 28 x 28: set input.height and "
                             "input.width to match"),
])
def test_train_cli_errors(args, message, tmp_path, data_dir, capsys):
    out = tmp_path / "m"
    status = main(["train", str(TINY), "--out", str(out), "--data-dir", str(data_dir),
                   "--dataset", "caltech-facemotor", *args])
    assert status == 1
    assert capsys.readouterr().err.strip() == message
    assert not out.exists()


def test_other_verbs_refuse_a_conv_network(capsys):
    assert main(["simulate", str(TINY), "--random", "5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ttfs_conv network of 3 layers" in err[0]
    assert "only snnhw train, evaluate, generate, verify, build, run take it" in err[0]


def test_generate_writes_the_conv_core(tmp_path):
    assert main(["generate", str(TINY), "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["family"] == "ttfs_conv" and manifest["core"] == "TtfsConvCore"
    assert (tmp_path / manifest["verilog"]).read_text().startswith("/*")
    assert set(manifest["registers"]) >= {"cycles", "learn", "events", "alive1", "seen0"}


def test_a_failed_run_leaves_the_old_folder(tmp_path, data_dir, monkeypatch):
    import snnhw.train_conv as tc

    out = tmp_path / "keep"
    out.mkdir()
    (out / "report.json").write_text("old")  # an earlier result: may be replaced

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tc, "fit_svm", boom)
    assert main(["train", str(TINY), "--out", str(out), "--data-dir", str(data_dir),
                 "--dataset", "caltech-facemotor", "--no-float"]) == 130
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
    assert (out / "report.json").read_text() == "old"


def test_seed_replaces_the_network_seed(trained, tmp_path, data_dir):
    out = tmp_path / "seeded"
    assert main(["train", str(TINY), "--dataset", "caltech-facemotor", "--out", str(out),
                 "--data-dir", str(data_dir), "--seed", "5", "--no-float",
                 "--no-unpruned"]) == 0
    mine, theirs = (json.loads((d / "report.json").read_text()) for d in (out, trained))
    assert (mine["seed"], theirs["seed"]) == (5, 3)
    from snnhw.config import load_config

    assert load_config(out / "config.toml").network.seed == 5  # the folder reproduces the run
    with np.load(out / "model.npz") as a, np.load(trained / "model.npz") as b:
        assert not np.array_equal(a["weights_0"], b["weights_0"])
    assert "accuracy_unpruned" not in mine and "float_accuracy" not in mine


def test_a_section_given_as_a_value_is_one_error():
    with pytest.raises(ConfigError) as e:
        parse_config(_raw(_conv(stdp=5)))
    assert e.value.errors == ["layer[0].stdp = 5: must be a table"]


def test_out_refuses_a_folder_that_is_not_a_result(tmp_path, data_dir, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["train", str(TINY), "--dataset", "caltech-facemotor", "--out", str(out),
                 "--data-dir", str(data_dir)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {out}: exists and is not an earlier result (no report.json); choose another "
        "--out, or remove it first")
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("args,message", [
    (["--seed", "-1"], "error: --seed -1: must be 0 to 2**32 - 1 (network.seed)"),
])
def test_train_refuses_a_bad_seed(args, message, tmp_path, data_dir, capsys):
    assert main(["train", str(TINY), "--dataset", "caltech-facemotor", "--out",
                 str(tmp_path / "m"), "--data-dir", str(data_dir), *args]) == 1
    assert capsys.readouterr().err.strip() == message


def test_train_and_evaluate_refuse_a_network_without_learning(tmp_path, capsys):
    lif = Path(__file__).parents[1] / "examples" / "lif_784x100.toml"
    assert main(["train", str(lif), "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    folder = tmp_path / "lif"
    folder.mkdir()
    (folder / "config.toml").write_text(lif.read_text())
    assert main(["evaluate", str(folder)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_evaluate_refuses_a_truncated_model(trained, tmp_path, data_dir, capsys):
    other = tmp_path / "cut"
    other.mkdir()
    for f in ("config.toml", "report.json"):
        (other / f).write_bytes((trained / f).read_bytes())
    (other / "model.npz").write_bytes((trained / "model.npz").read_bytes()[:500])
    assert main(["evaluate", str(other), "--data-dir", str(data_dir)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {other / 'model.npz'}: not a model file written by snnhw train (unreadable or "
        "truncated)")
