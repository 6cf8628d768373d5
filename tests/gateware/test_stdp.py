"""The STDP lanes (:mod:`snnhw.gateware.blocks.stdp`) simulated against
``snnhw.golden.blocks.stdp`` with seeded random inputs, compared with ==: the post-spike
update of one input (``stdp_column``, fixed and adaptive rates, every rounding offset) and
the pre-spike depression of one neuron (``depress_row``)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.blocks.stdp import ColumnUpdate, RowDepression
from snnhw.golden.blocks.stdp import depress_row, stdp_column

TRIALS = 400


def make_layer(weight_bits, x_tar, eta_pre):
    return resolve_layer(parse_config({
        "input": {"size": 16},
        "neurons": {"count": 4, "threshold": 100, "inhibition": "wta"},
        "synapses": {"weight_bits": weight_bits, "signed": False},
        "stdp": {"enabled": True, "x_tar": x_tar, "eta_pre": eta_pre},
    }))


CASES = {  # weight_bits, x_tar, eta_pre
    "w8-xtar30": (8, 30, 300),
    "w5-xtar0": (5, 0, 65535),
    "w4-xtar255": (4, 255, 1),
}


def simulate(dut, trials, latency):
    """Set each trial's inputs (a dict), wait ``latency`` cycles, read ``o_w``."""
    got = []

    async def bench(ctx):
        for inputs in trials:
            for name, value in inputs.items():
                ctx.set(getattr(dut, name), value)
            for _ in range(latency):
                await ctx.tick()
            got.append(ctx.get(dut.o_w))

    sim = Simulator(dut)
    if latency:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("adaptive", [False, True], ids=["fixed", "adaptive"])
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
def test_column_update_is_stdp_column(case, adaptive, seed):
    weight_bits, x_tar, eta_pre = CASES[case]
    layer = make_layer(weight_bits, x_tar, eta_pre)
    rng = np.random.default_rng(seed)
    trace = rng.integers(0, 256, TRIALS)
    trace[:4] = [0, 255, x_tar, x_tar - 1 if x_tar else 1]  # the rate's edge
    w = rng.integers(0, layer.wmax + 1, TRIALS)
    w[4:8] = [0, layer.wmax, 0, layer.wmax]
    u = rng.choice([0, 1 << 15, 0xFFFF], TRIALS)
    u[::2] = rng.integers(0, 1 << 16, TRIALS)[::2]
    eta = rng.integers(0, 1 << 16, TRIALS)
    eta[8:12] = [0, 0xFFFF, 0xFFFF, 1]
    eta_p = rng.integers(0, 1 << 16, TRIALS) if adaptive else eta
    dut = ColumnUpdate(weight_bits=weight_bits, wmax=layer.wmax, adaptive=adaptive)
    trials = [{"i_dx": int(trace[i]) - x_tar, "i_u": int(u[i]), "i_w": int(w[i]),
               "i_eta": int(eta[i]), **({"i_eta_p": int(eta_p[i])} if adaptive else {})}
              for i in range(TRIALS)]
    got = simulate(dut, trials, latency=1)
    want = [int(stdp_column(layer, w[i:i + 1], trace[i:i + 1], int(eta[i]), int(u[i]),
                            int(eta_p[i]) if adaptive else None)[0]) for i in range(TRIALS)]
    assert got == want
    assert 0 in want or layer.wmax in want  # a clip was exercised (x_tar 0: only wmax's)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
def test_row_depression_is_depress_row(case, seed):
    weight_bits, x_tar, eta_pre = CASES[case]
    layer = make_layer(weight_bits, x_tar, eta_pre)
    rng = np.random.default_rng(seed)
    post = rng.integers(0, 256, TRIALS)
    w = rng.integers(0, layer.wmax + 1, TRIALS)
    u = rng.integers(0, 1 << 16, TRIALS)
    post[:3], u[:3] = [255, 0, 255], [0xFFFF, 0, 0]
    dut = RowDepression(weight_bits=weight_bits, eta_pre=eta_pre)
    trials = [{"i_y": int(post[i]), "i_u": int(u[i]), "i_w": int(w[i])} for i in range(TRIALS)]
    got = simulate(dut, trials, latency=0)
    want = depress_row(layer, w, post, u).tolist()
    assert got == want


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="Weight width must be a positive integer, not 0"):
        ColumnUpdate(weight_bits=0, wmax=0)
    with pytest.raises(ValueError, match=r"Largest weight must be an integer in 0\.\.15, not 16"):
        ColumnUpdate(weight_bits=4, wmax=16)
    with pytest.raises(ValueError, match=r"Pre-spike rate must be an integer in 1\.\.65535, "
                                         r"not 0"):
        RowDepression(weight_bits=4, eta_pre=0)
