"""Hand-computed and reference-checked tests of the golden model: neuron arithmetic
(:mod:`snnhw.golden.blocks.neuron`), the cycle model
(:mod:`snnhw.golden.networks.lif_layer_cycles`) and the skewed weight layout of
:class:`snnhw.ir.LayerIR`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snnhw.config import parse_config
from snnhw.golden import LayerModel, cycle_model, fire_step, ideal_cycles, integrate_events
from snnhw.ir import LayerIR, resolve


def make_layer(weights=None, *, n_in: int = 1, n_out: int = 1, lanes: int = 1,
               threshold: int = 100, membrane_bits: int = 16, weight_bits: int = 8,
               signed: bool = True, model: str = "if", leak_shift: int = 4,
               reset: str = "zero", refractory: int = 0) -> LayerIR:
    """A layer through the real config -> IR path, with ``weights`` put in afterwards."""
    if weights is not None:
        weights = np.array(weights, dtype=np.int64)
        n_in, n_out = weights.shape
    neurons = {"count": n_out, "model": model, "membrane_bits": membrane_bits,
               "threshold": threshold, "reset": reset, "refractory": refractory}
    if model == "lif":
        neurons["leak_shift"] = leak_shift
    layer = resolve(parse_config({
        "input": {"size": n_in},
        "neurons": neurons,
        "synapses": {"weight_bits": weight_bits, "signed": signed, "init": "zeros"},
        "hardware": {"lanes": lanes},
    }))
    if weights is None:
        return layer
    assert layer.wmin <= weights.min() and weights.max() <= layer.wmax
    weights.setflags(write=False)
    return dataclasses.replace(layer, weights=weights)


def arr(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# -- integrate_events ------------------------------------------------------------------------

# membrane_bits = 4: v in -8..7; weight_bits = 3: w in -4..3
SMALL = {"membrane_bits": 4, "weight_bits": 3, "threshold": 7}


def test_integrate_saturates_after_every_addition_high():
    layer = make_layer([[3], [-4]], **SMALL)
    v = integrate_events(layer, layer.weights, arr(6), arr(0), arr(0, 1))
    # sat(sat(6 + 3) - 4) = sat(7 - 4) = 3, whereas sat(6 + 3 - 4) would be 5
    assert v.tolist() == [3]


def test_integrate_saturates_after_every_addition_low():
    layer = make_layer([[3], [-4]], **SMALL)
    v = integrate_events(layer, layer.weights, arr(-7), arr(0), arr(1, 0))
    # sat(sat(-7 - 4) + 3) = sat(-8 + 3) = -5, whereas sat(-7 - 4 + 3) would be -8
    assert v.tolist() == [-5]


def test_integrate_event_order_matters():
    layer = make_layer([[3], [-4]], **SMALL)
    # -4 first: 6 - 4 = 2, 2 + 3 = 5 (never saturates); +3 first saturates (see above)
    assert integrate_events(layer, layer.weights, arr(6), arr(0), arr(1, 0)).tolist() == [5]
    assert integrate_events(layer, layer.weights, arr(6), arr(0), arr(0, 1)).tolist() == [3]


def test_integrate_saturates_at_both_limits_and_stays():
    layer = make_layer([[3, -4]], **SMALL)
    v = integrate_events(layer, layer.weights, arr(0, 0), arr(0, 0), arr(0, 0, 0, 0))
    assert v.tolist() == [7, -8]


def test_integrate_mixed_saturating_and_plain_neurons():
    # neuron 0 saturates on the way, neuron 1 does not, neuron 2 is refractory
    layer = make_layer([[3, 1, 3], [-4, -1, -4]], **SMALL)
    v = integrate_events(layer, layer.weights, arr(6, 0, 6), arr(0, 0, 1), arr(0, 1, 0))
    assert v.tolist() == [6, 1, 6]  # 6 -> 7 -> 3 -> 6 | 0 -> 1 -> 0 -> 1 | kept


def test_integrate_refractory_neurons_ignore_input():
    layer = make_layer([[3, 3, 3]])
    v = integrate_events(layer, layer.weights, arr(1, 1, 1), arr(0, 2, 1), arr(0, 0))
    assert v.tolist() == [7, 1, 1]


def test_integrate_duplicate_events_add_each_time():
    layer = make_layer([[5, -2], [1, 1]])
    v = integrate_events(layer, layer.weights, arr(0, 0), arr(0, 0), arr(0, 0, 1, 0))
    assert v.tolist() == [16, -5]


def test_integrate_no_events_and_input_untouched():
    layer = make_layer([[5]])
    v_in = arr(3)
    assert integrate_events(layer, layer.weights, v_in, arr(0), arr()).tolist() == [3]
    out = integrate_events(layer, layer.weights, v_in, arr(0), arr(0))
    assert out.tolist() == [8] and v_in.tolist() == [3]


def naive_integrate(layer: LayerIR, weights, v, ref, events) -> np.ndarray:
    """Per event, per neuron, with a clamp after every addition: the definition."""
    out = [int(x) for x in v]
    for i in events:
        for j in range(layer.n_out):
            if ref[j] == 0:
                out[j] = min(max(out[j] + int(weights[i, j]), layer.vmin), layer.vmax)
    return np.array(out, dtype=np.int64)


def naive_fire(layer: LayerIR, v, ref) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leak (floor division, i.e. rounding toward minus infinity), fire, reset, refractory."""
    v_out, ref_out, spikes = [], [], []
    for vj, rj in zip(v.tolist(), ref.tolist(), strict=True):
        if rj > 0:
            v_out.append(vj)
            ref_out.append(rj - 1)
            spikes.append(False)
            continue
        leaked = vj - vj // 2**layer.leak_shift if layer.leak_shift else vj
        spike = leaked >= layer.threshold
        if spike:
            leaked = 0 if layer.reset == "zero" else leaked - layer.threshold
        v_out.append(leaked)
        ref_out.append(layer.refractory if spike else 0)
        spikes.append(spike)
    return np.array(v_out), np.array(ref_out), np.array(spikes)


# (membrane_bits, weight_bits, signed, events per step, seed): the small membranes saturate
# often; 16 bits never does, which exercises the vectorized path without the replay.
RANDOM_CASES = [
    (4, 3, True, 12, 1),
    (5, 4, True, 30, 2),
    (6, 4, False, 20, 3),
    (8, 7, True, 40, 4),
    (16, 8, True, 25, 5),
    (16, 8, False, 25, 6),
]


@pytest.mark.parametrize("mb, wb, signed, n_events, seed", RANDOM_CASES,
                         ids=[f"mb{c[0]}-wb{c[1]}-{'s' if c[2] else 'u'}-e{c[3]}-seed{c[4]}"
                              for c in RANDOM_CASES])
def test_integrate_matches_naive_loop(mb, wb, signed, n_events, seed):
    rng = np.random.default_rng(seed)
    n_in, n_out = 9, 23
    layer = make_layer(n_in=n_in, n_out=n_out, membrane_bits=mb, weight_bits=wb,
                       signed=signed, refractory=3, threshold=2 ** (mb - 1) - 1)
    clamped = 0
    for _ in range(20):
        w = rng.integers(layer.wmin, layer.wmax, size=(n_in, n_out), endpoint=True)
        # 16-bit membranes start near zero, far from the limits
        vlim = 1000 if mb == 16 else layer.vmax
        v = rng.integers(-vlim, vlim, size=n_out, endpoint=True)
        ref = rng.choice([0, 0, 0, 1, 3], size=n_out)
        events = rng.integers(0, n_in, size=rng.integers(0, n_events + 1))
        got = integrate_events(layer, w, v, ref, events)
        assert np.array_equal(got, naive_integrate(layer, w, v, ref, events))
        plain = v + np.where(ref == 0, w[events].sum(axis=0), 0)
        clamped += int((got != plain).sum())
    if mb < 16:
        assert clamped > 0, "the case should exercise saturation"
    else:
        assert clamped == 0


FIRE_CASES = [
    ("lif", 1, "zero", 0, 1), ("lif", 3, "subtract", 2, 2), ("lif", 7, "zero", 5, 3),
    ("if", 0, "subtract", 1, 4), ("if", 0, "zero", 0, 5),
]


@pytest.mark.parametrize("model, shift, reset, refractory, seed", FIRE_CASES,
                         ids=[f"{c[0]}-shift{c[1]}-{c[2]}-ref{c[3]}-seed{c[4]}"
                              for c in FIRE_CASES])
def test_fire_step_matches_naive_loop(model, shift, reset, refractory, seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(n_out=200, membrane_bits=8, weight_bits=4, model=model,
                       leak_shift=shift, reset=reset, refractory=refractory, threshold=20)
    assert layer.leak_shift == shift
    v = rng.integers(layer.vmin, layer.vmax, size=200, endpoint=True)
    ref = rng.integers(0, refractory, size=200, endpoint=True)
    got = fire_step(layer, v, ref)
    want = naive_fire(layer, v, ref)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)


# -- fire_step, by hand ----------------------------------------------------------------------

def test_leak_rounds_toward_minus_infinity():
    layer = make_layer(n_out=8, model="lif", leak_shift=2, threshold=1000)
    v = arr(-5, -1, -4, -8, 5, 1, 0, 7)
    got, ref, spikes = fire_step(layer, v, np.zeros(8, dtype=np.int64))
    # v >> 2: -2, -1, -1, -2, 1, 0, 0, 1 (rounding toward zero would give -1, 0, -1, -2, ...)
    assert got.tolist() == [-3, 0, -3, -6, 4, 1, 0, 6]
    assert not spikes.any() and not ref.any()


def test_leak_of_most_negative_potential_does_not_overflow():
    layer = make_layer(n_out=2, membrane_bits=8, weight_bits=4, model="lif", leak_shift=1,
                       threshold=100)
    got, _, _ = fire_step(layer, arr(-128, 127), arr(0, 0))
    assert got.tolist() == [-64, 64]


def test_if_model_has_no_leak():
    layer = make_layer(n_out=4, model="if", threshold=100)
    assert layer.leak_shift == 0
    got, _, spikes = fire_step(layer, arr(-5, -1, 3, 99), arr(0, 0, 0, 0))
    assert got.tolist() == [-5, -1, 3, 99] and not spikes.any()


def test_threshold_equality_fires_reset_zero():
    layer = make_layer(n_out=4, threshold=5, reset="zero")
    got, ref, spikes = fire_step(layer, arr(4, 5, 6, 9), arr(0, 0, 0, 0))
    assert spikes.tolist() == [False, True, True, True]
    assert got.tolist() == [4, 0, 0, 0]
    assert ref.tolist() == [0, 0, 0, 0]


def test_reset_subtract():
    layer = make_layer(n_out=4, threshold=5, reset="subtract")
    got, _, spikes = fire_step(layer, arr(4, 5, 6, 12), arr(0, 0, 0, 0))
    assert spikes.tolist() == [False, True, True, True]
    assert got.tolist() == [4, 0, 1, 7]  # 12 - 5 = 7 stays above threshold: fires again later


def test_threshold_applies_to_leaked_potential():
    layer = make_layer(n_out=3, model="lif", leak_shift=2, threshold=5, reset="subtract")
    got, _, spikes = fire_step(layer, arr(7, 6, 5), arr(0, 0, 0))
    # leaked: 7 - 1 = 6 fires, 6 - 1 = 5 fires (equality), 5 - 1 = 4 does not
    assert spikes.tolist() == [True, True, False]
    assert got.tolist() == [1, 0, 4]


def test_refractory_countdown_keeps_potential_without_leak():
    layer = make_layer(n_out=3, model="lif", leak_shift=1, threshold=4, refractory=3)
    got, ref, spikes = fire_step(layer, arr(8, 8, 8), arr(0, 1, 3))
    assert spikes.tolist() == [True, False, False]  # refractory neurons never fire
    assert got.tolist() == [0, 8, 8]  # and are neither leaked nor reset
    assert ref.tolist() == [3, 0, 2]


def test_layer_refractory_timesteps_ignore_input():
    # IF, threshold 4, W = 5: fires whenever it integrates. With refractory 2 the two timesteps
    # after a spike ignore their input.
    layer = make_layer([[5]], threshold=4, refractory=2)
    trace = LayerModel(layer).run([arr(0)] * 7)
    assert trace.spikes[:, 0].tolist() == [True, False, False, True, False, False, True]
    assert trace.v.tolist() == [0] and trace.ref.tolist() == [2]
    layer0 = make_layer([[5]], threshold=4, refractory=0)
    assert LayerModel(layer0).run([arr(0)] * 4).spikes[:, 0].all()


def test_layer_refractory_with_subtract_keeps_potential_over_threshold():
    # t0: 7 fires -> 4, ref 1. t1: input ignored, 4 >= 3 but refractory: no spike, v kept.
    # t2: 4 + 7 = 11 fires -> 8, ref 1. t3: refractory, kept. t4: no input, 8 fires -> 5.
    layer = make_layer([[7]], threshold=3, reset="subtract", refractory=1, membrane_bits=5,
                       weight_bits=4)
    model = LayerModel(layer)
    trace = model.run([arr(0), arr(0), arr(0), arr(), arr()])
    assert trace.spikes[:, 0].tolist() == [True, False, True, False, True]
    assert trace.v.tolist() == [5] and trace.ref.tolist() == [1]


# -- cycle model -----------------------------------------------------------------------------

def test_ideal_cycles_formula():
    layer = make_layer(n_in=4, n_out=3, lanes=2)
    # per timestep ceil(e * 3 / 2) + ceil(3 / 2): e = 2 -> 3 + 2, e = 0 -> 0 + 2, e = 3 -> 5 + 2
    assert ideal_cycles(layer, arr(2, 0, 3)) == 14
    assert ideal_cycles(layer, arr()) == 0
    assert ideal_cycles(make_layer(n_in=4, n_out=8, lanes=8), arr(5, 1)) == 5 + 1 + 1 + 1


def test_cycle_model_by_hand():
    layer = make_layer(n_in=4, n_out=3, lanes=2)  # npl = 2: groups {0, 1} and {2, pad}
    assert layer.npl == 2
    spikes = np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)
    c = cycle_model(layer, arr(1, 2), spikes)
    # issue (1+1 + 2+1) * 2 = 10; group spikes [2, 1, 2, 0]: stalls 1 + 0 + 1 = 2;
    # drain 1 + 0 (last group silent)
    assert c.busy_cycles == 13
    assert (c.synaptic_events, c.timesteps, c.input_events, c.output_spikes) == (9, 2, 3, 5)


def test_cycle_model_last_group_drains_its_spikes():
    layer = make_layer(n_in=4, n_out=3, lanes=2)
    spikes = np.array([[0, 0, 0], [1, 1, 1]], dtype=bool)
    c = cycle_model(layer, arr(0, 3), spikes)
    # issue (0+1 + 3+1) * 2 = 10; group spikes [0, 0, 2, 1]: stalls 1; drain 1 + 1
    assert c.busy_cycles == 13
    assert (c.synaptic_events, c.timesteps, c.input_events, c.output_spikes) == (9, 2, 3, 3)


def test_cycle_model_one_lane_per_neuron():
    layer = make_layer(n_in=2, n_out=2, lanes=2)  # npl = 1
    spikes = np.array([[1, 1], [0, 1], [1, 1]], dtype=bool)
    c = cycle_model(layer, arr(2, 0, 1), spikes)
    # issue (3 + 1 + 2) * 1 = 6; group spikes [2, 1, 2]: stalls 1 + 0; drain 1 + 2
    assert c.busy_cycles == 10
    assert c.output_spikes == 5 and c.synaptic_events == 6


def test_cycle_model_empty_run():
    layer = make_layer(n_in=4, n_out=3, lanes=2)
    c = cycle_model(layer, arr(), np.zeros((0, 3), dtype=bool))
    assert dataclasses.astuple(c) == (0, 0, 0, 0, 0)


def test_layer_model_trace_carries_cycle_model():
    layer = make_layer([[5, 1, 5]], lanes=2, threshold=4)
    trace = LayerModel(layer).run([arr(0), arr(), arr(0, 0)])
    assert trace.spike_events() == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert trace.event_counts.tolist() == [1, 0, 2]
    assert trace.cycles == cycle_model(layer, trace.event_counts, trace.spikes)


# -- weight layout ---------------------------------------------------------------------------

LAYOUTS = [(1, 1, 1), (5, 3, 1), (5, 3, 3), (7, 10, 4), (6, 9, 2), (4, 5, 5), (3, 13, 5)]


def _layout_id(c):
    return f"in{c[0]}-out{c[1]}-p{c[2]}"


@pytest.mark.parametrize("n_in, n_out, lanes", LAYOUTS, ids=[_layout_id(c) for c in LAYOUTS])
def test_weight_banks_round_trip(n_in, n_out, lanes):
    rng = np.random.default_rng(n_in * 100 + n_out)
    layer = make_layer(n_in=n_in, n_out=n_out, lanes=lanes, weight_bits=8)
    w = rng.integers(1, 127, size=(n_in, n_out), endpoint=True)  # all nonzero
    banks = layer.weight_banks(w)
    assert banks.shape == (lanes, n_in * layer.npl)
    assert np.array_equal(layer.weights_from_banks(banks), w)
    # every weight has its own word; the rest (padding neurons) is zero
    assert np.count_nonzero(banks) == n_in * n_out
    assert sorted(banks[banks != 0].tolist()) == sorted(w.reshape(-1).tolist())
    # the default is the layer's own (all-zero) weights
    assert not layer.weight_banks().any()


@pytest.mark.parametrize("n_in, n_out, lanes", LAYOUTS, ids=[_layout_id(c) for c in LAYOUTS])
def test_weight_layout_skew(n_in, n_out, lanes):
    layer = make_layer(n_in=n_in, n_out=n_out, lanes=lanes)
    P, npl = lanes, layer.npl
    # padded neurons too: the hardware reads whole groups
    i, j = np.meshgrid(np.arange(n_in), np.arange(layer.padded_out), indexing="ij")
    bank, addr = layer.weight_location(i, j)
    assert (bank < P).all() and (addr < layer.bank_depth).all()
    # injective: no two synapses share a word
    assert len(set(zip(bank.ravel().tolist(), addr.ravel().tolist(), strict=True))) == bank.size
    for row in range(n_in):
        for k in range(npl):
            cols = slice(k * P, (k + 1) * P)
            # one input event, one neuron group: every lane reads the same address...
            assert set(addr[row, cols].tolist()) == {row * npl + k}
            # ...from a different bank, rotated by row % P
            assert bank[row, cols].tolist() == [(row + lane) % P for lane in range(P)]
    for col in range(n_out):
        for start in range(max(1, n_in - P + 1)):
            window = bank[start:start + P, col]
            # P consecutive inputs of one neuron hit P distinct banks
            assert len(set(window.tolist())) == len(window)
