"""The small logic helpers both cores use, simulated against plain Python arithmetic with ==:
``at_most_one``, ``at_most_two``, ``lowest_index`` and ``lowest_two`` (every value of 1..9
bits), ``times_const`` (constants and their extremes) and
``saturating_counters`` (saturation at the top, clear, a wide increment)."""

from __future__ import annotations

import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from snnhw.gateware.common import (
    at_most_one,
    at_most_two,
    lowest_index,
    lowest_two,
    saturating_counters,
    times_const,
)


def comb_values(width, make, values):
    """``make(x)``'s value for each ``x`` of ``values`` (``x`` a ``width``-bit signal)."""
    m = Module()
    x = Signal(width)
    y = Signal(len(make(x)))
    m.d.comb += y.eq(make(x))
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(x, v)
            got.append(ctx.get(y))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("width", range(1, 10))
def test_at_most_one_is_x_and_x_minus_one_equal_zero(width):
    values = range(2**width)
    assert comb_values(width, at_most_one, values) == [int(v & (v - 1) == 0) for v in values]


@pytest.mark.parametrize("width", range(1, 10))
def test_at_most_two_is_at_most_one_once_the_lowest_is_cleared(width):
    values = range(2**width)
    assert comb_values(width, at_most_two, values) == [int(bin(v).count("1") <= 2)
                                                       for v in values]


def lowest(v):
    return (v & -v).bit_length() - 1


@pytest.mark.parametrize("width", range(1, 10))
def test_lowest_index_and_lowest_two_are_the_lowest_set_bits(width):
    values = range(1, 2**width)
    assert comb_values(width, lowest_index, values) == [lowest(v) for v in values]
    first = comb_values(width, lambda x: lowest_two(x)[0], values)
    second = comb_values(width, lambda x: lowest_two(x)[1], values)
    assert first == [lowest(v) for v in values]
    assert [s for s, v in zip(second, values, strict=True) if v & (v - 1)] == \
        [lowest(v & (v - 1)) for v in values if v & (v - 1)]


@pytest.mark.parametrize("c", [0, 1, 2, 3, 7, 8, 100, 255, 784, 0x5555, 65535])
def test_times_const_is_the_product(c):
    values = [0, 1, 2, 3, 100, 511, 1000, 1023]
    assert comb_values(10, lambda x: times_const(x, c), values) == [v * c for v in values]


def test_times_const_needs_a_non_negative_constant():
    with pytest.raises(ValueError, match="c >= 0"):
        times_const(Signal(4), -3)


def test_saturating_counter_stops_at_the_top_and_clears():
    m = Module()
    counter, inc, clear = Signal(6), Signal(6), Signal()
    saturating_counters(m, {"c": (counter, inc)}, 6, clear)
    seen = []

    async def bench(ctx):
        total = 0
        for step, (i, c) in enumerate([(5, 0)] * 10 + [(63, 0), (1, 1), (7, 0), (63, 0)]):
            ctx.set(inc, i)
            ctx.set(clear, c)
            await ctx.tick()
            total = 0 if c else min(63, total + i)
            seen.append((step, ctx.get(counter), total))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert [got for _, got, _ in seen] == [want for _, _, want in seen]
    assert max(got for _, got, _ in seen) == 63  # it did reach the top


def test_saturating_counter_with_an_increment_wider_than_itself():
    # a 4-bit counter fed by an 8-bit increment (as P one-bit sums are P bits wide)
    m = Module()
    counter, inc = Signal(4), Signal(8)
    saturating_counters(m, {"c": (counter, inc)}, 4, Signal())
    seen = []

    async def bench(ctx):
        for i in (3, 0, 200, 1, 0):
            ctx.set(inc, i)
            await ctx.tick()
            seen.append(ctx.get(counter))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [3, 3, 15, 15, 15]
