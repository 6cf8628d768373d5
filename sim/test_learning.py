"""cocotb bench of the generated learning core on real MNIST digits (Verilator by default;
``SIM=icarus`` where iverilog is installed).

The RTL learns the first training digits and then runs more without learning. After every
sample the bench compares every spike (attempt, timestep, neuron), every weight, every
threshold, every spike count and the busy-cycle counter with the golden model, with ==.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from snnhw.verify import verify

ROOT = Path(__file__).resolve().parent.parent
SIM = os.environ.get("SIM", "verilator")
# the bench's small network (with pair STDP), and every learning example (400 neurons: about
# 3 to 4 minutes each)
CONFIGS = sorted((ROOT / "sim" / "configs" / "learning").glob("*.toml")) + sorted(
    (ROOT / "examples" / "learning").glob("*.toml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_rtl_learns_mnist_like_golden(config: Path, data_dir, tmp_path: Path):
    if SIM == "icarus" and not shutil.which("iverilog"):
        pytest.skip("Icarus Verilog (iverilog) is not installed")
    r = verify(config, simulator=SIM, out_dir=tmp_path, samples=10, infer_samples=2,
               data_dir=data_dir)
    assert r.errors == 0, r.summary()
    assert r.samples == 12
    neurons = r.compared["theta"] // 12
    assert r.compared["weight"] == 12 * 784 * neurons  # every weight after every sample
    assert r.compared["count"] == 12 * neurons
    pruning = "[pruning]" in config.read_text()
    # busy cycles and input events per sample, and with pruning the connections alive
    assert r.compared["counter"] == (3 if pruning else 2) * 12
    if pruning:
        assert r.compared["alive"] == 12 * 784 * neurons  # every alive bit after every sample
        if "mnist_784x24_prune" in config.name:  # pruning starts with the fifth sample
            assert r.compared["pruned_zero"] > 0, "pruned weights stay 0 in the RTL"
    assert r.input_events > 0
    assert r.compared.get("spike", 0) > 20, "the digits must make the network fire"
