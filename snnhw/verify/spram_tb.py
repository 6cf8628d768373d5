"""cocotb bench of SPRAMStore built on the real primitive (``SB_SPRAM256KA``, yosys' iCE40
simulation model): random reads and writes each ``clk`` cycle, the read data compared with ``==``
against a memory with a read port and a write port (non-transparent), as the learning core
sees its block-RAM weights. Run by ``sim/test_spram.py``."""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer


@cocotb.test()
async def spram_store_equals_a_memory(dut):
    width, depth = int(os.environ["SPRAM_WIDTH"]), int(os.environ["SPRAM_DEPTH"])
    cycles = int(os.environ["SPRAM_CYCLES"])
    rng = random.Random(int(os.environ["SPRAM_SEED"]))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    cocotb.start_soon(Clock(dut.fast_clk, 5, unit="ns").start())  # rising edges on clk's
    dut.rst.value = 1
    dut.wr_en.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    mem = {}
    # write every word first (SPRAM has no initial contents), then mix reads and writes;
    # a few hot addresses make reads of the pending write and of this cycle's write common
    plan = [(a, a, True) for a in range(depth)]
    hot = [rng.randrange(depth) for _ in range(4)]
    for _ in range(cycles):
        ra = rng.choice(hot) if rng.random() < 0.5 else rng.randrange(depth)
        wa = ra if rng.random() < 0.3 else (rng.choice(hot) if rng.random() < 0.5
                                            else rng.randrange(depth))
        plan.append((ra, wa, rng.random() < 0.6))
    expected, compared, errors = None, 0, 0
    for ra, wa, we in plan:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if expected is not None:  # the previous cycle's read
            got = int(dut.rd_data.value)
            compared += 1
            if got != expected[1]:
                errors += 1
                if errors <= 5:
                    dut._log.error("read of %d: %d, expected %d", expected[0], got, expected[1])
        await Timer(1, unit="ns")  # as the core drives its ports: just after the edge
        data = rng.randrange(2**width)
        dut.rd_addr.value, dut.wr_addr.value = ra, wa
        dut.wr_data.value, dut.wr_en.value = data, int(we)
        expected = (ra, mem[ra]) if ra in mem else None  # the memory before this write
        if we:
            mem[wa] = data
    dut._log.info("%d reads compared, %d wrong", compared, errors)
    assert compared >= cycles - 1  # every read after the fill
    assert errors == 0
