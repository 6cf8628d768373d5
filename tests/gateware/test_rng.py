"""The gateware generator (:func:`snnhw.gateware.blocks.rng.xorshift16`) simulated against
``snnhw.golden.blocks.rng.xorshift16`` (the one definition, in ``ir``), compared with ==."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from snnhw.gateware.blocks.rng import xorshift16
from snnhw.golden.blocks.rng import SEQUENCE
from snnhw.golden.blocks.rng import xorshift16 as golden_xorshift16


def next_states(states):
    m = Module()
    s, nxt = Signal(16), Signal(16)
    m.d.comb += nxt.eq(xorshift16(s))
    got = []

    async def bench(ctx):
        for v in states:
            ctx.set(s, int(v))
            got.append(ctx.get(nxt))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("seed", [1, 2, 3], ids=lambda s: f"seed{s}")
def test_next_state_is_the_golden_one(seed):
    states = np.random.default_rng(seed).integers(0, 2**16, 3000)
    assert next_states(states) == [golden_xorshift16(int(v)) for v in states]


def test_extreme_states_and_a_stretch_of_the_sequence():
    states = [0, 1, 0x8000, 0x7FFF, 0xFFFF, *SEQUENCE[:500].tolist()]
    got = next_states(states)
    assert got == [golden_xorshift16(v) for v in states]
    assert got[5:504] == SEQUENCE[1:500].tolist()  # the sequence, step by step


def test_the_result_is_16_bits_wide():
    assert len(xorshift16(Signal(16))) == 16


def test_the_state_must_be_16_bits_wide():
    with pytest.raises(ValueError, match="Generator state must be 16 bits wide, not 12"):
        xorshift16(Signal(12))
