"""The worked examples of docs/semantics.md, sections 9-18 (learning network), checked against the
golden model, so the document cannot drift from the specification it describes."""

from __future__ import annotations

import numpy as np
import pytest

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.golden.blocks.neuron import fire_adaptive
from snnhw.golden.blocks.normalize import K_MAX, normalize_column
from snnhw.golden.blocks.rng import PERIOD, SEQUENCE, Generators, initial_states, xorshift16
from snnhw.golden.blocks.stdp import rounding_offsets, stdp_column
from snnhw.golden.networks.diehl_cook import LearningState, present, run_sample
from snnhw.golden.networks.diehl_cook_fast import run_sample_fast
from snnhw.ir import LayerIR, trace_table
from snnhw.train import assign_labels, predict


def layer_of(*, n_in: int = 5, n_out: int = 4, neurons=None, synapses=None, encoder=None,
             stdp=None) -> LayerIR:
    return resolve_layer(parse_config({
        "input": {"size": n_in},
        "neurons": {"count": n_out, "model": "if", "threshold": 10, "refractory": 2,
                    **(neurons or {})},
        "synapses": {"signed": False, "init": "zeros", **(synapses or {})},
        "encoder": encoder or {},
        "stdp": {"enabled": True, **(stdp or {})},
    }))


def arr(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def advanced(before: np.ndarray, gens: Generators, layer: LayerIR) -> np.ndarray:
    """How many draws each encoder and rounding generator made since it was at positions
    ``before``. The per-neuron generators after them (pre-spike depression) must not have
    moved: these layers have ``eta_pre = 0``."""
    moved = (gens.pos - before) % PERIOD
    assert not moved[2 * layer.n_in:].any()
    return moved[:2 * layer.n_in]


# -- section 10 ------------------------------------------------------------------------------

def test_generator_sequence_and_draw():
    assert SEQUENCE[:6].tolist() == [1, 33153, 24609, 59801, 11787, 46494]
    assert xorshift16(1) == 33153
    assert len(set(SEQUENCE.tolist())) == PERIOD == 65535 and 0 not in SEQUENCE
    g = Generators(arr(1, 59801))
    assert g.draw(slice(None)).tolist() == [33153, 11787]  # step, then use the new state
    assert g.states.tolist() == [33153, 11787]


def test_initial_states_are_sequence_positions_from_the_seed():
    pos = np.random.default_rng(7).integers(0, PERIOD, size=10)
    assert initial_states(10, 7).tolist() == SEQUENCE[pos].tolist()
    layer = layer_of(encoder={"seed": 7})  # n_in = 5: E[0..4], G[0..4], then 4 per neuron
    assert LearningState.initial(layer).gens.states[:10].tolist() == SEQUENCE[pos].tolist()
    assert len(LearningState.initial(layer).gens.states) == 2 * 5 + 4


# -- section 11 ------------------------------------------------------------------------------

def test_encoder_probability():
    # r runs through 1..65535 once per period: X - 1 values are below X
    for x in (1, 2, 4080, 65535, 65536):
        assert int((SEQUENCE < x).sum()) == x - 1
    assert int((SEQUENCE < 65537).sum()) == PERIOD  # X > 65536: always
    assert 255 * 8 * 2 == 4080 and round(4079 / 65535, 3) == 0.062


def test_retries_raise_intensity_and_learning_happens_each_time():
    layer = layer_of(n_in=2, n_out=1, neurons={"threshold": 1000},
                     synapses={"init": "uniform", "init_low": 5, "init_high": 5},
                     encoder={"timesteps": 3, "max_tries": 3, "min_spikes": 1},
                     stdp={"rounding": "nearest"})
    state = LearningState.initial(layer)
    before = state.gens.pos.copy()
    counts, tries = run_sample(layer, state, arr(255, 0), learn=True, eta=655)
    assert tries == 3 and counts.tolist() == [0]  # never reaches the threshold
    # E[0] (slot of the one non-zero pixel): 3 presentations * T draws; E[1], G[0..1]: none
    assert advanced(before, state.gens, layer).tolist() == [9, 0, 0, 0]


# -- section 12 ------------------------------------------------------------------------------

V, REF = arr(13, 18, 12, 40), arr(0, 0, 0, 2)


@pytest.mark.parametrize(("theta", "fires", "ref"), [
    ((4, 6, 0, 0), 1, (0, 2, 0, 1)),
    ((4, 7, 0, 0), 2, (0, 0, 2, 1)),
])
def test_wta_example(theta, fires, ref):
    layer = layer_of(neurons={"inhibition": "wta"})
    v, r, spikes = fire_adaptive(layer, V, REF, arr(*theta))
    assert np.flatnonzero(spikes).tolist() == [fires]
    assert v.tolist() == [0, 0, 0, 0]
    assert r.tolist() == list(ref)


@pytest.mark.parametrize(("reset", "v_after"), [("subtract", (13, 2, 2, 40)),
                                                 ("zero", (13, 0, 0, 40))])
def test_no_inhibition_example(reset, v_after):
    layer = layer_of(neurons={"inhibition": "none", "reset": reset})
    v, r, spikes = fire_adaptive(layer, V, REF, arr(4, 6, 0, 0))
    assert np.flatnonzero(spikes).tolist() == [1, 2]
    assert v.tolist() == list(v_after)
    assert r.tolist() == [0, 2, 2, 1]


def test_wta_without_candidate_keeps_leaked_and_ignores_reset():
    for reset in ("zero", "subtract"):
        layer = layer_of(neurons={"inhibition": "wta", "reset": reset})
        v, r, spikes = fire_adaptive(layer, V, REF, arr(9, 9, 9, 0))
        assert not spikes.any() and v.tolist() == V.tolist() and r.tolist() == [0, 0, 0, 1]


# -- section 13 ------------------------------------------------------------------------------

def test_trace_table_defaults():
    t = trace_table(4, 8)
    assert t[:12].tolist() == [255, 239, 224, 210, 197, 185, 173, 162, 152, 142, 133, 125]
    assert t[52] > 7 and set(t[53:].tolist()) == {7}
    assert (7 + 8) >> 4 == 0 and (8 + 8) >> 4 == 1
    assert np.array_equal(layer_of().stdp.trace_table, t)
    assert layer_of().stdp.x_tar == 20


# -- section 14 ------------------------------------------------------------------------------

STDP_W = arr(100, 100, 100, 0, 255)
STDP_X = arr(255, 210, 0, 0, 255)


@pytest.mark.parametrize(("rounding", "expect"), [
    ("truncate", (102, 101, 99, 0, 255)),
    ("nearest", (102, 102, 100, 0, 255)),
    ("stochastic", (103, 102, 100, 0, 255)),
])
def test_stdp_example(rounding, expect):
    layer = layer_of(stdp={"rounding": rounding})
    assert (layer.stdp.eta, layer.stdp.x_tar, layer.wmax) == (655, 20, 255)
    assert ((STDP_X - 20) * 655).tolist() == [153925, 124450, -13100, -13100, 153925]
    rounding_states = [24609, 1, 33153, 59801, 11787]
    gens = Generators(arr(1, 1, 1, 1, 1, *rounding_states))  # E[0..4], G[0..4]
    u = rounding_offsets(layer, gens)
    if rounding == "stochastic":
        assert u.tolist() == [59801, 33153, 24609, 11787, 46494]
        assert gens.states.tolist() == [1] * 5 + u.tolist()  # only G[i] drew
    else:
        assert u == {"truncate": 0, "nearest": 2**15}[rounding]
        assert gens.states.tolist() == [1] * 5 + rounding_states  # no draw
    assert stdp_column(layer, STDP_W, STDP_X, 655, u).tolist() == list(expect)


def test_stochastic_rounding_probability():
    a = 124450  # 1.90: rounds up when u >= 2**16 - (a mod 2**16)
    ups = int((((a + SEQUENCE) >> 16) == 2).sum())
    assert ups == a % 2**16
    assert int((((-13100 + SEQUENCE) >> 16) == 0).sum()) == -13100 % 2**16


def test_eta_schedule():
    s = layer_of(stdp={"eta": 655, "eta_halve_every": 100}).stdp
    assert [s.eta_at(k) for k in (0, 99, 100, 250, 1000)] == [655, 655, 327, 163, 0]
    assert layer_of(stdp={"eta": 655}).stdp.eta_at(10**9) == 655
    assert ((0 + SEQUENCE) >> 16).max() == 0  # eta 0: no change even with stochastic u


# -- section 15 ------------------------------------------------------------------------------

@pytest.mark.parametrize(("rounding", "expect"), [("truncate", (12, 25, 38, 0)),
                                                  ("nearest", (13, 26, 39, 0))])
def test_normalisation_example(rounding, expect):
    layer = layer_of(n_in=4, stdp={"rounding": rounding, "normalize_target": 78})
    assert (78 << 16) // 60 == 85196
    u = rounding_offsets(layer, Generators(np.ones(8, dtype=np.int64)))
    assert normalize_column(layer, arr(10, 20, 30, 0), u).tolist() == list(expect)


def test_normalisation_saturates_and_skips_zero_sum():
    layer = layer_of(n_in=3, stdp={"rounding": "truncate", "normalize_target": 300})
    assert (300 << 16) // 201 == 97814 and (200 * 97814) >> 16 == 298
    assert normalize_column(layer, arr(200, 1, 0), 0).tolist() == [255, 1, 0]
    assert normalize_column(layer, arr(0, 0, 0), 0).tolist() == [0, 0, 0]
    assert K_MAX == 2**24 - 1


def test_normalisation_draws_even_for_a_zero_column():
    # One input (4-bit weight 15, weight_shift 4: one event adds 240), IF, reset "subtract".
    # E[0] at 59801 draws 11787 (t0: spike) and 46494 (t1: no spike). G[0] draws the STDP u
    # of t0 and t1, then one normalisation u although the column sum is 0.
    layer = layer_of(n_in=1, n_out=1,
                     neurons={"reset": "subtract", "refractory": 0, "membrane_bits": 16},
                     synapses={"weight_bits": 4, "weight_shift": 4, "init": "uniform",
                               "init_low": 15, "init_high": 15},
                     encoder={"timesteps": 2, "rate_scale": 256, "intensity": 1},
                     stdp={"eta": 65535, "x_tar": 255, "normalize_target": 10})
    state = LearningState(layer.weights.copy(), arr(0), Generators(arr(59801, 1)))
    counts = present(layer, state, arr(128), intensity=1, learn=True, eta=65535)
    assert counts.tolist() == [2]  # t0: 240 -> 230; t1 (no input): 230 -> 220
    # t0: x = 255 = x_tar, dw = u >> 16 = 0; t1: x = 239, dw = (-16 * 65535 + u) >> 16 <= -15
    assert (-16 * 65535 + 65535) >> 16 == -15
    assert state.weights.tolist() == [[0]]
    assert state.gens.states.tolist() == [46494, int(SEQUENCE[3])]  # G[0]: three draws


def test_draw_accounting_per_presentation():
    layer = layer_of(n_in=12, n_out=5,
                     neurons={"inhibition": "none", "threshold": 60, "refractory": 1,
                              "theta_increment": 5},
                     synapses={"init": "uniform", "init_low": 0, "init_high": 40},
                     encoder={"timesteps": 30, "rate_scale": 64, "intensity": 2, "seed": 3},
                     stdp={"normalize_target": 200})
    pixels = np.random.default_rng(0).integers(0, 256, size=12)
    pixels[[1, 5, 6]] = 0
    state = LearningState.initial(layer)
    fast = state.copy()
    before = state.gens.pos.copy()
    counts = present(layer, state, pixels, intensity=2, learn=True, eta=655)
    assert counts.sum() > 0
    run_sample_fast(layer, fast, pixels, learn=True, eta=655)  # max_tries = 1
    assert np.array_equal(fast.gens.pos, state.gens.pos)
    assert np.array_equal(fast.weights, state.weights)
    nnz = int((pixels != 0).sum())
    encoder = [30] * nnz + [0] * (12 - nnz)  # E[k] for the k-th non-zero pixel
    rounding = [int(counts.sum() + (counts > 0).sum())] * 12  # G[i]: every input alike
    assert advanced(before, state.gens, layer).tolist() == encoder + rounding
    # inference: encoder draws only; weights and theta frozen
    w, theta = state.weights.copy(), state.theta.copy()
    before = state.gens.pos.copy()
    present(layer, state, pixels, intensity=2, learn=False, eta=655)
    assert advanced(before, state.gens, layer).tolist() == encoder + [0] * 12
    assert np.array_equal(state.weights, w) and np.array_equal(state.theta, theta)


def test_theta_decays_after_the_presentation():
    layer = layer_of(n_in=1, n_out=2,
                     neurons={"theta_increment": 100, "theta_decay_shift": 2},
                     synapses={"init": "uniform", "init_low": 255, "init_high": 255},
                     encoder={"timesteps": 1, "rate_scale": 256, "intensity": 2},
                     stdp={"rounding": "nearest"})
    state = LearningState(layer.weights.copy(), arr(0, 40), Generators(arr(1, 1)))
    counts = present(layer, state, arr(255), intensity=2, learn=True, eta=0)
    # both fire in t0 (theta 0 and 40 are below 255 - 10): theta += 100, then -= theta >> 2
    assert counts.tolist() == [1, 1]
    assert state.theta.tolist() == [100 - 25, 140 - 35]


# -- section 17 ------------------------------------------------------------------------------

def test_labelling_ties_and_never_firing_neurons():
    counts = arr(0, 2, 3, 1,
                 0, 0, 2, 1,
                 0, 0, 0, 0).reshape(3, 4)
    labels = arr(4, 1, 4)
    # neuron 0 never fires: class 0; neuron 1: class 4 (mean 1) beats class 1 (0);
    # neuron 2: class 1 (mean 2) beats class 4 (1.5); neuron 3: tie 4 / 1 (0.5, 1): class 1
    assert assign_labels(counts, labels).tolist() == [0, 4, 1, 1]
    counts = arr(1, 1, 1, 1, 1, 1).reshape(2, 3)
    assert assign_labels(counts, arr(7, 2)).tolist() == [2, 2, 2]  # tie: the lower class


def test_prediction_ties_and_silent_samples():
    assert predict(arr(0, 0, 0, 4, 4).reshape(1, 5), arr(0, 1, 2, 3, 1)).tolist() == [3]
    assert predict(arr(0, 0, 0).reshape(1, 3), arr(5, 3, 3)).tolist() == [0]  # no spikes
    assert predict(arr(0, 2, 2).reshape(1, 3), arr(0, 2, 1)).tolist() == [1]  # tie: lower
    # a never-firing neuron assigned class 0 halves class 0's mean: 4 / 2 < 3
    assert predict(arr(4, 0, 3).reshape(1, 3), arr(0, 0, 1)).tolist() == [1]
