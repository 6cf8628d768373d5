"""The worked examples of docs/semantics.md, checked against the golden model and the IR, so the
document cannot drift from the specification it describes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.layouts import event_layout, spike_layout, state_layout
from snnhw.golden import LayerModel, cycle_model, fire_step, ideal_cycles, integrate_events
from snnhw.golden.networks.lif_layer_cycles import group_spike_counts
from snnhw.ir import LayerIR
from snnhw.spikes import random_events


def make_layer(weights, *, lanes: int = 1, threshold: int = 10, membrane_bits: int = 16,
               weight_bits: int = 8, signed: bool = True, model: str = "if",
               leak_shift: int = 2, reset: str = "zero", refractory: int = 0) -> LayerIR:
    weights = np.array(weights, dtype=np.int64)
    n_in, n_out = weights.shape
    neurons = {"count": n_out, "model": model, "membrane_bits": membrane_bits,
               "threshold": threshold, "reset": reset, "refractory": refractory}
    if model == "lif":
        neurons["leak_shift"] = leak_shift
    layer = resolve_layer(parse_config({
        "input": {"size": n_in},
        "neurons": neurons,
        "synapses": {"weight_bits": weight_bits, "signed": signed, "init": "zeros"},
        "hardware": {"lanes": lanes},
    }))
    weights.setflags(write=False)
    return dataclasses.replace(layer, weights=weights)


def arr(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# -- section 3 -------------------------------------------------------------------------------

def test_integrate_order_example():
    layer = make_layer([[3], [-4]], membrane_bits=4, weight_bits=3, threshold=7)
    assert (layer.vmin, layer.vmax) == (-8, 7)
    assert integrate_events(layer, layer.weights, arr(6), arr(0), arr(0, 1)).tolist() == [3]
    assert integrate_events(layer, layer.weights, arr(6), arr(0), arr(1, 0)).tolist() == [5]


def test_integrate_duplicates_apply_twice_and_refractory_ignores_input():
    layer = make_layer([[3, 3]])
    v = integrate_events(layer, layer.weights, arr(0, 0), arr(0, 1), arr(0, 0))
    assert v.tolist() == [6, 0]


@pytest.mark.parametrize(("v", "leaked"), [(5, 4), (-5, -3), (3, 3), (-1, 0)])
def test_leak_table(v, leaked):
    layer = make_layer([[0]], model="lif", leak_shift=2, threshold=100)
    v_new, ref_new, spikes = fire_step(layer, arr(v), arr(0))
    assert v_new.tolist() == [leaked] and not spikes.any() and ref_new.tolist() == [0]


@pytest.mark.parametrize("membrane_bits", [2, 5, 8])
def test_leak_is_ceil_and_in_range(membrane_bits):
    v = np.arange(-2 ** (membrane_bits - 1), 2 ** (membrane_bits - 1), dtype=np.int64)
    for s in range(1, membrane_bits):
        layer = make_layer([[0]], model="lif", leak_shift=s, membrane_bits=membrane_bits,
                           weight_bits=1, signed=False, threshold=2 ** (membrane_bits - 1) - 1)
        v_new, _, spikes = fire_step(layer, v, np.zeros_like(v))
        quiet = ~spikes
        # leaked = ceil(v * (1 - 2**-s)), in integers
        assert (v_new[quiet] == -((-v[quiet] * (2**s - 1)) // 2**s)).all()
        pos, neg = quiet & (v >= 0), quiet & (v < 0)
        assert ((v_new[pos] >= 0) & (v_new[pos] <= v[pos])).all()
        assert ((v_new[neg] >= v[neg] + 1) & (v_new[neg] <= 0)).all()


def test_subtract_reset_examples():
    model = LayerModel(make_layer([[0]], reset="subtract", threshold=10))
    model.v[:] = 25
    fired = [bool(model.step(arr())[0]) for _ in range(3)]
    assert fired == [True, True, False] and model.v.tolist() == [5]
    lif = make_layer([[0]], model="lif", leak_shift=2, reset="subtract", threshold=10)
    v_new, ref_new, spikes = fire_step(lif, arr(25), arr(0))
    assert spikes.tolist() == [True] and v_new.tolist() == [9] and ref_new.tolist() == [0]


def test_refractory_period_example():
    model = LayerModel(make_layer([[10]], refractory=2, threshold=10))
    trace = model.run([arr(0)] * 7)
    assert trace.spikes[:, 0].tolist() == [True, False, False, True, False, False, True]


# -- section 6 -------------------------------------------------------------------------------

def test_weight_layout_table():
    layer = make_layer(np.zeros((3, 3)), lanes=2)
    assert (layer.npl, layer.padded_out, layer.bank_depth) == (2, 4, 6)
    table = {  # (bank, addr) -> (i, j); j = 3 is padding
        (0, 0): (0, 0), (1, 0): (0, 1), (0, 1): (0, 2), (1, 1): (0, 3),
        (1, 2): (1, 0), (0, 2): (1, 1), (1, 3): (1, 2), (0, 3): (1, 3),
        (0, 4): (2, 0), (1, 4): (2, 1), (0, 5): (2, 2), (1, 5): (2, 3),
    }
    for (bank, addr), (i, j) in table.items():
        assert tuple(int(x) for x in layer.weight_location(i, j)) == (bank, addr)


def test_payload_and_state_bit_layouts():
    assert {n: (f.offset, f.width) for n, f in state_layout(10, 2)} == {"v": (0, 10),
                                                                          "ref": (10, 2)}
    assert {n: (f.offset, f.width) for n, f in event_layout(5)} == {"index": (0, 5),
                                                                      "eot": (5, 1)}
    assert {n: (f.offset, f.width) for n, f in spike_layout(4, 16)} == {"neuron": (0, 4),
                                                                          "timestep": (4, 16)}


# -- section 7 -------------------------------------------------------------------------------

def test_cycle_model_example():
    w = np.zeros((4, 10), dtype=np.int64)
    w[0:3, [0, 1, 2, 9]] = 4
    w[3, [8, 9]] = 10
    layer = make_layer(w, lanes=4, threshold=10)
    trace = LayerModel(layer).run([arr(0, 1, 2), arr(3)])
    assert trace.spike_events() == [(0, 0), (0, 1), (0, 2), (0, 9), (1, 8), (1, 9)]
    assert group_spike_counts(layer, trace.spikes).tolist() == [[3, 0, 1], [0, 0, 2]]
    c = trace.cycles
    assert (c.busy_cycles, c.synaptic_events, c.input_events, c.output_spikes) == (23, 40, 4, 6)
    ideal = ideal_cycles(layer, trace.event_counts)
    padding = int((trace.event_counts * layer.npl
                   - -(-trace.event_counts * layer.n_out // layer.lanes)).sum())
    assert (ideal, padding) == (17, 1)
    assert c.busy_cycles == ideal + padding + 2 + 1 + 2  # stalls, S1 drain, p_last


def test_cycle_model_empty_run():
    layer = make_layer([[1]])
    assert cycle_model(layer, arr(), np.zeros((0, 1), dtype=bool)).busy_cycles == 0


# -- section 8 -------------------------------------------------------------------------------

def test_random_events_definition():
    events = random_events(20, 5, 0.3, seed=7)
    raster = np.random.default_rng(7).random((5, 20)) < 0.3
    assert [e.tolist() for e in events] == [np.flatnonzero(r).tolist() for r in raster]
    assert all(e.size == 0 for e in random_events(4, 3, 0.0, seed=1))
    assert all(e.tolist() == [0, 1, 2, 3] for e in random_events(4, 3, 1.0, seed=1))
