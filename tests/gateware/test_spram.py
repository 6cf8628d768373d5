"""SPRAMStore, double-pumped single-port RAM, against amaranth.lib.memory.Memory with a read
and a write port, cycle by cycle under random reads and writes (hits on the pending write
included), compared with ==."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import ClockDomain, Module
from amaranth.lib import memory
from amaranth.sim import Simulator

from snnhw.gateware.spram import SPRAMStore, spram_layout

PERIOD = 1e-6  # sync; fast runs at twice the rate, its rising edges on sync's


def run_against_memory(width, depth, cycles, seed, late=False, forward=True,
                       keep_contract=True):
    """With ``late``, the store's late read address is used in about half the cycles (the
    reference reads whichever address the store should). Without ``forward``, no read is of
    the word the previous cycle wrote (the store's contract then), unless not
    ``keep_contract``."""
    m = Module()
    m.domains.sync = ClockDomain("sync")
    m.domains.fast = ClockDomain("fast", reset_less=True)
    m.submodules.dut = dut = SPRAMStore(width=width, depth=depth, late=late,
                                        forward=forward)
    m.submodules.ref = ref = memory.Memory(shape=width, depth=depth, init=[])
    rp, wp = ref.read_port(), ref.write_port()
    sim = Simulator(m)
    sim.add_clock(PERIOD)
    sim.add_clock(PERIOD / 2, phase=PERIOD, domain="fast")
    rng = np.random.default_rng(seed)
    mismatches = []

    async def bench(ctx):
        # the reference starts all zero, and so does the model of each SPRAM block
        hot = rng.integers(0, depth, 4)  # a few addresses hit again and again
        prev_valid = False
        last_write = None  # the address the previous cycle wrote
        for cycle in range(cycles):
            def addr():
                return int(hot[rng.integers(4)] if rng.random() < 0.5 else rng.integers(depth))
            ra, wa = addr(), addr()
            if rng.random() < 0.3:
                wa = ra  # the read and this cycle's write share the address
            data, en = int(rng.integers(2**width)), int(rng.random() < 0.6)
            ctx.set(dut.rd_addr, ra)
            if late:
                la, use = addr(), int(rng.random() < 0.5)
                if rng.random() < 0.3:
                    wa = la  # the late read and this cycle's write share the address
                ctx.set(dut.rd_late, la)
                ctx.set(dut.rd_late_en, use)
                ra = la if use else ra
            if not forward and keep_contract and ra == last_write:
                ra = (ra + 1) % depth
                ctx.set(dut.rd_late if late and use else dut.rd_addr, ra)
            ctx.set(rp.addr, ra)
            ctx.set(dut.wr_addr, wa)
            ctx.set(wp.addr, wa)
            ctx.set(dut.wr_data, data)
            ctx.set(wp.data, data)
            ctx.set(dut.wr_en, en)
            ctx.set(wp.en, en)
            last_write = wa if en else None
            await ctx.tick()
            if prev_valid or cycle > 0:
                got, want = ctx.get(dut.rd_data), ctx.get(rp.data)
                if got != want:
                    mismatches.append((cycle, ra, got, want))
            prev_valid = True

    sim.add_testbench(bench)
    sim.run()
    return mismatches


@pytest.mark.parametrize("width,depth", [(8, 300), (5, 97), (4, 64), (16, 50), (12, 40),
                                         (8, 40000)],
                         ids=["w8", "w5-odd", "w4-quad", "w16", "w12", "w8-3blocks"])
def test_spram_store_equals_memory(width, depth):
    assert run_against_memory(width, depth, 600, seed=width * 1000 + depth) == []


@pytest.mark.parametrize("width,depth", [(16, 6272), (8, 300), (8, 40000)],
                         ids=["alive-bitmap", "w8", "w8-3blocks"])
def test_spram_store_late_address_equals_memory(width, depth):
    """The late read address (the learning core's row walk) reads as a read port would."""
    assert run_against_memory(width, depth, 600, seed=depth, late=True) == []


@pytest.mark.parametrize("late", [False, True], ids=["early", "late"])
def test_spram_store_without_forwarding_equals_memory(late):
    """The alive bitmap's store: no read of the word written the cycle before."""
    assert run_against_memory(16, 6272, 600, seed=7, late=late, forward=False) == []


def test_spram_store_without_forwarding_misses_the_pending_write():
    """The contract is needed: a read right after a write of its word sees the old word."""
    assert run_against_memory(8, 300, 600, seed=3, forward=False, keep_contract=False) != []


def test_spram_layout():
    assert spram_layout(8, 78400) == (8, 2, 3)  # 784 x 100 weights: three blocks
    assert spram_layout(16, 6272) == (16, 1, 1)  # its bitmap: 784 rows of 8 words
    assert spram_layout(4, 65536) == (4, 4, 1)
    assert spram_layout(12, 10) == (16, 1, 1)
    with pytest.raises(ValueError, match=r"^SPRAM word width must be 1 to 16 bits, not 17$"):
        spram_layout(17, 10)
