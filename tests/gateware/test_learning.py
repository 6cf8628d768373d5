"""Amaranth-simulator tests of the learning core against the golden model, sample by sample:
spikes (attempt, timestep, neuron), every weight, every threshold, spike counts and busy
cycles, all compared with ==."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.networks.diehl_cook import LearningCore, LearnSpace
from snnhw.gateware.testing import learning_read, learning_sample, learning_write
from snnhw.golden.networks.diehl_cook import LearningState, pruning_step, run_sample


def make_layer(*, lanes=4, n_in=20, n_out=6, timesteps=20, rounding="stochastic",
               normalize_target=600, refractory=2, max_tries=3, weight_bits=8, weight_shift=0,
               threshold=300, theta_increment=50, theta_bits=16, eta_pre=0, rest=0,
               potentiation="fixed", potentiation_spikes=4, pruning=None):
    return resolve_layer(parse_config({
        "input": {"size": n_in},
        "neurons": {"count": n_out, "membrane_bits": 16, "threshold": threshold,
                    "leak_shift": 4, "refractory": refractory, "inhibition": "wta",
                    "theta_increment": theta_increment, "theta_bits": theta_bits,
                    "theta_decay_shift": 3},
        "synapses": {"weight_bits": weight_bits, "signed": False,
                     "init_high": 2**weight_bits // 3, "init_seed": 1,
                     "weight_shift": weight_shift},
        "encoder": {"timesteps": timesteps, "rest": rest, "rate_scale": 64, "intensity": 1,
                    "max_tries": max_tries, "min_spikes": 4, "seed": 1},
        "stdp": {"enabled": True, "eta": 5000, "x_tar": 30, "rounding": rounding,
                 "eta_pre": eta_pre, "potentiation": potentiation,
                 "potentiation_spikes": potentiation_spikes,
                 "normalize_target": normalize_target},
        "pruning": pruning or {},
        "hardware": {"lanes": lanes},
    }))


CASES = {
    "p4": {},
    "p1": {"lanes": 1},
    "p3-pad": {"lanes": 3, "n_in": 23, "n_out": 7, "timesteps": 30},
    "npl1": {"lanes": 6, "n_out": 6},
    "nearest": {"rounding": "nearest"},
    "truncate-nonorm": {"rounding": "truncate", "normalize_target": 0},
    "ref0-onetry": {"refractory": 0, "max_tries": 1},
    "w5-shift3": {"weight_bits": 5, "weight_shift": 3, "normalize_target": 70},
    "theta-saturates": {"theta_bits": 4, "theta_increment": 40, "threshold": 200},
    "pair-stochastic": {"eta_pre": 900},
    "pair-nearest-p3": {"eta_pre": 3000, "rounding": "nearest", "lanes": 3, "n_out": 7},
    "pair-truncate-npl1": {"eta_pre": 2000, "rounding": "truncate", "lanes": 6, "n_out": 6},
    "rest": {"rest": 7, "timesteps": 18},
    "rest-npl1": {"rest": 3, "lanes": 6, "n_out": 6},
    "adaptive": {"potentiation": "adaptive", "potentiation_spikes": 2},
    # eta * 3 spikes passes 65535: the potentiation rate saturates
    "adaptive-npl1-saturates": {"potentiation": "adaptive", "lanes": 6, "n_out": 6,
                                "rounding": "nearest", "potentiation_spikes": 1, "eta": 30000},
    "adaptive-pair-p3": {"potentiation": "adaptive", "eta_pre": 900, "lanes": 3, "n_out": 7},
    # pruning from the second sample on; 2-bit words: several words per lane and row
    "prune-p3-pad": {"pruning": {"enabled": True, "threshold": 40, "warmup": 1, "chunk_bits": 2},
                     "lanes": 3, "n_out": 13, "n_in": 23},
    # one lane: index-only list and event words (the row multiply as an event is taken)
    "prune-p1": {"pruning": {"enabled": True, "threshold": 40, "warmup": 1, "chunk_bits": 4},
                 "lanes": 1, "n_out": 7},
    "prune-p4-nearest": {"pruning": {"enabled": True, "threshold": 60, "chunk_bits": 1},
                         "rounding": "nearest", "n_out": 12},
    "prune-npl1-pair": {"pruning": {"enabled": True, "threshold": 50, "chunk_bits": 4},
                        "lanes": 6, "n_out": 6, "eta_pre": 900},
    "prune-p2-wide-words": {"pruning": {"enabled": True, "threshold": 45, "chunk_bits": 8},
                            "lanes": 2, "n_out": 20, "normalize_target": 0},
    "prune-schedule": {"pruning": {"enabled": True, "threshold": 20, "target_permille": 600,
                                   "schedule_samples": 2, "threshold_step": 15,
                                   "chunk_bits": 4}},
}


def run_rtl(layer, images, learn_flags, eta, prune_flags, thresholds, synapse_ram="block"):
    core = LearningCore(layer, synapse_ram=synapse_ram)
    if synapse_ram == "spram":  # the SPRAM store's clock: twice sync, edges on sync's
        top = Module()
        top.domains.sync = ClockDomain("sync")
        top.domains.fast = ClockDomain("fast", reset_less=True)
        top.submodules.core = core
        sim = Simulator(top)
        sim.add_clock(0.5e-6, phase=1e-6, domain="fast")
    else:
        sim = Simulator(core)
    sim.add_clock(1e-6)
    out = []
    P = layer.lanes
    count_mask = (1 << dict((n, b) for n, b, _ in layer.learning_state_fields())["count"]) - 1

    async def tb(ctx):
        if synapse_ram == "spram":  # SPRAM starts empty: the host loads the weights
            loads = [(LearnSpace.WEIGHT, layer.weight_banks())]
            if core.alive_in_spram:  # and the bitmap: every connection alive
                loads.append((LearnSpace.ALIVE, layer.alive_banks()))
            for space, banks in loads:
                for b, bank in enumerate(banks):
                    for a, word in enumerate(bank):
                        await learning_write(ctx, core, space, b, a, int(word))
        for image, learn, prune, thr in zip(images, learn_flags, prune_flags, thresholds,
                                            strict=True):
            ctx.set(core.clear_counters, 1)
            await ctx.tick()
            ctx.set(core.clear_counters, 0)
            spikes = await learning_sample(ctx, core, image, learn=learn, eta=eta, prune=prune,
                                           prune_threshold=thr)
            banks = np.zeros((P, layer.bank_depth), dtype=np.int64)
            for b in range(P):
                for a in range(layer.bank_depth):
                    banks[b, a] = await learning_read(ctx, core, LearnSpace.WEIGHT, b, a)
            theta = np.zeros(layer.n_out, dtype=np.int64)
            counts = np.zeros(layer.n_out, dtype=np.int64)
            for j in range(layer.n_out):
                theta[j] = await learning_read(ctx, core, LearnSpace.THETA, j % P, j // P)
                word = await learning_read(ctx, core, LearnSpace.STATE, j % P, j // P)
                counts[j] = (word >> (layer.membrane_bits + layer.ref_bits)) & count_mask
            alive = None
            if layer.pruning:
                words = np.zeros((P, layer.n_in * layer.alive_stride), dtype=np.int64)
                for b in range(P):
                    for a in range(words.shape[1]):
                        words[b, a] = await learning_read(ctx, core, LearnSpace.ALIVE, b, a)
                alive = layer.alive_from_banks(words)
                assert np.array_equal(layer.alive_banks(alive), words), "padding bits stay 0"
            out.append({"alive": alive, "alive_count": (ctx.get(core.alive_count)
                                                        if layer.pruning else None),
                        "events": ctx.get(core.counters.synaptic_events),
                        "spikes": spikes, "weights": layer.weights_from_banks(banks),
                        "theta": theta, "counts": counts,
                        "busy": ctx.get(core.counters.busy_cycles),
                        "updates": ctx.get(core.weight_updates)})

    sim.add_testbench(tb)
    sim.run()
    return out


# weights in double-pumped SPRAM (iCE40UP5K): the same results, cycle for cycle
SPRAM_CASES = ("p1", "prune-p1", "pair-nearest-p3", "prune-p3-pad")


@pytest.mark.parametrize("case,synapse_ram",
                         [(c, "block") for c in CASES] + [(c, "spram") for c in SPRAM_CASES],
                         ids=lambda v: v if v != "block" else "bram")
def test_learning_core_matches_golden(case, synapse_ram):
    params = dict(CASES[case])
    eta = params.pop("eta", 5000)
    layer = make_layer(**params)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(4, layer.n_in))
    images[rng.random(images.shape) < 0.5] = 0
    learn = [True, True, True, False]  # the last sample in inference mode
    # the golden model first: it decides, sample by sample, whether the sample may prune and
    # at which threshold (the host's part), and the RTL gets the same
    gold = LearningState.initial(layer)
    golden = []
    for s, (image, lrn) in enumerate(zip(images, learn, strict=True)):
        rec = []
        alive_before = None if gold.alive is None else gold.alive.copy()
        prune = pruning_step(layer, gold, s, learn=lrn)
        threshold = gold.prune_threshold
        counts, _ = run_sample(layer, gold, image, learn=lrn, eta=eta if lrn else 0,
                               record=rec, prune=prune)
        golden.append((rec, counts, alive_before, prune, threshold, gold.copy()))
    rtl = run_rtl(layer, images, learn, eta=eta, prune_flags=[g[3] for g in golden],
                  thresholds=[g[4] for g in golden], synapse_ram=synapse_ram)
    spikes_seen = 0
    thresholds = set()
    for s, (rec, counts, alive_before, _, threshold, gold) in enumerate(golden):
        thresholds.add(threshold)
        expected = [(p.attempt, t, j) for p in rec for t, w in enumerate(p.winners) for j in w]
        got = rtl[s]
        assert got["spikes"] == expected, f"sample {s}"
        assert np.array_equal(got["weights"], gold.weights), f"weights after sample {s}"
        assert np.array_equal(got["theta"], gold.theta), f"theta after sample {s}"
        assert np.array_equal(got["counts"], counts), f"counts after sample {s}"
        assert got["busy"] == sum(p.cycles(layer) for p in rec), f"busy cycles of sample {s}"
        if layer.pruning:
            assert np.array_equal(got["alive"], gold.alive), f"alive bits after sample {s}"
            assert got["alive_count"] == gold.alive.sum()
            assert not gold.weights[~gold.alive].any()
            if s == len(images) - 1:  # inference: nothing changes the bitmap during it
                assert np.array_equal(alive_before, gold.alive)
        spikes_seen += len(expected)
    assert spikes_seen > 0
    assert not np.array_equal(gold.weights, layer.weights)
    if layer.pruning:
        assert 0 < (~gold.alive).sum() < gold.alive.size, "the case must prune, not all"
        if layer.pruning.target_permille:
            assert len(thresholds) > 1, "the schedule must move the threshold"
    if layer.theta_increment > layer.theta_max:
        assert gold.theta.max() > 0, "the case must exercise theta saturation"


def test_learning_core_refuses_non_wta():
    layer = resolve_layer(parse_config({
        "input": {"size": 4}, "neurons": {"count": 2, "threshold": 10},
        "synapses": {"signed": False}, "stdp": {"enabled": True}}))
    with pytest.raises(ValueError, match="LearningCore needs"):
        LearningCore(layer)
