"""The FIRE pass's reduction tree (:class:`snnhw.gateware.blocks.wta.WinnerTree`) simulated
against ``snnhw.golden.blocks.wta.hard_wta`` with seeded random candidates, compared with ==:
the largest margin wins, ties go to the lowest index, no valid candidate means no winner."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.gateware.blocks.wta import WinnerTree, candidate_layout
from snnhw.golden.blocks.wta import hard_wta

MARGIN_BITS = 6  # small margins: ties are common


@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 6, 7], ids=lambda p: f"p{p}")
def test_winner_is_the_golden_one(lanes, seed):
    layout = candidate_layout(margin_bits=MARGIN_BITS, k_bits=3, lane_bits=3, count_bits=4)
    dut = WinnerTree(layout, count=lanes)
    rng = np.random.default_rng(seed)
    trials = [(rng.random(lanes) < rng.choice([0.0, 0.3, 1.0]),
               rng.integers(-2**(MARGIN_BITS - 1), 2**(MARGIN_BITS - 1), lanes))
              for _ in range(300)]
    got = []

    async def bench(ctx):
        for valid, margin in trials:
            for b in range(lanes):
                ctx.set(dut.i_cands[b], {"valid": int(valid[b]), "margin": int(margin[b]),
                                         "k": 5, "lane": b, "count": b})
            best = ctx.get(dut.o_best)
            got.append(int(best.lane) if best.valid else None)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    want = []
    for valid, margin in trials:
        spikes = hard_wta(valid, margin)
        want.append(int(np.flatnonzero(spikes)[0]) if spikes.any() else None)
    assert got == want
    assert any(w is not None for w in want) and None in want


def test_count_must_be_positive():
    layout = candidate_layout(margin_bits=4, k_bits=1, lane_bits=1, count_bits=1)
    with pytest.raises(ValueError, match="Candidate count must be a positive integer, not 0"):
        WinnerTree(layout, count=0)
