"""The SoC's spike buffer in the Amaranth simulator against the wire format the host decodes
(``struct`` ``"<HHB"``, as :mod:`snnhw.host.framed` reads READ_SPIKES), compared with ``==``:
seeded random spikes, a buffer that fills up, and a clear between runs."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from amaranth import unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from snnhw.gateware.blocks.spike_buffer import SpikeBuffer
from snnhw.protocol import SPIKE_BYTES

LAYOUT = data.StructLayout({"neuron": unsigned(7), "timestep": unsigned(9),
                            "attempt": unsigned(4)})


def run(dut: SpikeBuffer, runs: list[list[tuple[int, int, int]]], rng) -> list[dict]:
    """Each run's spikes into ``dut`` (random gaps), then its count, total and stored words."""
    seen = []

    async def bench(ctx):
        for spikes in runs:
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for neuron, t, attempt in spikes:
                ctx.set(dut.i_spike.payload, {"neuron": neuron, "timestep": t,
                                              "attempt": attempt})
                ctx.set(dut.i_spike.valid, 1)
                await ctx.tick()
                ctx.set(dut.i_spike.valid, 0)
                for _ in range(int(rng.integers(0, 3))):  # a gap
                    await ctx.tick()
            count, total = ctx.get(dut.count), ctx.get(dut.total)
            words = []
            for a in range(count):
                ctx.set(dut.r_addr, a)
                await ctx.tick()
                words.append(ctx.get(dut.r_data).to_bytes(SPIKE_BYTES, "little"))
            seen.append({"count": count, "total": total, "words": words})

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return seen


CASES = [(8, 5), (8, 8), (8, 20), (1, 3), (32, 31)]  # (depth, spikes in the first run)


@pytest.mark.parametrize("depth,n,seed", [(d, n, 100 * d + n) for d, n in CASES],
                         ids=[f"depth{d}-{n}spikes-seed{100 * d + n}" for d, n in CASES])
def test_keeps_the_first_spikes_in_wire_format(depth, n, seed):
    rng = np.random.default_rng(seed)
    runs = [[(int(rng.integers(0, 100)), int(rng.integers(0, 512)), int(rng.integers(0, 16)))
             for _ in range(k)] for k in (n, n // 2)]
    dut = SpikeBuffer(spike_layout=LAYOUT, depth=depth, max_total=64)
    got = run(dut, runs, rng)
    want = [{"count": min(len(s), depth), "total": len(s),
             "words": [struct.pack("<HHB", *x) for x in s[:depth]]} for s in runs]
    assert got == want


@pytest.mark.parametrize("kwargs,error,match", [
    ({"depth": 0, "max_total": 1}, ValueError, r"^Depth must be a positive integer, not 0$"),
    ({"depth": 4, "max_total": -1}, ValueError,
     r"^Maximum total must be a non-negative integer, not -1$"),
], ids=["depth0", "total-1"])
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        SpikeBuffer(spike_layout=LAYOUT, **kwargs)
