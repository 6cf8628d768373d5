"""The pruning blocks (:mod:`snnhw.gateware.blocks.pruning`) simulated against
``snnhw.golden.blocks.pruning`` with seeded random inputs, compared with ==: the cut
(``prune_column``), and a one-lane row walk driven as the core drives it, word by word, which
visits exactly the alive neurons in ascending order in ``row_cycles`` cycles."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.blocks.pruning import PruneCut, WordWalk
from snnhw.golden.blocks.pruning import prune_column, row_cycles


def make_layer(n_out, chunk_bits):
    return resolve_layer(parse_config({
        "input": {"size": 8},
        "neurons": {"count": n_out, "threshold": 100, "inhibition": "wta"},
        "synapses": {"weight_bits": 6, "signed": False},
        "stdp": {"enabled": True},
        "pruning": {"enabled": True, "threshold": 10, "chunk_bits": chunk_bits},
        "hardware": {"lanes": 1},
    }))


@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
def test_cut_is_prune_column(seed):
    rng = np.random.default_rng(seed)
    n = 500
    new = rng.integers(0, 64, n)
    alive = rng.random(n) < 0.7
    threshold = rng.integers(0, 64, n)
    threshold[:50] = 63
    dut = PruneCut(weight_bits=6)
    got = []

    async def bench(ctx):
        for i in range(n):
            ctx.set(dut.i_alive, int(alive[i]))
            ctx.set(dut.i_w, int(new[i]))
            ctx.set(dut.i_threshold, int(threshold[i]))
            got.append(ctx.get(dut.o_cut))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    want = []
    for i in range(n):
        a, w = alive[i:i + 1].copy(), new[i:i + 1].copy()
        prune_column(int(threshold[i]), w, a)
        want.append(int(alive[i] and not a[0]))
        assert w[0] == (0 if got[i] else new[i])
    assert got == want and 0 < sum(want) < n


@pytest.mark.parametrize("chunk_bits", [1, 2, 4, 16], ids=lambda c: f"c{c}")
@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
def test_walk_takes_row_cycles(chunk_bits, seed):
    n_out = 37
    layer = make_layer(n_out, chunk_bits)
    rng = np.random.default_rng(seed)
    rows = [rng.random(n_out) < p for p in (0.0, 0.1, 0.5, 0.9, 1.0) for _ in range(4)]
    dut = WordWalk(chunk_bits=chunk_bits)
    walks = []

    async def bench(ctx):
        # the core's registers for one lane: the word index, what is left of it, fresh
        for row in rows:
            bits = np.zeros(-(-n_out // chunk_bits) * chunk_bits, dtype=int)
            bits[:n_out] = row
            words = [int(sum(int(b) << t for t, b in enumerate(bits[c:c + chunk_bits])))
                     for c in range(0, len(bits), chunk_bits)]
            c, rem, single, fresh, cycles, visited = 0, 0, 0, 1, 0, []
            while True:
                ctx.set(dut.i_fresh, fresh)
                ctx.set(dut.i_word, words[c])
                ctx.set(dut.i_rem, rem)
                ctx.set(dut.i_rem_single, single)
                cycles += 1
                if ctx.get(dut.o_any):
                    visited.append(c * chunk_bits + ctx.get(dut.o_low))
                if ctx.get(dut.o_last):
                    if c == len(words) - 1:
                        break
                    c, fresh = c + 1, 1
                else:
                    rem, single, fresh = ctx.get(dut.o_rest), ctx.get(dut.o_rest_single), 0
            walks.append((cycles, visited))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for row, (cycles, visited) in zip(rows, walks, strict=True):
        assert visited == np.flatnonzero(row).tolist()
        assert cycles == row_cycles(layer, row)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="Chunk width must be a positive integer, not 0"):
        WordWalk(chunk_bits=0)
    with pytest.raises(ValueError, match="Weight width must be a positive integer, not 0"):
        PruneCut(weight_bits=0)
