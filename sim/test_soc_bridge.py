"""The host runtime's rtl backend: the SoC's generated Verilog in Verilator, driven over its
UART pins by the framed client through the cocotb bridge (snnhw/host/rtl_bridge.py), gives
the golden backend's results with ==."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.host import Network
from snnhw.host.golden import GoldenBackend
from snnhw.host.rtl import RtlBackend
from snnhw.protocol import ProtocolError, Space, Status

ROOT = Path(__file__).resolve().parent.parent


def tiny_pruning_pair_stdp():
    """20 inputs, 6 neurons in 4 lanes, pair STDP and pruning with a connectivity schedule:
    every memory space and every field of SET_PARAMS in use."""
    doc = tomllib.loads((ROOT / "tests" / "data" / "host_tiny_20x6.toml").read_text())
    doc["stdp"].update(eta_pre=300, rounding="stochastic")
    doc["pruning"] = {"enabled": True, "threshold": 30, "warmup": 1, "target_permille": 500,
                      "schedule_samples": 2, "threshold_step": 10, "chunk_bits": 2}
    return resolve_layer(parse_config(doc))


def test_rtl_backend_gives_the_golden_results(tmp_path: Path):
    layer = tiny_pruning_pair_stdp()
    rng = np.random.default_rng(11)
    images = (rng.integers(0, 256, size=(6, layer.n_in))
              * (rng.random((6, layer.n_in)) < 0.7)).astype(np.uint8)
    labels = np.array([3, 1, 15, 3, 0, 1])
    results = []
    rtl = RtlBackend(layer, out_dir=tmp_path, spike_buffer=7)
    with Network(rtl) as net, Network(GoldenBackend(layer, spike_buffer=7)) as gold:
        assert rtl.info().spike_buffer == 7 and rtl.info().baud == 115200
        for n in (net, gold):
            n.set_labels(labels)
            n.backend.clear_counters()
            learned = [n.backend.present(x, learn=True, eta=4000,
                                         prune=n.backend.pruning_step(s, learn=True))
                       for s, x in enumerate(images[:4])]
            inferred = n.infer(images[4:])
            results.append((learned, inferred, n.backend.read_state(), n.backend.counters()))
        with pytest.raises(ProtocolError, match="READ_MEM failed: BAD_ADDRESS") as e:
            rtl.read_words(Space.WEIGHT, 4, 1)
        assert e.value.status == Status.BAD_ADDRESS
        # a whole state written into the SoC and read back
        state = results[1][2].copy()
        state.theta[:] = np.arange(layer.n_out) * 100
        rtl.write_state(state)
        back = rtl.read_state()
        assert back.theta.tolist() == state.theta.tolist()
        assert np.array_equal(back.gens.states, state.gens.states)
        assert np.array_equal(back.alive, state.alive)
    (rl, ri, rs, rc), (gl, gi, gs, gc) = results
    for s, (a, b) in enumerate(zip(rl, gl, strict=True)):
        assert (a.presentations, a.spikes_total, a.spikes) == (
            b.presentations, b.spikes_total, b.spikes), f"sample {s}"
        assert a.counts.tolist() == b.counts.tolist(), f"sample {s}"
        assert a.votes.tolist() == b.votes.tolist(), f"sample {s}"
    assert ri.counts.tolist() == gi.counts.tolist()
    assert ri.predictions.tolist() == gi.predictions.tolist()
    assert np.array_equal(rs.weights, gs.weights)
    assert np.array_equal(rs.theta, gs.theta)
    assert np.array_equal(rs.gens.states, gs.gens.states)
    assert np.array_equal(rs.alive, gs.alive) and not rs.alive.all()
    assert rs.prune_threshold == gs.prune_threshold > layer.pruning.threshold
    for name in ("busy_cycles", "synaptic_events", "input_events", "output_spikes",
                 "presentations", "alive"):
        assert getattr(rc, name) == getattr(gc, name), name
    assert rc.cycles > rc.busy_cycles and rc.weight_updates > 0
    assert sum(a.spikes_total for a in gl) > 7, "the samples must fire"
