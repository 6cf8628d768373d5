"""cocotb benches of the generated neuron core against the golden model (Verilator by default;
``SIM=icarus`` where iverilog is installed).

Each case generates the Verilog, drives a seeded random spike train through it and compares
every output spike, final membrane and refractory counter, every weight (read back through the
host port) and the cycle counters with the golden model, with ``==``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from snnhw.cli import main
from snnhw.verify import verify

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "examples").glob("*.toml")) + sorted((ROOT / "sim" / "configs").glob(
    "*.toml"))
SIM = os.environ.get("SIM", "verilator")

# (timesteps, activity) per config: enough input to fire every neuron many times.
RUNS = {"lif_784x100": (40, 0.1), "small_if_24x10": (60, 0.3), "npl1_8x8": (80, 0.5),
        "wide_64x40": (60, 0.4), "lanes5_200x37": (50, 0.2)}


def _need_simulator():
    if SIM == "icarus" and not shutil.which("iverilog"):
        pytest.skip("Icarus Verilog (iverilog) is not installed")


@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_rtl_matches_golden(config: Path, seed: int, tmp_path: Path):
    _need_simulator()
    timesteps, activity = RUNS.get(config.stem, (40, 0.2))
    if seed != 1 and config.stem == "lif_784x100":
        timesteps = 15  # the large case's second seed is shorter, to keep CI time down
    r = verify(config, simulator=SIM, seed=seed, timesteps=timesteps, activity=activity,
               out_dir=tmp_path, waves=bool(os.environ.get("SNNHW_WAVES")))
    assert r.errors == 0, r.summary()
    assert r.first_mismatch is None
    assert r.compared.get("spike", 0) == r.expected_spikes == r.observed_spikes
    assert r.expected_spikes > 0, "the run must make the neurons fire to test anything"
    assert r.compared["counter"] == 5
    assert r.compared["membrane"] > 0 and r.compared["weight"] > 0


def test_bench_detects_a_mismatch(tmp_path: Path):
    """The same Verilog checked against a golden model with another threshold must fail, and
    the report must say where."""
    _need_simulator()
    config = ROOT / "sim" / "configs" / "npl1_8x8.toml"
    other = tmp_path / "other.toml"
    other.write_text(config.read_text().replace("threshold = 20", "threshold = 21"))
    r = verify(config, simulator=SIM, seed=1, timesteps=40, activity=0.5,
               out_dir=tmp_path / "run", golden_config=other)
    assert r.errors > 0
    assert r.first_mismatch is not None
    assert "expected" in r.summary() and "FAIL" in r.summary()


def test_verify_cli(tmp_path: Path, capsys):
    _need_simulator()
    config = ROOT / "examples" / "small_if_24x10.toml"
    status = main(["verify", str(config), "--sim", SIM, "--timesteps", "20", "--seed", "4",
                   "--activity", "0.3", "-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "PASS: 0 mismatches" in out
    assert "20 timesteps" in out
