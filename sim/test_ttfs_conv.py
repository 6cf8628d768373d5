"""cocotb bench of the generated TTFS conv core on real images (Verilator by default;
``SIM=icarus`` where iverilog is installed).

The RTL learns each conv layer in turn from real images (conv2 prunes), then infers. After
every image the bench compares every conv spike (stage, map, position, timestep), every
weight and alive bit, the generators, images learned, alive counts, the cycle, synaptic-update
and weight-update counters, and after inference the readout, with ==.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from snnhw.config import load_config
from snnhw.families import resolve
from snnhw.verify import verify

ROOT = Path(__file__).resolve().parent.parent
SIM = os.environ.get("SIM", "verilator")
CASES = [("mnist_small", "mnist", 10), ("caltech_tiny", "caltech-facemotor", 3)]


@pytest.mark.parametrize("name,dataset,samples", CASES, ids=[c[0] for c in CASES])
def test_rtl_learns_images_like_golden(name, dataset, samples, data_dir, tmp_path: Path):
    if SIM == "icarus" and not shutil.which("iverilog"):
        pytest.skip("Icarus Verilog (iverilog) is not installed")
    config = ROOT / "sim" / "configs" / "ttfs" / f"{name}.toml"
    net = resolve(load_config(config))
    r = verify(config, simulator=SIM, out_dir=tmp_path, samples=samples, infer_samples=2,
               dataset=dataset, data_dir=data_dir)
    assert r.errors == 0, r.summary()
    images = 2 * samples + 2
    assert r.samples == images
    convs = net.conv_layers
    taps = sum(c.taps for c in convs)
    assert r.compared["weight"] == images * taps  # every weight after every image
    assert r.compared["alive"] == images * taps
    size = [int(np.prod(c.out_shape)) for c in convs]
    inferred = size[:-1] if net.features == "max_potential" else size  # readout only integrates
    # every neuron's spike time of every layer the image went through
    assert r.compared["spike map"] == samples * size[0] + samples * sum(size) + 2 * sum(inferred)
    assert r.compared["spike"] > 50, "the images must make the network fire"
    assert r.rtl_counters["alive1"] < convs[1].taps, "conv2 prunes while it learns"


@pytest.mark.parametrize("change", [("a_plus = 2000", "a_plus = 2100"),
                                    ("threshold = 190", "threshold = 191")],
                         ids=["rate", "prune-threshold"])
def test_bench_detects_a_mismatch(change, data_dir, tmp_path: Path):
    """The same Verilog checked against a golden model that learns a little differently (conv1's
    a+ 5 % higher; conv2's pruning threshold one step up) must fail, and say where."""
    if SIM == "icarus" and not shutil.which("iverilog"):
        pytest.skip("Icarus Verilog (iverilog) is not installed")
    config = ROOT / "sim" / "configs" / "ttfs" / "caltech_tiny.toml"
    other = tmp_path / "other.toml"
    text = config.read_text()
    assert change[0] in text
    other.write_text(text.replace(change[0], change[1]))
    r = verify(config, simulator=SIM, out_dir=tmp_path / "run", samples=3, infer_samples=0,
               dataset="caltech-facemotor", data_dir=data_dir, golden_config=other)
    assert r.errors > 0 and r.first_mismatch is not None
    assert "FAIL" in r.summary() and "expected" in r.summary()
