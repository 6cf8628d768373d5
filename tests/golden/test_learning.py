"""The learning network's golden model: hand-worked steps, and the numba fast path proven
bit-identical to the readable NumPy path."""

from __future__ import annotations

import numpy as np
import pytest

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.golden.blocks.neuron import fire_adaptive
from snnhw.golden.blocks.normalize import K_MAX, normalize_column
from snnhw.golden.blocks.pruning import row_cycles
from snnhw.golden.blocks.rng import PERIOD, SEQUENCE, Generators, xorshift16
from snnhw.golden.blocks.stdp import stdp_column
from snnhw.golden.networks.diehl_cook import LearningState, pruning_step, run_sample
from snnhw.golden.networks.diehl_cook_cycles import ideal_presentation_cycles
from snnhw.golden.networks.diehl_cook_fast import run_sample_fast, run_samples_fast
from snnhw.ir import trace_table


def make_layer(n_in=64, n_out=10, *, inhibition="wta", reset="zero", rounding="stochastic",
               normalize_target=600, weight_bits=8, weight_shift=0, timesteps=40, max_tries=3,
               min_spikes=4, theta_increment=50, threshold=300, stdp=True, refractory=2,
               leak_shift=4, seed=1, eta_pre=0, rest=0, potentiation="fixed",
               potentiation_spikes=4, pruning=None, lanes=1):
    return resolve_layer(parse_config({
        "input": {"size": n_in},
        "neurons": {"count": n_out, "membrane_bits": 16, "threshold": threshold,
                    "leak_shift": leak_shift, "reset": reset, "refractory": refractory,
                    "inhibition": inhibition, "theta_increment": theta_increment,
                    "theta_decay_shift": 3},
        "synapses": {"weight_bits": weight_bits, "signed": False, "init_low": 0,
                     "init_high": 2**weight_bits // 3, "init_seed": seed,
                     "weight_shift": weight_shift},
        "encoder": {"timesteps": timesteps, "rest": rest, "rate_scale": 64, "intensity": 1,
                    "max_tries": max_tries, "min_spikes": min_spikes, "seed": seed},
        "stdp": {"enabled": stdp, "eta": 5000, "x_tar": 30, "rounding": rounding,
                 "eta_pre": eta_pre, "potentiation": potentiation,
                 "potentiation_spikes": potentiation_spikes,
                 "normalize_target": normalize_target, "eta_halve_every": 3},
        "pruning": pruning or {},
        "hardware": {"lanes": lanes},
    }))


def images(n, n_in, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(n, n_in))
    img[rng.random((n, n_in)) < 0.6] = 0  # sparse, like MNIST
    return img


CASES = {
    "wta-stochastic-norm": {},
    "wta-nearest-nonorm": {"rounding": "nearest", "normalize_target": 0},
    "wta-truncate-4bit-shift": {"rounding": "truncate", "weight_bits": 4, "weight_shift": 4,
                                "normalize_target": 40},
    "none-subtract": {"inhibition": "none", "reset": "subtract", "threshold": 900},
    "none-zero-noleak-ref0": {"inhibition": "none", "leak_shift": 8, "refractory": 0,
                              "threshold": 700},
    "retries": {"min_spikes": 1000, "max_tries": 3},
    "no-stdp-theta-only": {"stdp": False},
    "pair-stochastic": {"eta_pre": 900},
    "pair-nearest-none": {"eta_pre": 3000, "rounding": "nearest", "inhibition": "none",
                          "threshold": 900},
    "pair-truncate": {"eta_pre": 2000, "rounding": "truncate"},
    "rest-wta": {"rest": 9},
    # subtract reset leaves potential that can fire again during rest
    "rest-none-subtract": {"rest": 12, "inhibition": "none", "reset": "subtract",
                           "threshold": 200, "theta_increment": 0, "leak_shift": 8,
                           "refractory": 4},
    "adaptive": {"potentiation": "adaptive"},
    "adaptive-none-pair": {"potentiation": "adaptive", "potentiation_spikes": 1,
                           "inhibition": "none", "threshold": 900, "eta_pre": 900},
    # pruning from sample 2 on (the eta schedule halves every 3 samples)
    "prune-stochastic-norm": {"pruning": {"enabled": True, "threshold": 12, "warmup": 2,
                                          "chunk_bits": 2}, "lanes": 3},
    "prune-nearest-nonorm": {"pruning": {"enabled": True, "threshold": 20, "chunk_bits": 4},
                             "rounding": "nearest", "normalize_target": 0, "lanes": 4},
    "prune-pair-none": {"pruning": {"enabled": True, "threshold": 15, "warmup": 1},
                        "eta_pre": 3000, "inhibition": "none", "threshold": 900},
    # the schedule raises the threshold from 0 by 6 per sample while behind its goal
    "prune-schedule": {"pruning": {"enabled": True, "threshold": 0, "warmup": 1,
                                   "target_permille": 500, "schedule_samples": 3,
                                   "threshold_step": 6}, "lanes": 2},
}


@pytest.mark.parametrize("learn", [True, False], ids=["learn", "infer"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_fast_path_is_bit_identical(case, learn):
    layer = make_layer(**CASES[case])
    a = LearningState.initial(layer)
    b = a.copy()
    spikes = 0
    for s, img in enumerate(images(6, layer.n_in, seed=hash(case) % 1000)):
        eta = layer.stdp.eta_at(s) if (learn and layer.stdp) else 0
        prune = pruning_step(layer, a, s, learn=learn)
        assert pruning_step(layer, b, s, learn=learn) == prune
        rec = []
        ca, ta = run_sample(layer, a, img, learn=learn, eta=eta, record=rec, prune=prune)
        cb, tb, cycles, ideal = run_sample_fast(layer, b, img, learn=learn, eta=eta,
                                                prune=prune)
        # the fast path's inline cycle model equals learning_cycles on the recorded run (the
        # model is of the learning core, which is winner-take-all)
        if layer.inhibition == "wta":
            assert cycles == sum(p.cycles(layer) for p in rec)
            assert ideal == sum(ideal_presentation_cycles(layer, p.events, p.spikes,
                                                          learn=p.learn, fired=p.fired,
                                                          alive_events=p.alive_events)
                                for p in rec)
        assert np.array_equal(ca, cb) and ta == tb, f"sample {s}"
        assert np.array_equal(a.weights, b.weights), f"weights after sample {s}"
        assert np.array_equal(a.theta, b.theta), f"theta after sample {s}"
        assert np.array_equal(a.gens.pos, b.gens.pos), f"generators after sample {s}"
        if layer.pruning:
            assert np.array_equal(a.alive, b.alive), f"alive after sample {s}"
            assert not a.weights[~a.alive].any(), "a pruned weight is 0"
        spikes += int(ca.sum())
    assert spikes > 0, "the case must make spikes to test anything"
    if learn and layer.stdp:
        assert not np.array_equal(a.weights, layer.weights), "learning must change weights"
    if layer.pruning:
        assert 0 < (~a.alive).sum() < a.alive.size if learn else a.alive.all()


def test_fast_path_on_mnist(mnist_train):
    layer = resolve_layer(parse_config({
        "input": {"size": 784},
        "neurons": {"count": 20, "membrane_bits": 18, "threshold": 4000, "leak_shift": 6,
                    "refractory": 5, "inhibition": "wta", "theta_increment": 50},
        "synapses": {"weight_bits": 6, "signed": False, "init_high": 19, "weight_shift": 2},
        "encoder": {"timesteps": 120, "max_tries": 4},
        "stdp": {"enabled": True, "eta": 400, "normalize_target": 4939},
    }))
    a = LearningState.initial(layer)
    b = a.copy()
    for s in range(5):
        ca, ta = run_sample(layer, a, mnist_train.images[s], learn=True, eta=400)
        cb, tb, _, _ = run_sample_fast(layer, b, mnist_train.images[s], learn=True, eta=400)
        assert np.array_equal(ca, cb) and ta == tb
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.theta, b.theta)
    counts, tries, _, _ = run_samples_fast(layer, b, mnist_train.images[5:9], learn=False)
    for k, s in enumerate(range(5, 9)):
        c, t = run_sample(layer, a, mnist_train.images[s], learn=False)
        assert np.array_equal(c, counts[k]) and t == tries[k]


def test_rest_timesteps_have_no_input_but_run_the_network():
    layer = make_layer(**CASES["rest-none-subtract"])
    state = LearningState.initial(layer)
    rest_spikes = 0
    for img in images(6, layer.n_in, seed=5):
        rec = []
        run_sample(layer, state, img, learn=True, eta=5000, record=rec)
        for p in rec:
            assert len(p.events) == layer.encoder.steps == 52
            assert not p.events[40:].any()
            rest_spikes += sum(p.spikes[40:])
    assert rest_spikes > 0, "spikes from the potential left at the end of the input"
    # the rest changes neither the input spikes nor the encoder generators
    plain = make_layer(**{**CASES["rest-none-subtract"], "rest": 0})
    a, b = LearningState.initial(layer), LearningState.initial(plain)
    for img in images(3, layer.n_in, seed=5):
        ra, rb = [], []
        run_sample(layer, a, img, learn=False, record=ra)
        run_sample(plain, b, img, learn=False, record=rb)
        assert [p.events[:40].tolist() for p in ra] == [p.events.tolist() for p in rb]
    assert np.array_equal(a.gens.pos, b.gens.pos)


def test_adaptive_potentiation_rate():
    stdp = make_layer(potentiation="adaptive", potentiation_spikes=4).stdp
    assert [stdp.eta_potentiation(5000, m) for m in (1, 3, 4, 9)] == [1250, 3750, 5000, 11250]
    assert stdp.eta_potentiation(30000, 9) == 65535  # saturates at the 16-bit rate
    assert make_layer().stdp.eta_potentiation(5000, 9) == 5000  # "fixed"
    # only potentiating terms (x >= x_tar = 30) use the adaptive rate
    layer = make_layer(potentiation="adaptive", rounding="truncate")
    col = stdp_column(layer, np.array([100, 100, 100]), np.array([255, 30, 0]), 5000, 0,
                      eta_p=20000)
    assert col.tolist() == [100 + (225 * 20000 >> 16), 100, 100 + (-30 * 5000 >> 16)]


def test_row_cycles_scan_bitmap_words_per_lane():
    # 10 neurons, 3 lanes: NPL = 4, lane b holds neurons b, b + 3, b + 6, b + 9 (11 and 12
    # are padding); 2-bit words, so each lane has two words per row
    layer = make_layer(n_out=10, lanes=3, pruning={"enabled": True, "chunk_bits": 2})
    row = np.ones(10, dtype=bool)
    assert row_cycles(layer, row) == 4 == layer.npl  # nothing pruned: as without pruning
    row[:] = False
    assert row_cycles(layer, row) == 2  # every word costs a cycle, even an empty one
    row[[0, 3, 6]] = True  # lane 0: words (0, 3) and (6, 9) hold 2 and 1
    assert row_cycles(layer, row) == 3
    row[[0, 3, 6]] = False
    row[[1, 4]] = True  # lane 1: 2 + 1; lanes 0 and 2: 1 + 1
    assert row_cycles(layer, row) == 3


def test_connectivity_schedule_by_hand():
    p = make_layer(pruning={"enabled": True, "threshold": 5, "warmup": 10,
                            "target_permille": 500, "schedule_samples": 4,
                            "threshold_step": 3}).pruning
    assert [p.goal_permille(s) for s in (0, 10, 11, 12, 13, 14, 99)] == [
        1000, 1000, 875, 750, 625, 500, 500]
    assert p.next_threshold(5, 9, 1000, 1000) == 5  # still warming up
    assert p.next_threshold(5, 12, 800, 1000) == 8  # 80 % alive, the goal is 75 %
    assert p.next_threshold(5, 12, 750, 1000) == 5  # on track
    assert p.next_threshold(254, 12, 800, 1000) == 255  # up to the weight maximum
    fixed = make_layer(pruning={"enabled": True, "threshold": 5}).pruning
    assert fixed.next_threshold(5, 50, 1000, 1000) == 5  # no schedule: fixed


def test_generator_sequence_is_the_xorshift_map():
    assert len(SEQUENCE) == PERIOD and SEQUENCE[0] == 1
    for k in (0, 1, 500, PERIOD - 2):
        assert xorshift16(int(SEQUENCE[k])) == SEQUENCE[k + 1]
    assert xorshift16(int(SEQUENCE[-1])) == SEQUENCE[0]
    g = Generators(np.array([1, 1, int(SEQUENCE[-1])]))
    assert g.draw(np.array([0, 2])).tolist() == [int(SEQUENCE[1]), 1]
    assert g.states.tolist() == [int(SEQUENCE[1]), 1, 1]


def test_trace_table():
    t = trace_table(4, 8)
    assert t[0] == 255 and t[1] == 255 - (263 >> 4) == 239
    assert np.all(np.diff(t) <= 0) and t[-1] == 7  # (7 + 8) >> 4 == 0: the floor
    assert trace_table(1, 0)[-1] == 1  # x -= x >> 1 stops at 1


def test_stdp_column_hand_worked():
    layer = make_layer(weight_bits=4)
    col = np.array([0, 5, 15, 7])
    trace = np.array([255, 0, 255, 30])  # x_tar = 30
    # ((x - 30) * eta + u) >> 16 with eta = 8000, u = 2**15 (nearest)
    dw = ((trace - 30) * 8000 + 2**15) >> 16
    assert dw.tolist() == [27, -4, 27, 0]
    out = stdp_column(layer, col, trace, 8000, 2**15)
    assert out.tolist() == [15, 1, 15, 7]  # clipped to 0..15


def test_normalize_column_hand_worked():
    layer = make_layer(normalize_target=600)
    col = np.array([100, 200, 0, 250, 50])  # sum 600: K = 2**16 exactly
    assert normalize_column(layer, col, 0).tolist() == col.tolist()
    col = np.array([10, 20, 30])  # sum 60: K = 10 * 2**16
    assert normalize_column(layer, col, 0).tolist() == [100, 200, 255]  # clipped at wmax
    assert normalize_column(layer, np.zeros(3, dtype=np.int64), 0).tolist() == [0, 0, 0]
    big = make_layer(normalize_target=2**20 // 2**8)
    k = min((big.stdp.normalize_target << 16) // 1, K_MAX)
    assert k == K_MAX
    assert normalize_column(big, np.array([1, 0]), 0).tolist() == [255, 0]


def test_wta_picks_largest_margin_lowest_index_on_ties():
    layer = make_layer(n_out=4, leak_shift=8, threshold=100, refractory=3)
    v = np.array([150, 180, 180, 500])
    ref = np.array([0, 0, 0, 2])  # neuron 3 is refractory
    theta = np.array([0, 20, 20, 0])
    v2, ref2, spikes = fire_adaptive(layer, v, ref, theta)
    # margins 150-100=50, 180-120=60, 60 (tie: lowest index 1 wins); 3 is refractory
    assert spikes.tolist() == [False, True, False, False]
    assert v2.tolist() == [0, 0, 0, 0]
    assert ref2.tolist() == [0, 3, 0, 1]
