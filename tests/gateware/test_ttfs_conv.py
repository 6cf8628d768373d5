"""Amaranth-simulator tests of the TTFS conv gateware against the golden model: each block
(conv engine, pool stage, k winners, STDP unit) on random cases, and the whole core learning
real Caltech images layer by layer: every spike, weight, alive bit, generator state, counter
and the cycle count compared with ==."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from snnhw.config import load_config
from snnhw.datasets import load_dataset
from snnhw.families import resolve
from snnhw.gateware.blocks.conv import ConvEngine
from snnhw.gateware.blocks.kwta import KWinners, winner_layout
from snnhw.gateware.blocks.mstdp import KernelLearner
from snnhw.gateware.blocks.pool import PoolStage
from snnhw.gateware.networks.ttfs_conv import ConvHost, TtfsConvCore
from snnhw.gateware.testing_conv import (
    conv_kernels,
    conv_list,
    conv_maxima,
    conv_read,
    conv_regs,
    conv_run,
    conv_write,
)
from snnhw.golden.blocks.conv import conv_fire, pool_earliest
from snnhw.golden.blocks.kwta import k_winners
from snnhw.golden.blocks.mstdp import kernel_update
from snnhw.golden.blocks.rng import _POSITION, SEQUENCE
from snnhw.golden.networks.ttfs_conv import ConvState, encode
from snnhw.golden.networks.ttfs_conv_cycles import row_cost
from snnhw.ir_conv import pack_events, unpack_events
from snnhw.verify.conv_golden import expect_run, trace_maps

DATA = Path(__file__).parents[1] / "data"
T = 6


def _net():
    return resolve(load_config(DATA / "ttfs_rtl_tiny.toml"))


def _simulate(top, bench) -> None:
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


async def _pulse(ctx, signal) -> None:
    ctx.set(signal, 1)
    await ctx.tick()
    ctx.set(signal, 0)


def _random_layer(rng, base):
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(4, 10)), int(rng.integers(4, 10))
    k = int(rng.integers(1, 4))
    pad = int(rng.integers(0, k))
    f = int(rng.integers(1, 7))
    out = (f, h + 2 * pad - k + 1, w + 2 * pad - k + 1)
    return replace(base, in_shape=(c, h, w), out_shape=out, kernel=k, padding=pad,
                   weights=rng.integers(0, 256, size=(f, c, k, k)),
                   threshold=int(rng.integers(150, 900)),
                   pointwise_inhibition=bool(rng.integers(0, 2)))


def _items(times, key):
    items = []
    for t in range(T):
        items += [key(c, y, x, t) for c, y, x in zip(*np.nonzero(times == t), strict=True)]
        items.append(None if key is None else key(0, 0, 0, t) | {"eot": 1})
    return items


async def _engine_run(ctx, eng, items, got) -> None:
    """Start an image and feed ``items``; count the updates and the cycles spent on kernel
    rows, and collect the spikes in ``got``."""
    ctx.set(eng.o_spike.ready, 1)
    await _pulse(ctx, eng.start)
    n = 0
    while n < len(items) or ctx.get(eng.busy):
        ctx.set(eng.i_event.valid, n < len(items))
        if n < len(items):
            ctx.set(eng.i_event.payload, items[n])
        _, _, ready, valid, sp, upd, phase = await ctx.tick().sample(
            eng.i_event.ready, eng.o_spike.valid, eng.o_spike.payload, eng.updates,
            eng.debug.phase)
        n += bool(ready and n < len(items))
        got["updates"] += bin(upd).count("1")
        got["rows"] += phase == phase.ROW
        if valid and not sp.eot:
            got["spikes"].append((sp.f, sp.y, sp.x, sp.t, sp.v))


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed{s}")
def test_conv_engine_fires_like_golden(seed):
    rng = np.random.default_rng(seed)
    layer = _random_layer(rng, _net().layers[2])
    times = np.where(rng.random(layer.in_shape) < 0.35, rng.integers(0, T, layer.in_shape), T)
    lanes = int(rng.integers(1, 5))
    eng = ConvEngine(layer, lanes=lanes, timestep_bits=4)
    items = _items(times, lambda c, y, x, t: {"c": int(c), "y": int(y), "x": int(x), "eot": 0})
    got = {"spikes": [], "updates": 0, "rows": 0}

    async def bench(ctx):
        await _engine_run(ctx, eng, items, got)

    _simulate(eng, bench)
    out, at = conv_fire(times, layer.weights, layer.threshold, layer.padding, T,
                        layer.pointwise_inhibition)
    spikes = np.full(out.shape, T)
    v = np.zeros_like(at)
    for f, y, x, t, pot in got["spikes"]:
        assert spikes[f, y, x] == T
        spikes[f, y, x], v[f, y, x] = t, pot
    assert np.array_equal(spikes, out) and np.array_equal(v, at)
    alive = np.ones(layer.weights.shape, dtype=bool)
    rows, updates = row_cost(times, alive, layer.padding, layer.out_shape[1:], T, lanes)
    assert got["updates"] == updates and got["rows"] == rows.sum()


@pytest.mark.parametrize(("maps", "lanes"), [(2, 4), (5, 3), (3, 1), (6, 4)],
                         ids=lambda v: str(v))
def test_conv_engine_lanes_walk_rows_on_their_own(maps, lanes):
    """Pruned kernels (masks written through the kernel port) with maps fewer than lanes, not
    a multiple of them, or one lane: the spikes are the golden model's, and the cycles an
    event's rows take are its busiest lane's rows (row_cost), not each row's busiest lane."""
    rng = np.random.default_rng(maps * 10 + lanes)
    base = _random_layer(rng, _net().layers[2])
    c, h, w = base.in_shape
    k = 3
    alive = rng.random((maps, c, k, k)) < 0.45
    weights = np.where(alive, rng.integers(100, 256, size=(maps, c, k, k)), 0)
    layer = replace(base, out_shape=(maps, h, w), kernel=k, padding=1, weights=weights,
                    threshold=600, prune_threshold=10)
    times = np.where(rng.random(layer.in_shape) < 0.4, rng.integers(0, T, layer.in_shape), T)
    eng = ConvEngine(layer, lanes=lanes, timestep_bits=4)
    words = eng.banks.mask_words(alive)
    items = _items(times, lambda c, y, x, t: {"c": int(c), "y": int(y), "x": int(x), "eot": 0})
    got = {"spikes": [], "updates": 0, "rows": 0}

    async def bench(ctx):
        kp = eng.kernel
        ctx.set(kp.en, 1)
        for ln in range(lanes):
            for r, word in enumerate(words[ln]):
                ctx.set(kp.lane, ln)
                ctx.set(kp.m_waddr, r)
                ctx.set(kp.m_wdata, word)
                ctx.set(kp.m_wbits, (1 << len(kp.m_wbits)) - 1)
                ctx.set(kp.m_we, 1)
                await ctx.tick()
        ctx.set(kp.m_we, 0)
        ctx.set(kp.en, 0)
        await _engine_run(ctx, eng, items, got)

    _simulate(eng, bench)
    out, at = conv_fire(times, weights, layer.threshold, layer.padding, T,
                        layer.pointwise_inhibition)
    spikes = np.full(out.shape, T)
    v = np.zeros_like(at)
    for f, y, x, t, pot in got["spikes"]:
        spikes[f, y, x], v[f, y, x] = t, pot
    assert np.array_equal(spikes, out) and np.array_equal(v, at)
    rows, updates = row_cost(times, alive, layer.padding, layer.out_shape[1:], T, lanes)
    assert got["updates"] == updates and got["rows"] == rows.sum()


@pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
def test_pool_stage_keeps_earliest_spike(seed):
    rng = np.random.default_rng(seed)
    c, h, w = int(rng.integers(1, 5)), int(rng.integers(3, 12)), int(rng.integers(3, 12))
    size = int(rng.integers(1, min(h, w) + 1))
    stride, pad = int(rng.integers(1, size + 1)), int(rng.integers(0, size))
    out = (c, (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1)
    layer = replace(_net().layers[1], in_shape=(c, h, w), out_shape=out, size=size,
                    stride=stride, padding=pad)
    times = np.where(rng.random((c, h, w)) < 0.4, rng.integers(0, T, (c, h, w)), T)
    stage = PoolStage(layer, timestep_bits=4, v_bits=8)
    items = _items(times, lambda f, y, x, t: {"f": int(f), "y": int(y), "x": int(x), "t": t,
                                              "v": 0, "eot": 0})
    events = []

    async def bench(ctx):
        await _pulse(ctx, stage.start)
        n = 0
        while n < len(items) or ctx.get(stage.busy) or ctx.get(stage.o_event.valid):
            ctx.set(stage.i_spike.valid, n < len(items))
            if n < len(items):
                ctx.set(stage.i_spike.payload, items[n])
            _, _, ready, valid, ev = await ctx.tick().sample(
                stage.i_spike.ready, stage.o_event.valid, stage.o_event.payload)
            n += bool(ready and n < len(items))
            if valid:
                events.append((ev.eot, ev.c, ev.y, ev.x))

    _simulate(stage, bench)
    got, t = np.full(out, T), 0
    for eot, f, y, x in events:
        if eot:
            t += 1
        else:
            assert got[f, y, x] == T
            got[f, y, x] = t
    assert t == T
    assert np.array_equal(got, pool_earliest(times, size, stride, pad, T))


@pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
def test_k_winners_rank_and_inhibit_like_golden(seed):
    rng = np.random.default_rng(seed)
    f, h, w = int(rng.integers(1, 6)), int(rng.integers(2, 9)), int(rng.integers(2, 9))
    k, r = int(rng.integers(1, 6)), int(rng.integers(0, 3))
    times = np.where(rng.random((f, h, w)) < 0.3, rng.integers(0, T, (f, h, w)), T)
    at = np.where(times < T, rng.integers(5, 9, (f, h, w)), 0)  # many ties
    kw = KWinners(maps=f, height=h, width=w, k=k, radius=r, timestep_bits=4, v_bits=8,
                  depth=f * h * w)
    items = []
    for t in range(T):
        idx = list(zip(*np.nonzero(times == t), strict=True))
        rng.shuffle(idx)  # any arrival order
        items += [{"f": int(a), "y": int(b), "x": int(c), "t": t, "v": int(at[a, b, c]),
                   "eot": 0} for a, b, c in idx]
        items.append({"f": 0, "y": 0, "x": 0, "t": t, "v": 0, "eot": 1})
    got = []

    async def bench(ctx):
        await _pulse(ctx, kw.reset)
        n = 0
        while n < len(items):
            ctx.set(kw.i_spike.valid, 1)
            ctx.set(kw.i_spike.payload, items[n])
            _, _, ready = await ctx.tick().sample(kw.i_spike.ready)
            n += bool(ready)
        for i in range(ctx.get(kw.count)):
            ctx.set(kw.sel, i)
            win = ctx.get(kw.win)
            got.append((win.f, win.y, win.x, win.t))

    _simulate(kw, bench)
    assert got == [tuple(x) for x in k_winners(times, at, k, r, T)]


@pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
def test_stdp_unit_updates_and_prunes_like_golden(seed):
    rng = np.random.default_rng(seed)
    layer = _random_layer(rng, _net().layers[2])
    c, h, w = layer.in_shape
    alive0 = rng.random(layer.weights.shape) < 0.7
    w0 = np.where(alive0, layer.weights, 0)
    layer = replace(layer, weights=w0, prune_threshold=int(rng.integers(60, 140)))
    lanes = int(rng.integers(1, 4))
    eng = ConvEngine(layer, lanes=lanes, timestep_bits=4)
    k = min(layer.maps, 3)
    ln = KernelLearner(layer, lanes=lanes, maps_per_lane=eng.maps_per_lane,
                       mask_stride=eng.mask_stride, timesteps=T,
                       kernel_port=eng.kernel_port_widths(), k=k,
                       win_layout=winner_layout(layer.maps, *layer.out_shape[1:], 4))
    top = Module()
    top.submodules.eng = eng
    top.submodules.ln = ln
    wiring.connect(top, ln.kernel, eng.kernel)
    times = np.where(rng.random((c, h, w)) < 0.5, rng.integers(0, T, (c, h, w)), T)
    ho, wo = layer.out_shape[1:]
    wins = [(int(f), int(rng.integers(0, ho)), int(rng.integers(0, wo)),
             int(rng.integers(0, T))) for f in rng.permutation(layer.maps)[:k]]
    prune_on = bool(seed % 2)
    got = {}

    async def bench(ctx):
        for lane in range(lanes):
            for a, word in enumerate(eng.lane_masks(lane, alive0)):
                ctx.set(eng.memories["masks"][lane].data[a], word)
        await _pulse(ctx, ln.clear)
        while ctx.get(ln.busy):
            await ctx.tick()
        for ch, y, x in zip(*np.nonzero(times < T), strict=True):
            for port, value in ((ln.i_pre_c, ch), (ln.i_pre_y, y), (ln.i_pre_x, x),
                                (ln.i_pre_t, times[ch, y, x])):
                ctx.set(port, int(value))
            ctx.set(ln.i_pre_valid, 1)
            await ctx.tick()
        ctx.set(ln.i_pre_valid, 0)
        ctx.set(ln.a_plus, 3000)
        ctx.set(ln.a_minus, 2000)
        ctx.set(ln.prune_on, prune_on)
        ctx.set(ln.n_winners, len(wins))
        ctx.set(ln.start, 1)
        while True:
            f, y, x, t = wins[min(ctx.get(ln.sel), len(wins) - 1)]
            ctx.set(ln.win, {"f": f, "y": y, "x": x, "t": t})
            await ctx.tick()
            ctx.set(ln.start, 0)
            if not ctx.get(ln.busy):
                break
        banks = eng.banks
        got["w"] = banks.weights_from(np.array([
            [ctx.get(eng.memories["weights"][lane].data[a]) for a in range(
                len(eng.lane_weights(lane)))] for lane in range(lanes)]))
        got["alive"] = banks.alive_from([
            [ctx.get(eng.memories["masks"][lane].data[a]) for a in range(c * layer.kernel)]
            for lane in range(lanes)])
        got["gen"] = ctx.get(ln.gen)

    _simulate(top, bench)
    w, alive = w0.copy(), alive0.copy()
    pos = int(_POSITION[layer.stdp.generator_state])
    p = layer.padding
    padded = np.pad(times, ((0, 0), (p, p), (p, p)), constant_values=T)
    for f, y, x, t in wins:
        pos = kernel_update(w[f], alive[f], padded[:, y:y + layer.kernel, x:x + layer.kernel],
                            t, (3000, 2000), layer.weight_bits, pos,
                            layer.prune_threshold if prune_on else None)
    assert np.array_equal(got["w"], w) and np.array_equal(got["alive"], alive)
    assert got["gen"] == SEQUENCE[pos]


def test_core_learns_layer_by_layer_like_golden(data_dir):
    """Real Caltech images: conv1 learns, then conv2 (which prunes), then inference; after
    every run every conv spike, weight, alive bit, generator, counter and the cycle count
    equal the golden model's."""
    net = _net()
    images = load_dataset("caltech-facemotor", "learning", data_dir,
                          size=(net.encoder.height, net.encoder.width)).images[::60][:6]
    schedule = [1, 1, 2, 2, 2, 0]
    core = TtfsConvCore(net)
    state = ConvState.initial(net)
    convs = list(net.conv_layers)

    async def bench(ctx):
        for image, learn in zip(images, schedule, strict=True):
            times = encode(net, image)
            exp = expect_run(net, state, times, learn)
            trace = await conv_run(ctx, core, pack_events(times, net.timesteps), learn)
            got = trace_maps(net, trace)
            for s, spikes in exp.spikes.items():
                assert np.array_equal(got[s], spikes), (learn, s)
            regs = await conv_regs(ctx, core)
            assert regs["cycles"] == exp.cycles.cycles
            assert regs["synaptic_updates"] == exp.cycles.updates
            assert regs["weight_updates"] == exp.cycles.weight_updates
            for s, layer in enumerate(convs):
                w, alive = await conv_kernels(ctx, core, s)
                assert np.array_equal(w, state.weights[layer.index])
                assert np.array_equal(alive, state.alive[layer.index])
                assert regs[f"alive{s}"] == state.alive[layer.index].sum()
                assert regs[f"seen{s}"] == state.seen[layer.index]
                assert regs[f"generator{s}"] == SEQUENCE[state.gen_pos[layer.index]]
            if not learn:
                assert np.array_equal(await conv_maxima(ctx, core), exp.features)
                pooled = unpack_events(await conv_list(ctx, core, 1), net.layers[1].out_shape,
                                       net.timesteps)
                assert np.array_equal(pooled, pool_earliest(
                    exp.spikes[0], 3, 2, 0, net.timesteps))
        assert not state.alive[convs[1].index].all()  # conv2 pruned some taps

    _simulate(core, bench)


def test_host_refuses_register_values_the_core_cannot_run():
    net = _net()
    core = TtfsConvCore(net)
    got = {}

    async def bench(ctx):
        for name, bad in (("learn", 3), ("learn", 7), ("events", 10**6), ("generator1", 0)):
            before = await conv_read(ctx, core, ConvHost.REG, 0, core.regs[name])
            await conv_write(ctx, core, ConvHost.REG, 0, core.regs[name], bad)
            got[name, bad] = (before, await conv_read(ctx, core, ConvHost.REG, 0,
                                                      core.regs[name]))
        await conv_write(ctx, core, ConvHost.REG, 0, core.regs["learn"], 2)
        got["learn", 2] = await conv_read(ctx, core, ConvHost.REG, 0, core.regs["learn"])
        # conv2 (6 maps, 4 lanes): lane 2 holds map 2 only; slot 1 and the padding bits of
        # its mask words do not exist
        bank = 1 << core.lane_bits | 2
        await conv_write(ctx, core, ConvHost.MASK, bank, 0, -1)
        got["mask"] = await conv_read(ctx, core, ConvHost.MASK, bank, 0)

    _simulate(core, bench)
    mask = got.pop("mask")
    assert mask == core.engines[1].lane_masks(2)[0]
    learned = got.pop(("learn", 2))
    assert all(before == after for before, after in got.values()), got
    assert learned == 2 and got["generator1", 0][0] != 0
