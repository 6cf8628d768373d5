"""The normalisation divider (:class:`snnhw.gateware.blocks.normalize.Divider`) simulated
against ``snnhw.golden.blocks.normalize``: the factor it computes rescales a neuron's weights
exactly as ``normalize_column`` does (compared with ==), and it is ``min((target << 16) //
sum, K_MAX)`` itself, in ``cycles`` cycles."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.blocks.normalize import K_MAX, Divider
from snnhw.golden.blocks.normalize import K_MAX as GOLDEN_K_MAX
from snnhw.golden.blocks.normalize import normalize_column


def make_layer(n_in, weight_bits, target):
    return resolve_layer(parse_config({
        "input": {"size": n_in},
        "neurons": {"count": 4, "threshold": 100, "inhibition": "wta"},
        "synapses": {"weight_bits": weight_bits, "signed": False},
        "stdp": {"enabled": True, "normalize_target": target},
    }))


def divide(target, divisor_bits, sums):
    """The divider's (quotient, cycles) for each of ``sums``, and its ``cycles``."""
    dut = Divider(target=target, divisor_bits=divisor_bits)
    got = []

    async def bench(ctx):
        for total in sums:
            ctx.set(dut.divisor, total)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 0
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            got.append((ctx.get(dut.quotient), cycles))
            for _ in range(3):  # done holds the quotient
                await ctx.tick()
                assert ctx.get(dut.done) and ctx.get(dut.quotient) == got[-1][0]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, dut.cycles


CASES = {  # n_in, weight_bits, normalize_target
    "784x8-t7800": (784, 8, 7800),
    "100x8-t2000": (100, 8, 2000),
    "20x5-t70": (20, 5, 70),
    "64x4-t1": (64, 4, 1),  # small sums: K saturates at K_MAX
}


@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("case", CASES)
def test_factor_rescales_as_the_golden_model(case, seed):
    n_in, weight_bits, target = CASES[case]
    layer = make_layer(n_in, weight_bits, target)
    rng = np.random.default_rng(seed)
    columns = [rng.integers(0, layer.wmax + 1, n_in) * (rng.random(n_in) < density)
               for density in (1.0, 0.5, 0.05, 0.005)] + [np.zeros(n_in, dtype=np.int64)]
    sums = [int(c.sum()) for c in columns]
    divisor_bits = (n_in * layer.wmax).bit_length()  # as the core's column sum
    got, dut_cycles = divide(target, divisor_bits, sums)
    for column, total, (k, cycles) in zip(columns, sums, got, strict=True):
        assert cycles == dut_cycles
        assert k == (min((target << 16) // total, GOLDEN_K_MAX) if total else 0)
        u = rng.integers(0, 2**16, n_in)
        rescaled = np.minimum((column * k + u) >> 16, layer.wmax) if total else column
        assert rescaled.tolist() == normalize_column(layer, column, u).tolist()


def test_k_max_is_the_golden_one():
    assert K_MAX == GOLDEN_K_MAX


@pytest.mark.parametrize("target, bits, message", [
    (-1, 8, "Target must be a non-negative integer, not -1"),
    (100, 0, "Divisor width must be a positive integer, not 0"),
])
def test_bad_parameters(target, bits, message):
    with pytest.raises(ValueError, match=message):
        Divider(target=target, divisor_bits=bits)
