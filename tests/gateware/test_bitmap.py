"""The conv core's fast-clearing bitmap against a set of bits: random reads, sets and
clears, compared with ==, and the clear's length."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.gateware.blocks.bitmap import BitMap
from snnhw.ir_conv import clear_cycles


@pytest.mark.parametrize(("entries", "width", "seed"), [(1, 1, 0), (31, 2, 1), (100, 1, 2),
                                                         (200, 3, 3)],
                         ids=lambda v: str(v))
def test_bitmap_reads_sets_and_clears_like_a_set(entries, width, seed):
    rng = np.random.default_rng(seed)
    bm = BitMap(entries=entries, width=width)
    model = np.zeros(entries, dtype=np.int64)
    got, want, sweeps = [], [], []

    async def bench(ctx):
        nonlocal model
        for _ in range(400):
            if rng.random() < 0.02:  # clear, and time the sweep
                ctx.set(bm.clear, 1)
                await ctx.tick()
                ctx.set(bm.clear, 0)
                n = 0
                while ctx.get(bm.busy):
                    n += 1
                    await ctx.tick()
                sweeps.append(n)
                model[:] = 0
                continue
            ra, sa = int(rng.integers(0, entries)), int(rng.integers(0, entries))
            bits, s_en = int(rng.integers(0, 1 << width)), bool(rng.integers(0, 2))
            ctx.set(bm.r_addr, ra)
            ctx.set(bm.r_en, 1)
            ctx.set(bm.s_addr, sa)
            ctx.set(bm.s_bits, bits)
            ctx.set(bm.s_en, s_en)
            await ctx.tick()
            if s_en:
                model[sa] |= bits
            want.append(int(model[ra]))  # the read sees the set of its own cycle
            ctx.set(bm.s_en, 0)
            ctx.set(bm.r_en, 0)
            got.append(ctx.get(bm.r_data))

    sim = Simulator(bm)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == want
    assert sweeps and all(n == clear_cycles(entries) for n in sweeps)
