"""The TTFS conv network's golden model: its blocks against hand-worked examples, the numba
fast path and the cycle model against the readable path, bit for bit."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from snnhw.config import load_config, parse_config
from snnhw.datasets import load_dataset
from snnhw.families import resolve
from snnhw.golden.blocks.conv import conv_fire, final_potentials, pool_earliest
from snnhw.golden.blocks.dog import dog_responses, rank_latency
from snnhw.golden.blocks.kwta import k_winners
from snnhw.golden.blocks.mstdp import kernel_update
from snnhw.golden.blocks.rng import PERIOD, SEQUENCE
from snnhw.golden.networks import ttfs_conv as readable
from snnhw.golden.networks import ttfs_conv_fast as fast
from snnhw.golden.networks.ttfs_conv_cycles import (
    CLEAR_EXTRA,
    crossings_per_step,
    ideal_cycles,
    row_cost,
    run_cycles,
)

DATA = Path(__file__).parent / "data"
T = 8


def test_rank_latency_equal_values_spike_together():
    v = np.array([[0, 5, 9], [5, 1, 0]])
    # N = 4 non-zero values: 9 (0 greater) at 0, both 5s (1 greater) at 10 // 4 = 2, 1 (3
    # greater) at 30 // 4 = 7
    t = rank_latency(v, 10)
    assert t.tolist() == [[10, 2, 0], [2, 7, 10]]


def test_dog_on_off_channels_and_threshold():
    k = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    img = np.zeros((3, 3), dtype=np.uint8)
    img[1, 1] = 10
    r = dog_responses(img, k, threshold=10)
    assert r[0].tolist() == [[0, 0, 0], [0, 40, 0], [0, 0, 0]]
    # the neighbours see -10: not above the threshold of 10
    assert r[1].sum() == 0
    r = dog_responses(img, k, threshold=9)
    assert r[1].tolist() == [[0, 10, 0], [10, 0, 10], [0, 10, 0]]


def test_conv_fire_threshold_and_pointwise_tie_break():
    times = np.array([[[0, 1], [1, T]]])
    w = np.array([[[[3, 4], [5, 0]]], [[[5, 4], [3, 0]]], [[[4, 4], [4, 9]]]])  # 3 maps, 2x2
    out, v = conv_fire(times, w, threshold=9, padding=0, timesteps=T, pointwise=False)
    # t=0: 3, 5, 4; t=1: 12, 12, 12: all three cross at 1
    assert out[:, 0, 0].tolist() == [1, 1, 1]
    out, v = conv_fire(times, w, threshold=9, padding=0, timesteps=T, pointwise=True)
    # equal potentials: the lowest map wins the position
    assert out[:, 0, 0].tolist() == [1, T, T] and v[0, 0, 0] == 12
    out, _ = conv_fire(times, w, threshold=5, padding=0, timesteps=T, pointwise=True)
    assert out[:, 0, 0].tolist() == [T, 0, T]  # map 1 alone reaches 5 at t=0


def test_final_potentials_and_pool():
    times = np.array([[[0, T, 2], [T, 1, T]]])
    w = np.ones((2, 1, 2, 2), dtype=np.int64)
    w[1] *= 3
    assert final_potentials(times, w, 0, T).tolist() == [[[2, 2]], [[6, 6]]]
    # padded by one no-spike pixel: windows (-1..0, -1..0), (-1..0, 1..2), (0..1, ...)
    assert pool_earliest(times, 2, 2, 1, T).tolist() == [[[0, 2], [T, 1]]]


def test_k_winners_order_and_inhibition():
    times = np.full((3, 5, 5), T)
    at = np.zeros((3, 5, 5), dtype=np.int64)
    times[0, 0, 0], at[0, 0, 0] = 1, 10
    times[1, 0, 1], at[1, 0, 1] = 1, 20  # same time, larger potential: wins first
    times[2, 4, 4], at[2, 4, 4] = 2, 5
    times[0, 4, 0], at[0, 4, 0] = 0, 1  # earliest of all
    w = k_winners(times, at, 3, 1, T)
    # (0,4,0) first; then (1,0,1); (0,0,0) is map 0 again: out; then (2,4,4)
    assert w == [(0, 4, 0, 0), (1, 0, 1, 1), (2, 4, 4, 2)]
    # radius: a winner at (0, 1) blocks (0, 0) for every map
    times2 = np.full((2, 1, 3), T)
    times2[0, 0, 1], times2[1, 0, 0] = 0, 1
    assert k_winners(times2, np.zeros((2, 1, 3), dtype=np.int64), 2, 1, T) == [(0, 0, 1, 0)]
    assert len(k_winners(times2, np.zeros((2, 1, 3), dtype=np.int64), 2, 0, T)) == 2


def test_kernel_update_arithmetic_and_pruning():
    w = np.array([[[100, 200, 10, 0]]])
    alive = np.array([[[True, True, True, False]]])
    pre = np.array([[[0, 5, 2, 0]]])
    pos = 1234
    u = SEQUENCE[(pos + 1 + np.arange(3)) % PERIOD]
    expect = []
    for old, ltp, r in zip((100, 200, 10), (True, False, True), u, strict=True):
        a = 3000 if ltp else 2000
        d = (((a * old * (256 - old)) >> 8) + int(r)) >> 16
        expect.append(min(old + d, 255) if ltp else max(old - d, 0))
    end = kernel_update(w, alive, pre, 2, (3000, 2000), 8, pos, prune_threshold=None)
    assert end == pos + 3
    assert w[0, 0, :3].tolist() == expect and w[0, 0, 3] == 0
    w = np.array([[[100, 200, 10, 0]]])
    kernel_update(w, alive, pre, 2, (3000, 2000), 8, pos, prune_threshold=expect[2])
    assert w[0, 0, 2] == 0 and alive.tolist() == [[[True, True, False, False]]]


def _configs():
    tiny = load_config(DATA / "ttfs_tiny_caltech.toml")
    mnist = load_config(Path(__file__).parents[1] / "examples/ttfs/mnist.toml")
    return {"tiny_caltech": tiny, "mnist": mnist}


def _no_pointwise(net):
    layers = tuple(replace(x, pointwise_inhibition=False) if x.kind == "conv" else x
                   for x in net.layers)
    return replace(net, layers=layers)


def _images(name, net, data_dir, n):
    if name == "mnist":
        return load_dataset("mnist", "train", data_dir, download=False).images[:n]
    return load_dataset("caltech-facemotor", "learning", data_dir,
                        size=(net.encoder.height, net.encoder.width)).images[::40][:n]


@pytest.mark.parametrize("name,variant", [("tiny_caltech", "as is"),
                                          ("tiny_caltech", "no pointwise"),
                                          ("mnist", "as is")])
def test_fast_path_is_bit_identical(name, variant, data_dir):
    net = resolve(_configs()[name])
    if variant == "no pointwise":
        net = _no_pointwise(net)
    if name == "tiny_caltech":  # prune from the first image, so that six images prune some
        net = replace(net, layers=tuple(replace(x, prune_warmup=0, prune_threshold=190)
                                        if x.kind == "conv" and x.prune_threshold else x
                                        for x in net.layers))
    images = _images(name, net, data_dir, 6)
    a, b = readable.ConvState.initial(net), readable.ConvState.initial(net)
    for image in images:
        assert np.array_equal(readable.encode(net, image), fast.encode(net, image))
        for layer in net.conv_layers:
            wa = readable.learn_image(net, a, layer.index, image)
            wb = fast.learn_image(net, b, layer.index, image)
            assert wa == wb
            assert np.array_equal(a.weights[layer.index], b.weights[layer.index])
            assert np.array_equal(a.alive[layer.index], b.alive[layer.index])
            assert a.gen_pos == b.gen_pos
        assert np.array_equal(readable.features(net, a, image), fast.features(net, b, image))
    # learning moved weights, and (with pruning in the tiny network) pruned taps
    moved = [not np.array_equal(a.weights[c.index], c.weights) for c in net.conv_layers]
    assert all(moved)
    if name == "tiny_caltech":
        assert not b.alive[2].all()


def _brute_rows(times, alive, padding, ho, wo, lanes):
    """Per timestep the events' kernel rows' cycles (each lane walks the rows on its own, an
    event costs its busiest lane), and the updates, one tap at a time."""
    f_n, c_n, k, _ = alive.shape
    rows = np.zeros(T, dtype=np.int64)
    updates = 0
    for c, y, x in zip(*np.nonzero(times < T), strict=True):
        lane_cycles = [0] * lanes
        for i in range(k):
            if not 0 <= y + padding - i < ho:
                continue
            per_lane = [0] * lanes
            for j in range(k):
                if 0 <= x + padding - j < wo:
                    for f in range(f_n):
                        per_lane[f % lanes] += int(alive[f, c, i, j])
            lane_cycles = [a + max(1, n) for a, n in zip(lane_cycles, per_lane, strict=True)]
            updates += sum(per_lane)
        rows[times[c, y, x]] += max(lane_cycles)
    return rows, updates


def test_cycle_model_rows_count_alive_taps_in_range():
    rng = np.random.default_rng(5)
    times = rng.integers(0, T + 4, size=(3, 9, 11)).clip(max=T)
    alive = rng.random((5, 3, 4, 4)) < 0.4
    for padding in (0, 2, 3):
        ho, wo = 9 + 2 * padding - 3, 11 + 2 * padding - 3
        rows, updates = row_cost(times, alive, padding, (ho, wo), T, 3)
        want_rows, want_updates = _brute_rows(times, alive, padding, ho, wo, 3)
        assert rows.tolist() == want_rows.tolist() and updates == want_updates


def test_cycle_model_crossings_are_first_threshold_reaches():
    rng = np.random.default_rng(6)
    times = rng.integers(0, T + 3, size=(2, 7, 8)).clip(max=T)
    w = rng.integers(0, 256, size=(3, 2, 3, 3))
    got = crossings_per_step(times, w, 600, 1, (7, 8), T)
    v_before = np.zeros((3, 7, 8), dtype=np.int64)
    want = []
    for t in range(T):
        v = final_potentials(np.where(times <= t, times, T), w, 1, T)
        want.append(int(np.count_nonzero((v_before < 600) & (v >= 600))))
        v_before = v
    assert got.tolist() == want


def test_pruned_taps_cost_no_cycles():
    times = np.zeros((1, 5, 5), dtype=np.int64)
    alive = np.ones((2, 1, 3, 3), dtype=bool)
    full_rows, full = row_cost(times, alive, 1, (5, 5), T, 1)
    alive[1] = False
    half_rows, half = row_cost(times, alive, 1, (5, 5), T, 1)
    assert half * 2 == full and half_rows.sum() * 2 == full_rows.sum()


def test_cycle_parts_add_up_and_split_the_rows_at_the_ideal():
    net = resolve(_configs()["tiny_caltech"])
    rng = np.random.default_rng(7)
    state = readable.ConvState.initial(net)
    for c in net.conv_layers:  # about half the taps pruned: lanes differ in alive taps
        state.alive[c.index] = rng.random(c.weights.shape) < 0.5
        state.weights[c.index] = np.where(state.alive[c.index], state.weights[c.index], 0)
    image = rng.integers(0, 256, size=(net.encoder.height, net.encoder.width), dtype=np.uint8)
    code = fast.encode(net, image).astype(np.int64)
    _, maps = fast.features_of_times(net, state, code)
    runs = [run_cycles(net, state.weights, state.alive, maps)]
    for c in net.conv_layers:
        before = fast.forward(net, state, code, upto=c.index)
        learner = copy.deepcopy(state)  # learning changes the kernels after the run
        winners, out = fast.learn_times(net, learner, c.index, before[-1])
        runs.append(run_cycles(net, state.weights, state.alive, before, learn=c.index,
                               learn_out=out, winners=winners))
    for run in runs:
        assert sum(run.parts.values()) == run.cycles
        assert sum(run.layer_updates.values()) == run.updates > 0
        for c in net.conv_layers:
            if c.name not in run.layer_updates:
                continue
            rows, _ = row_cost(maps[c.index], state.alive[c.index], c.padding, c.out_shape[1:],
                               net.timesteps, net.lanes)
            assert run.parts[c.name, "rows"] + run.parts[c.name, "empty_rows"] == rows.sum()
            # a row costs its busiest lane's taps: never fewer than the ideal's mean
            assert run.parts[c.name, "rows"] >= ideal_cycles(run.layer_updates[c.name],
                                                              net.lanes)
            assert run.parts[c.name, "items"] == net.timesteps
    assert runs[0].parts["", "clear"] > CLEAR_EXTRA and ("", "stdp") not in runs[0].parts
    assert all(r.parts["", "stdp"] > 0 and r.weight_updates > 0 for r in runs[1:])


def test_examples_resolve():
    for cfg in _configs().values():
        net = resolve(cfg)
        assert net.family == "ttfs_conv" and net.feature_count > 0
    raw = {"input": {"height": 10, "width": 10}, "layer": [
        {"kind": "conv", "maps": 2, "kernel": 3, "threshold": 10, "init_low": 1,
         "init_high": 2}]}
    assert resolve(parse_config(raw)).layers[0].out_shape == (2, 8, 8)
