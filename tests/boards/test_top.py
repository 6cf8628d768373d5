"""Board tops, elaborated into each board's build plan (no tools run): the PLL primitive with
the calculator's settings, the clock constraint at the achieved frequency, the UART pins and
the LED. A UART loop-back stands in for the SoC (same interface, elaborates in no time)."""

from __future__ import annotations

import re

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from snnhw.boards import BOARDS, board_constraints
from snnhw.boards.top import BoardTop
from snnhw.build import choose_pll


class LoopBack(wiring.Component):
    """Fixture: echoes rx on tx, never busy."""

    def __init__(self) -> None:
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.tx.eq(self.rx)
        return m


def plan_of(name: str, target_mhz: float | None = None):
    board = BOARDS[name]
    platform = board.platform()
    osc = int(platform.default_clk_frequency)
    mhz = board_constraints(board).target_mhz if target_mhz is None else target_mhz
    pll = choose_pll(board, osc, round(mhz * 1e6))
    return pll, platform.prepare(BoardTop(board, LoopBack(), pll), name="top")


def test_icebreaker_pll_pad():
    pll, plan = plan_of("icebreaker", 18)
    il, pcf = plan.files["top.il"], plan.files["top.pcf"]
    assert "cell \\SB_PLL40_PAD" in il
    for param, value in (("DIVR", 0), ("DIVF", pll.divf), ("DIVQ", pll.divq),
                         ("FILTER_RANGE", pll.filter_range)):
        assert re.search(rf"parameter \\{param} {value}\n", il)
    assert pll.clk_hz == 18_000_000
    assert re.search(r"set_frequency \S+ 18\.0\n", pcf)  # the PLL output
    assert "set_io uart_0__rx__io 6" in pcf and "set_io uart_0__tx__io 9" in pcf
    assert "set_io led_1__io 37" in pcf  # the green LED shows busy


@pytest.mark.parametrize("name", ["ulx3s-85f", "ecpix5-85f"])
def test_ecp5_ehxplll(name):
    pll, plan = plan_of(name, 60)
    il, lpf = plan.files["top.il"], plan.files["top.lpf"]
    assert "cell \\EHXPLLL" in il
    for param, value in (("CLKI_DIV", pll.clki_div), ("CLKFB_DIV", pll.clkfb_div),
                         ("CLKOP_DIV", pll.clkop_div), ("CLKOP_CPHASE", pll.clkop_cphase)):
        assert re.search(rf"parameter \\{param} {value}\n", il)
    assert re.search(r'FREQUENCY NET "\S+" 60000000(\.0)? HZ;', lpf)
    assert 'LOCATE COMP "uart_0__rx' in lpf


class SpramLoopBack(LoopBack):
    """Fixture: a design with its synapse memory in SPRAM, which needs the ``fast`` domain."""

    synapse_ram = "spram"

    def elaborate(self, platform):
        m = super().elaborate(platform)
        echo = Signal()
        m.d.fast += echo.eq(self.rx)
        return m


def test_icebreaker_spram_clocks():
    board = BOARDS["icebreaker"]
    platform = board.platform()
    pll = choose_pll(board, 12_000_000, 18_000_000, double=True)
    top = BoardTop(board, SpramLoopBack(), pll)
    assert top.double_clock and (pll.clk_hz, top.sync_hz) == (36_000_000, 18_000_000)
    plan = platform.prepare(top, name="top")
    il, pcf = plan.files["top.il"], plan.files["top.pcf"]
    assert "cell \\SB_PLL40_2F_PAD" in il
    assert 'parameter \\PLLOUT_SELECT_PORTA "GENCLK"' in il
    assert 'parameter \\PLLOUT_SELECT_PORTB "GENCLK_HALF"' in il
    assert re.search(r"set_frequency \S+ 36\.0\n", pcf)  # the SPRAM clock, GENCLK
    assert re.search(r"set_frequency \S+ 18\.0\n", pcf)  # sync, GENCLK_HALF


def test_spram_needs_the_ice40_pll():
    board = BOARDS["ulx3s-85f"]
    pll = choose_pll(board, 25_000_000, 50_000_000)
    design = SpramLoopBack()
    design._MustUse__silence = True  # refused, never elaborated
    with pytest.raises(ValueError, match=r"^A design with synapse memory in SPRAM needs the "
                                         r"iCE40 PLL to make its two clocks$"):
        BoardTop(board, design, pll)


def test_oscillator_without_pll():
    pll, plan = plan_of("icebreaker", 12)
    assert pll is None
    assert "SB_PLL40" not in plan.files["top.il"]


def test_design_interface_checked():
    with pytest.raises(TypeError, match=r"^Design must have rx, tx and busy members"):
        BoardTop(BOARDS["icebreaker"], object(), None)
