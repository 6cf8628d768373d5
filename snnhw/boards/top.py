"""Board tops: the board's oscillator through the FPGA's PLL into the ``sync`` domain, a reset
held until the PLL locks, the design's UART on the board's USB-UART pins and its ``busy`` on an
LED.

The design is any component in the ``sync`` domain with ``rx: In(1)``, ``tx: Out(1)`` and
``busy: Out(1)`` (the SoC, :class:`snnhw.gateware.soc.SoC`), built for the PLL's achieved
frequency, :attr:`BoardTop.sync_hz`. A design whose ``synapse_ram`` is ``"spram"`` (the
iCE40UP5K's SoC) also uses the ``fast`` domain, twice ``sync`` with aligned rising edges: the
iCE40 PLL makes ``fast`` on one output and its half, ``sync``, on the other.
"""

from __future__ import annotations

from amaranth import ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from . import Board
from .pll import ECP5PLL, ICE40PLL

__all__ = ["BoardTop"]


class BoardTop(Elaboratable):
    """The top of one board's bitstream.

    Parameters
    ----------
    board : Board
        The board (its family chooses the PLL primitive; its ``busy_led`` the LED).
    design : wiring.Component
        In the ``sync`` domain, with ``rx``, ``tx`` and ``busy`` members (and ``fast`` if its
        ``synapse_ram`` is ``"spram"``).
    pll : ICE40PLL or ECP5PLL or None
        The PLL's settings, of the board's family; ``None`` clocks ``sync`` straight from the
        oscillator (then reset is released two cycles after configuration). With ``fast``, an
        :class:`ICE40PLL` for the ``fast`` frequency (``choose_pll(..., double=True)``).
    """

    def __init__(self, board: Board, design, pll: ICE40PLL | ECP5PLL | None) -> None:
        self._MustUse__silence = True  # until the checks pass: a refused top is never used
        if not isinstance(board, Board):
            raise TypeError(f"Board must be a Board, not {board!r}")
        want = {"ice40": ICE40PLL, "ecp5": ECP5PLL}[board.family]
        if pll is not None and not isinstance(pll, want):
            raise TypeError(f"PLL of {board.title} must be a {want.__name__} or None, not "
                            f"{pll!r}")
        for name in ("rx", "tx", "busy"):
            if not hasattr(design, name):
                raise TypeError(f"Design must have rx, tx and busy members, not {design!r}")
        self._board, self._design, self._pll = board, design, pll
        if self.double_clock and not isinstance(pll, ICE40PLL):
            raise ValueError("A design with synapse memory in SPRAM needs the iCE40 PLL to make "
                             "its two clocks")
        self._MustUse__silence = False

    @property
    def board(self) -> Board:
        return self._board

    @property
    def design(self):
        return self._design

    @property
    def pll(self) -> ICE40PLL | ECP5PLL | None:
        return self._pll

    @property
    def sync_hz(self) -> int | None:
        """The ``sync`` clock the PLL makes (half its output with :attr:`double_clock`);
        ``None`` without a PLL."""
        if self._pll is None:
            return None
        return self._pll.half_hz if self.double_clock else self._pll.clk_hz

    @property
    def double_clock(self) -> bool:
        """The design also needs ``fast``, twice ``sync`` with aligned edges (synapse memory in
        iCE40 SPRAM, :class:`snnhw.gateware.spram.SPRAMStore`): the PLL makes ``fast`` and its
        half, ``sync``."""
        return getattr(self._design, "synapse_ram", "block") == "spram"

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd_sync = ClockDomain("sync")
        locked = Signal()
        pll = self._pll
        osc_hz = int(platform.default_clk_frequency)
        if pll is not None and pll.f_in_hz != osc_hz:
            raise ValueError(f"PLL settings are for a {pll.f_in_hz} Hz input, the board's "
                             f"oscillator runs at {osc_hz} Hz")

        if pll is None:
            m.submodules.osc = osc = io.Buffer("i", platform.request(platform.default_clk, 0,
                                                                     dir="-"))
            m.d.comb += [cd_sync.clk.eq(osc.i), locked.eq(1)]
        elif isinstance(pll, ICE40PLL) and self.double_clock:
            # Both outputs of one PLL: A (GENCLK) the fast domain, B (GENCLK_HALF) its half,
            # sync, rising on every other edge of A.
            m.domains.fast = cd_fast = ClockDomain("fast", reset_less=True)
            pad = platform.request(platform.default_clk, 0, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_2F_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT_PORTA="GENCLK",
                p_PLLOUT_SELECT_PORTB="GENCLK_HALF",
                p_DIVR=pll.divr, p_DIVF=pll.divf, p_DIVQ=pll.divq,
                p_FILTER_RANGE=pll.filter_range,
                i_PACKAGEPIN=pad.io, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBALA=ClockSignal("fast"), o_PLLOUTGLOBALB=ClockSignal("sync"),
                o_LOCK=locked)
            platform.add_clock_constraint(cd_fast.clk, pll.clk_hz)
        elif isinstance(pll, ICE40PLL):
            # The iCEBreaker's 12 MHz oscillator drives the PLL's own pad (pin 35,
            # IOT_46b_G0): SB_PLL40_PAD takes it straight from the package pin, with no global
            # buffer in between (SB_PLL40_CORE would need the clock on a fabric net first).
            pad = platform.request(platform.default_clk, 0, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                p_DIVR=pll.divr, p_DIVF=pll.divf, p_DIVQ=pll.divq,
                p_FILTER_RANGE=pll.filter_range,
                i_PACKAGEPIN=pad.io, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=ClockSignal("sync"), o_LOCK=locked)
        else:
            # CLKOP feeds back to CLKFB (ecppll's FEEDBK_PATH "CLKOP"); the attributes tell
            # nextpnr the frequencies for its timing analysis.
            m.submodules.osc = osc = io.Buffer("i", platform.request(platform.default_clk, 0,
                                                                     dir="-"))
            clkop = Signal()
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{pll.f_in_hz / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{float(pll.f_out) / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKOP_ENABLE="ENABLED", p_CLKI_DIV=pll.clki_div, p_CLKFB_DIV=pll.clkfb_div,
                p_CLKOP_DIV=pll.clkop_div, p_CLKOP_CPHASE=pll.clkop_cphase, p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP",
                i_CLKI=osc.i, i_CLKFB=clkop, i_RST=Const(0), i_STDBY=Const(0),
                i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
                i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
                i_ENCLKOP=Const(0),
                o_CLKOP=clkop, o_LOCK=locked)
            m.d.comb += cd_sync.clk.eq(clkop)
        if pll is not None:
            platform.add_clock_constraint(cd_sync.clk, self.sync_hz)

        # Reset is asserted while the PLL is unlocked and released synchronously to the new
        # clock, so no flip-flop leaves reset on a different edge than its neighbours.
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")

        m.submodules.design = design = self._design
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        resource, number, sub = self._board.busy_led
        led = platform.request(resource, number, dir="-")
        m.submodules.busy_led = busy = io.Buffer("o", getattr(led, sub) if sub else led)
        m.d.comb += [design.rx.eq(rx.i), tx.o.eq(design.tx), busy.o.eq(design.busy)]
        return m
