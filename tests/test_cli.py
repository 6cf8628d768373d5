"""The command line: generate, simulate and their outputs, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnhw.cli import main
from snnhw.config import load_config
from snnhw.families import resolve_layer
from snnhw.golden import LayerModel
from snnhw.spikes import load_events, random_events

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "examples" / "small_if_24x10.toml"


def read_memh(path: Path, width: int, signed: bool) -> np.ndarray:
    words = np.array([int(line, 16) for line in path.read_text().split()], dtype=np.int64)
    if signed:
        words = np.where(words >> (width - 1), words - (1 << width), words)
    return words


@pytest.mark.parametrize("config", sorted((ROOT / "examples").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_generate_writes_verilog_images_and_manifest(config: Path, tmp_path: Path, capsys):
    assert main(["generate", str(config), "-o", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    layer = resolve_layer(load_config(config))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["top"] == f"{layer.name}_core"
    assert manifest["lanes"] == layer.lanes
    verilog = (tmp_path / manifest["verilog"]).read_text()
    assert f"module {manifest['top']}(" in verilog
    mems = {m["name"]: m for m in manifest["memories"]}
    assert mems["weights"]["depth"] == layer.n_in * layer.npl
    assert mems["weights"]["width"] == layer.weight_bits
    assert mems["state"]["width"] == layer.membrane_bits + layer.ref_bits
    assert manifest["total_memory_bits"] == sum(m["bits"] for m in mems.values())
    for m in mems.values():
        assert m["bits"] == m["banks"] * m["depth"] * m["width"]
    # the bank images hold exactly the initial weights, in the documented layout
    banks = np.stack([read_memh(tmp_path / f, layer.weight_bits, layer.weight_signed)
                      for f in mems["weights"]["init_files"]])
    assert np.array_equal(layer.weights_from_banks(banks), layer.weights)
    ports = manifest["ports"]
    assert ports["i_event__valid"]["direction"] == "input"
    assert ports["o_spike__valid"]["direction"] == "output"
    assert ports["i_event__payload"]["width"] == layer.index_bits + 1
    resolved = json.loads((tmp_path / "resolved_config.json").read_text())
    assert resolved["resolved"]["npl"] == layer.npl


def test_simulate_random_matches_golden(tmp_path: Path, capsys):
    assert main(["simulate", str(SMALL), "--random", "30", "--seed", "3", "--activity", "0.3",
                 "-o", str(tmp_path)]) == 0
    assert "30 timesteps" in capsys.readouterr().out
    layer = resolve_layer(load_config(SMALL))
    events = random_events(layer.n_in, 30, 0.3, 3)
    trace = LayerModel(layer).run(events)
    assert [e.tolist() for e in load_events(tmp_path / "input_events.txt", layer.n_in)] == \
        [e.tolist() for e in events]
    assert np.array_equal(np.load(tmp_path / "output_spikes.npy"), trace.spikes)
    state = np.load(tmp_path / "final_state.npz")
    assert np.array_equal(state["v"], trace.v) and np.array_equal(state["ref"], trace.ref)
    lines = (tmp_path / "output_spikes.txt").read_text().splitlines()[1:]
    assert [tuple(map(int, x.split())) for x in lines] == trace.spike_events()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["busy_cycles"] == trace.cycles.busy_cycles
    assert report["output_spikes"] == int(trace.spikes.sum())
    assert (tmp_path / "output_spikes.png").stat().st_size > 0


def test_simulate_input_file(tmp_path: Path):
    spikes = tmp_path / "in.txt"
    spikes.write_text("# two timesteps, then an empty one\n0 5 5 23\n1\n\n")
    assert main(["simulate", str(SMALL), "--input", str(spikes), "-o", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["timesteps"] == 3 and report["input_events"] == 5


@pytest.mark.parametrize("argv, message", [
    (["simulate", "{small}", "--input", "{tmp}/missing.txt"], "no such input file"),
    (["simulate", "{small}", "--input", "{tmp}/bad.txt"], "bad.txt:1: input index out of range"),
    (["simulate", "{small}", "--random", "5", "--activity", "2"], "activity = 2.0: must be"),
    (["generate", "{tmp}/nope.toml"], "cannot read config"),
    (["validate", "{tmp}/binary.toml"], "not a text file"),
    (["simulate", "{small}", "--input", "{tmp}/empty.npy"], "not a NumPy array file"),
    (["simulate", "{small}", "--input", "{tmp}/half.npy"], "must hold only 0 and 1"),
    (["simulate", "{small}", "--input", "{tmp}/latin1.txt"], "cannot read spike file"),
    (["simulate", "{small}", "--random", "5", "--seed", "-1"], "seed = -1: must be"),
    (["generate", "{small}", "-o", "{tmp}/bad.txt/out"], "cannot create output folder"),
    (["verify", "{small}", "--activity", "1.5", "-o", "{tmp}/v"], "activity = 1.5"),
    (["generate", "{tmp}/soft.toml", "-o", "{tmp}/g"],
     "the learning core needs stdp.enabled = true"),
], ids=["missing-input", "index-range", "activity", "missing-config", "binary-config",
        "empty-npy", "fractional-npy", "non-utf8-txt", "negative-seed", "output-is-file",
        "verify-checks-first", "learning-config"])
def test_user_errors_are_one_line(argv, message, tmp_path: Path, capsys):
    (tmp_path / "bad.txt").write_text("3 99\n")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe[input]\n")
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "half.npy", np.full((2, 24), 0.5))
    (tmp_path / "latin1.txt").write_bytes("1 2 # caf\xe9\n".encode("latin-1"))
    (tmp_path / "soft.toml").write_text(  # STDP without winner-take-all: golden model only
        "[input]\nsize = 4\n[neurons]\ncount = 2\nthreshold = 9\ntheta_increment = 5\n"
        "[synapses]\nsigned = false\n[stdp]\nenabled = true\n")
    argv = [a.format(small=SMALL, tmp=tmp_path, root=ROOT) for a in argv]
    if argv[0] == "simulate":
        argv += ["-o", str(tmp_path / "out")]
    assert main(argv) == 1
    out = capsys.readouterr()
    if argv[0] == "validate":  # validate reports on stdout, without a prefix
        lines = ["error: " + line for line in out.out.strip().splitlines()]
    else:
        lines = [line for line in out.err.strip().splitlines()
                 if not line.startswith("snnhw verify:")]  # progress lines
    # one line per mistake: the soft-inhibition config uses two features without gateware
    assert len(lines) == (2 if "soft" in argv[1] else 1), lines
    assert all(line.startswith("error: ") for line in lines) and message in lines[0], lines
