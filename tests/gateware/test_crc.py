"""The host link's CRC unit in the Amaranth simulator against :func:`snnhw.protocol.crc16_update`,
compared with ``==``: seeded random CRCs and bytes, and whole frames through a register."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from snnhw.gateware.blocks.crc import CRC_INIT, CRC16Update
from snnhw.protocol import crc16, crc16_update


@pytest.mark.parametrize("seed", [1, 2, 3], ids=lambda s: f"seed{s}")
def test_one_byte_is_crc16_update(seed):
    rng = np.random.default_rng(seed)
    cases = [(int(c), int(b)) for c, b in zip(rng.integers(0, 1 << 16, 300),
                                              rng.integers(0, 256, 300), strict=True)]
    cases += [(0, 0), (0xFFFF, 0xFF), (CRC_INIT, 0), (1, 0), (0, 1), (0x8000, 0x80)]
    dut = CRC16Update()
    got = []

    async def bench(ctx):
        for crc, byte in cases:
            ctx.set(dut.crc, crc)
            ctx.set(dut.byte, byte)
            got.append(ctx.get(dut.updated))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert got == [crc16_update(crc, byte) for crc, byte in cases]


@pytest.mark.parametrize("length", [0, 1, 7, 64], ids=lambda n: f"{n}bytes-seed{n}")
def test_a_frame_through_a_register_is_crc16(length):
    rng = np.random.default_rng(length)
    frame = bytes(rng.integers(0, 256, length, dtype=np.uint8))
    m = Module()
    m.submodules.crc = dut = CRC16Update()
    crc = Signal(16, init=CRC_INIT)
    byte = Signal(8)
    m.d.comb += [dut.crc.eq(crc), dut.byte.eq(byte)]
    m.d.sync += crc.eq(dut.updated)
    got = []

    async def bench(ctx):
        for b in frame:
            ctx.set(byte, b)
            await ctx.tick()
        got.append(ctx.get(crc))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == [crc16(frame)]
