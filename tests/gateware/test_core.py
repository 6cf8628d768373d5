"""NeuronCore in the Amaranth simulator against the golden model, compared with ``==``.

Set ``SNNHW_WAVES=1`` to write a VCD of each simulation under the test's ``tmp_path``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware import NeuronCore
from snnhw.gateware.layouts import COUNTER_NAMES, Space
from snnhw.gateware.testing import host_read, host_write, read_state, run_events
from snnhw.golden import LayerModel, integrate_events
from snnhw.ir import LayerIR


@dataclass(frozen=True)
class Case:
    """One small layer and the seeded random spike train it is driven with."""

    n_in: int
    n_out: int
    lanes: int
    reset: str = "zero"
    refractory: int = 0
    model: str = "lif"
    signed: bool = True
    weight_bits: int = 6
    membrane_bits: int = 10
    threshold: int = 60
    leak_shift: int = 3
    init_low: int = -12
    init_high: int = 31
    timestep_bits: int = 16
    weight_shift: int = 0
    timesteps: int = 30
    max_events: int = 8  # per timestep, in random order, with repeats
    seed: int = 0
    saturates: bool = False  # the run must hit the membrane limits at least once

    def __str__(self) -> str:
        s = (f"in{self.n_in}-out{self.n_out}-p{self.lanes}-{self.reset}-ref{self.refractory}"
             f"-{self.model}-{'s' if self.signed else 'u'}w{self.weight_bits}"
             f"-m{self.membrane_bits}")
        if self.timestep_bits != 16:
            s += f"-ts{self.timestep_bits}"
        if self.weight_shift:
            s += f"-shift{self.weight_shift}"
        return s + f"-seed{self.seed}"

    def layer(self) -> LayerIR:
        neurons = {"count": self.n_out, "model": self.model, "membrane_bits": self.membrane_bits,
                   "threshold": self.threshold, "reset": self.reset,
                   "refractory": self.refractory}
        if self.model == "lif":
            neurons["leak_shift"] = self.leak_shift
        return resolve_layer(parse_config({
            "input": {"size": self.n_in},
            "neurons": neurons,
            "synapses": {"weight_bits": self.weight_bits, "signed": self.signed,
                         "init_low": self.init_low, "init_high": self.init_high,
                         "init_seed": self.seed, "weight_shift": self.weight_shift},
            "hardware": {"lanes": self.lanes, "timestep_bits": self.timestep_bits},
        }))

    def events(self) -> list[np.ndarray]:
        return random_train(self.n_in, self.timesteps, self.max_events, self.seed)


def random_train(n_in: int, timesteps: int, max_events: int, seed: int) -> list[np.ndarray]:
    """Per timestep 0..max_events input indices, in random order, repeats allowed."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_in, size=rng.integers(0, max_events, endpoint=True))
            for _ in range(timesteps)]


CASES = [
    Case(12, 7, 3, reset="subtract", refractory=2, membrane_bits=8, threshold=100,
         init_low=-20, init_high=31, seed=1, saturates=True),
    Case(9, 5, 2, model="if", signed=False, weight_bits=4, membrane_bits=6, threshold=31,
         init_low=0, init_high=15, max_events=6, seed=2, saturates=True),
    Case(16, 8, 4, reset="subtract", weight_bits=5, membrane_bits=6, threshold=20,
         leak_shift=2, init_low=-16, init_high=15, max_events=10, seed=3, saturates=True),
    Case(6, 4, 4, refractory=2, model="if", membrane_bits=7, threshold=50,
         init_low=-10, init_high=25, seed=4, saturates=True),
    Case(10, 6, 1, reset="subtract", refractory=1, signed=False, weight_bits=3,
         membrane_bits=5, threshold=10, leak_shift=2, init_low=0, init_high=7, seed=5,
         saturates=True),
    Case(5, 1, 1, reset="subtract", model="if", weight_bits=4, membrane_bits=6,
         threshold=9, init_low=-3, init_high=7, timesteps=20, seed=6, saturates=True),
    Case(20, 11, 4, refractory=2, membrane_bits=10, threshold=60, timestep_bits=3,
         timesteps=20, max_events=12, seed=7),
    Case(7, 10, 3, reset="subtract", refractory=3, model="if", signed=False, weight_bits=4,
         membrane_bits=5, threshold=15, init_low=0, init_high=15, seed=8, saturates=True),
    Case(9, 6, 2, weight_shift=3, membrane_bits=11, threshold=500, seed=9, saturates=True),
]


# -- simulation helpers ----------------------------------------------------------------------

def simulate(layer: LayerIR, body, tmp_path) -> dict:
    """Run ``await body(ctx, core, results)`` as the only testbench; return ``results``."""
    core = NeuronCore(layer)
    sim = Simulator(core)
    sim.add_clock(1e-6)
    results: dict = {}

    async def testbench(ctx):
        await body(ctx, core, results)

    sim.add_testbench(testbench)
    if os.environ.get("SNNHW_WAVES"):
        with sim.write_vcd(str(tmp_path / "core.vcd")):
            sim.run()
    else:
        sim.run()
    return results


def read_counters(ctx, core: NeuronCore) -> dict[str, int]:
    return {name: ctx.get(getattr(core.counters, name)) for name in COUNTER_NAMES}


def expected_spikes(layer: LayerIR, trace) -> list[tuple[int, int]]:
    """The golden spikes with the timestep tag as the hardware counts it."""
    return [(t % 2**layer.timestep_bits, n) for t, n in trace.spike_events()]


def count_clamps(layer: LayerIR, events: list[np.ndarray]) -> int:
    """How many neuron-timesteps of the golden run saturated while integrating."""
    model, clamps = LayerModel(layer), 0
    for ev in events:
        plain = model.v + np.where(model.ref == 0, model.weights[ev].sum(axis=0), 0)
        clamps += int((integrate_events(layer, model.weights, model.v, model.ref, ev)
                       != plain).sum())
        model.step(ev)
    return clamps


async def run_and_read(ctx, core: NeuronCore, events, res: dict) -> None:
    res["spikes"] = await run_events(ctx, core, events)
    res["counters"] = read_counters(ctx, core)
    res["timestep"] = ctx.get(core.timestep)
    res["v"], res["ref"] = await read_state(ctx, core)


def assert_matches_golden(res: dict, layer: LayerIR, trace, *, timing: bool = True) -> None:
    assert res["spikes"] == expected_spikes(layer, trace)
    assert np.array_equal(res["v"], trace.v)
    assert np.array_equal(res["ref"], trace.ref)
    c, g = res["counters"], trace.cycles
    assert (c["synaptic_events"], c["input_events"], c["output_spikes"]) == \
        (g.synaptic_events, g.input_events, g.output_spikes)
    if timing:
        assert c["busy_cycles"] == g.busy_cycles
        assert c["cycles"] >= c["busy_cycles"]
    if "timestep" in res:
        assert res["timestep"] == g.timesteps % 2**layer.timestep_bits


def weight_word(layer: LayerIR, w: int) -> int:
    return int(w) & ((1 << layer.weight_bits) - 1)


def state_word(layer: LayerIR, v: int, ref: int) -> int:
    return (int(v) & ((1 << layer.membrane_bits) - 1)) | (int(ref) << layer.membrane_bits)


def from_word(word: int, bits: int) -> int:
    return word - (1 << bits) if word >> (bits - 1) else word


# -- against the golden model ----------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=str)
def test_core_matches_golden(case, tmp_path):
    layer, events = case.layer(), case.events()
    trace = LayerModel(layer).run(events)
    assert trace.spikes.any(), "the case should make neurons fire"
    assert (count_clamps(layer, events) > 0) == case.saturates

    async def body(ctx, core, res):
        await run_and_read(ctx, core, events, res)

    assert_matches_golden(simulate(layer, body, tmp_path), layer, trace)


def test_timesteps_without_events(tmp_path):
    # Reset by subtraction leaves potentials above threshold, so neurons keep firing through
    # the empty timesteps that follow; the first and last timesteps are empty too.
    case = Case(3, 5, 2, reset="subtract", model="if", weight_bits=5, membrane_bits=8,
                threshold=10, init_low=8, init_high=15, seed=11)
    layer = case.layer()
    events = [np.array(e, dtype=np.int64) for e in ([], [0, 1, 0], [], [], [2], [], [])]
    trace = LayerModel(layer).run(events)
    assert trace.spikes[2].any() and trace.spikes[3].any()

    async def body(ctx, core, res):
        await run_and_read(ctx, core, events, res)

    assert_matches_golden(simulate(layer, body, tmp_path), layer, trace)


def test_only_empty_timesteps(tmp_path):
    layer = Case(4, 5, 2, seed=12).layer()
    events = [np.zeros(0, dtype=np.int64)] * 3
    trace = LayerModel(layer).run(events)

    async def body(ctx, core, res):
        await run_and_read(ctx, core, events, res)

    res = simulate(layer, body, tmp_path)
    assert res["spikes"] == [] and res["counters"]["busy_cycles"] == 3 * layer.npl + 1
    assert_matches_golden(res, layer, trace)


DUPLICATE_LANES = [4, 2, 1]  # npl 1 (forwarding every cycle), 2 and 4


@pytest.mark.parametrize("lanes", DUPLICATE_LANES,
                         ids=[f"in5-out4-p{p}-seed13" for p in DUPLICATE_LANES])
def test_consecutive_duplicate_events(lanes, tmp_path):
    case = Case(5, 4, lanes, reset="subtract", refractory=1, weight_bits=5, membrane_bits=7,
                threshold=40, init_low=-16, init_high=15, seed=13)
    layer = case.layer()
    rows = ([4, 4, 4, 4], [0, 0, 1, 1, 0, 0], [2] * 10, [3, 3], [], [1] * 7 + [4] * 7,
            [0, 0], [3] * 12)
    events = [np.array(e, dtype=np.int64) for e in rows]
    trace = LayerModel(layer).run(events)
    assert trace.spikes.any() and count_clamps(layer, events) > 0

    async def body(ctx, core, res):
        await run_and_read(ctx, core, events, res)

    assert_matches_golden(simulate(layer, body, tmp_path), layer, trace)


def test_one_group_per_lane_forwarding(tmp_path):
    # lanes == n_out: every operation reads the state the previous one is writing.
    case = Case(6, 3, 3, reset="subtract", refractory=0, model="if", weight_bits=5,
                membrane_bits=7, threshold=20, init_low=-16, init_high=15, timesteps=30,
                max_events=14, seed=14)
    layer, events = case.layer(), case.events()
    assert layer.npl == 1
    trace = LayerModel(layer).run(events)
    assert trace.spikes.any()

    async def body(ctx, core, res):
        await run_and_read(ctx, core, events, res)

    assert_matches_golden(simulate(layer, body, tmp_path), layer, trace)


# -- output backpressure ---------------------------------------------------------------------

async def run_with_backpressure(ctx, core: NeuronCore, events, rng) -> list[tuple[int, int]]:
    """Like :func:`run_events`, but ``o_spike.ready`` toggles at random and input events come
    with random gaps. Also checks that a spike offered and not taken stays offered unchanged.
    """
    items = []
    for ev in events:
        items.extend((int(i), 0) for i in ev)
        items.append((0, 1))
    out: list[tuple[int, int]] = []
    n, gap, held = 0, 0, None
    while n < len(items) or not ctx.get(core.idle):
        offer = n < len(items) and gap == 0
        ctx.set(core.i_event.valid, offer)
        if offer:
            ctx.set(core.i_event.payload, {"index": items[n][0], "eot": items[n][1]})
        ctx.set(core.o_spike.ready, rng.random() < 0.4)
        _, _, i_ready, o_valid, o_ready, neuron, ts = await ctx.tick().sample(
            core.i_event.ready, core.o_spike.valid, core.o_spike.ready,
            core.o_spike.payload.neuron, core.o_spike.payload.timestep)
        if held is not None:
            assert o_valid and (ts, neuron) == held, "a spike offered must stay offered"
        held = None
        if offer and i_ready:
            n += 1
            gap = int(rng.choice([0, 0, 0, 1, 3]))
        elif not offer and gap:
            gap -= 1
        if o_valid and o_ready:
            out.append((ts, neuron))
        elif o_valid:
            held = (ts, neuron)
    ctx.set(core.i_event.valid, 0)
    ctx.set(core.o_spike.ready, 0)
    return out


BACKPRESSURE = [CASES[0], CASES[3], CASES[4], CASES[6]]


@pytest.mark.parametrize("case", BACKPRESSURE, ids=str)
def test_output_backpressure(case, tmp_path):
    layer, events = case.layer(), case.events()
    trace = LayerModel(layer).run(events)

    async def body(ctx, core, res):
        res["spikes"] = await run_with_backpressure(ctx, core, events,
                                                    np.random.default_rng(case.seed))
        res["counters"] = read_counters(ctx, core)
        res["timestep"] = ctx.get(core.timestep)
        res["v"], res["ref"] = await read_state(ctx, core)

    res = simulate(layer, body, tmp_path)
    assert_matches_golden(res, layer, trace, timing=False)


# -- counters --------------------------------------------------------------------------------

def test_clear_counters(tmp_path):
    case = CASES[0]
    layer, events = case.layer(), case.events()[:4]

    async def body(ctx, core, res):
        await run_events(ctx, core, events)
        res["before"] = read_counters(ctx, core)
        ctx.set(core.clear_counters, 1)
        await ctx.tick()
        res["cleared"] = read_counters(ctx, core)
        await ctx.tick()  # still clearing
        res["held"] = read_counters(ctx, core)
        ctx.set(core.clear_counters, 0)
        await ctx.tick().repeat(2)
        res["after"] = read_counters(ctx, core)

    res = simulate(layer, body, tmp_path)
    assert all(res["before"][name] > 0 for name in COUNTER_NAMES)
    assert all(value == 0 for value in res["cleared"].values())
    assert all(value == 0 for value in res["held"].values())
    # idle: only the cycle counter runs
    assert res["after"] == {name: 2 if name == "cycles" else 0 for name in COUNTER_NAMES}


# -- host port -------------------------------------------------------------------------------

def random_bank_images(layer: LayerIR, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random weights over the whole range and their bank images, with the padding neurons'
    words random too (a disabled neuron must stay silent whatever its weights)."""
    padded = rng.integers(layer.wmin, layer.wmax, size=(layer.n_in, layer.padded_out),
                          endpoint=True)
    i, j = np.meshgrid(np.arange(layer.n_in), np.arange(layer.padded_out), indexing="ij")
    bank, addr = layer.weight_location(i, j)
    banks = np.zeros((layer.lanes, layer.bank_depth), dtype=np.int64)
    banks[bank, addr] = padded
    return padded[:, :layer.n_out], banks


HOST_CASES = [
    Case(6, 5, 2, reset="subtract", refractory=1, weight_bits=5, membrane_bits=8,
         threshold=30, init_low=-16, init_high=15, seed=21),
    Case(5, 7, 3, model="if", signed=False, weight_bits=4, membrane_bits=6, threshold=25,
         init_low=0, init_high=15, seed=22),
]


@pytest.mark.parametrize("case", HOST_CASES, ids=str)
def test_host_weight_round_trip_and_run(case, tmp_path):
    layer, events = case.layer(), case.events()
    rng = np.random.default_rng(case.seed)
    new_w, new_banks = random_bank_images(layer, rng)
    assert layer.padded_out > layer.n_out and (new_w < 0).any() == layer.weight_signed
    golden = LayerModel(layer)
    golden.weights = new_w
    trace = golden.run(events)
    assert trace.spikes.any()
    assert not np.array_equal(trace.spikes, LayerModel(layer).run(events).spikes)

    async def read_banks(ctx, core):
        return np.array([[await host_read(ctx, core, Space.WEIGHT, b, a)
                          for a in range(layer.bank_depth)] for b in range(layer.lanes)])

    async def body(ctx, core, res):
        res["initial"] = await read_banks(ctx, core)
        for b in range(layer.lanes):
            for a in range(layer.bank_depth):
                await host_write(ctx, core, Space.WEIGHT, b, a,
                                 weight_word(layer, new_banks[b, a]))
        res["written"] = await read_banks(ctx, core)
        await run_and_read(ctx, core, events, res)

    res = simulate(layer, body, tmp_path)
    to_word = np.vectorize(lambda w: weight_word(layer, w))
    assert np.array_equal(res["initial"], to_word(layer.weight_banks()))
    assert np.array_equal(res["written"], to_word(new_banks))
    if layer.weight_signed:
        to_weight = np.vectorize(lambda word: from_word(word, layer.weight_bits))
        assert np.array_equal(layer.weights_from_banks(to_weight(res["written"])), new_w)
    else:
        assert np.array_equal(layer.weights_from_banks(res["written"]), new_w)
    assert_matches_golden(res, layer, trace)


def test_host_state_write_and_run(tmp_path):
    case = Case(6, 5, 2, reset="subtract", refractory=3, membrane_bits=8, threshold=30,
                seed=23)
    layer, events = case.layer(), case.events()
    rng = np.random.default_rng(case.seed)
    v0 = rng.integers(layer.vmin, layer.vmax, size=layer.n_out, endpoint=True)
    ref0 = rng.integers(0, layer.refractory, size=layer.n_out, endpoint=True)
    golden = LayerModel(layer)
    golden.v, golden.ref = v0.copy(), ref0.copy()
    trace = golden.run(events)

    async def body(ctx, core, res):
        for j in range(layer.n_out):
            await host_write(ctx, core, Space.STATE, j % layer.lanes, j // layer.lanes,
                             state_word(layer, v0[j], ref0[j]))
        # the padding neuron sits at threshold and above: it must still never fire
        for j in range(layer.n_out, layer.padded_out):
            await host_write(ctx, core, Space.STATE, j % layer.lanes, j // layer.lanes,
                             state_word(layer, layer.vmax, 0))
        res["v0"], res["ref0"] = await read_state(ctx, core)
        await run_and_read(ctx, core, events, res)

    res = simulate(layer, body, tmp_path)
    assert np.array_equal(res["v0"], v0) and np.array_equal(res["ref0"], ref0)
    assert_matches_golden(res, layer, trace)


def test_host_read_data_holds_until_next_read(tmp_path):
    """While idle, r_data keeps the last word read even as addr, space and bank change."""
    case = Case(6, 5, 2, seed=31)
    layer = case.layer()
    banks = layer.weight_banks()
    assert banks[0][1] != banks[0][5]

    async def body(ctx, core, res):
        first = await host_read(ctx, core, Space.WEIGHT, 0, 1)
        held = []
        for addr in (5, 2, 0):
            ctx.set(core.host.addr, addr)
            ctx.set(core.host.space, Space.STATE)
            await ctx.tick()
            held.append(ctx.get(core.host.r_data))
        res["first"], res["held"] = first, held
        res["second"] = await host_read(ctx, core, Space.WEIGHT, 0, 5)

    res = simulate(layer, body, tmp_path)
    assert res["first"] == weight_word(layer, int(banks[0][1]))
    assert res["held"] == [res["first"]] * 3
    assert res["second"] == weight_word(layer, int(banks[0][5]))


def test_counters_saturate_like_the_model(tmp_path):
    """16-bit counters overflow in this run: the RTL and the cycle model both saturate."""
    layer = resolve_layer(parse_config({
        "input": {"size": 32},
        "neurons": {"count": 40, "threshold": 200, "membrane_bits": 12},
        "synapses": {"weight_bits": 6, "init_low": -8, "init_high": 31, "init_seed": 4},
        "hardware": {"lanes": 1, "counter_bits": 16},
    }))
    events = random_train(layer.n_in, 140, 24, seed=4)
    trace = LayerModel(layer).run(events)
    assert trace.cycles.busy_cycles == 2**16 - 1
    assert trace.cycles.synaptic_events == 2**16 - 1

    async def body(ctx, core, res):
        await run_and_read(ctx, core, events, res)

    res = simulate(layer, body, tmp_path)
    assert_matches_golden(res, layer, trace)
