"""8N1 UART receiver and transmitter for the host link (docs/host-protocol.md)."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTReceiver", "UARTTransmitter", "baud_divisor"]

MAX_BAUD_ERROR = 0.02


def baud_divisor(clk_hz: int, baud: int) -> int:
    """Clock cycles per bit, ``round(clk_hz / baud)``; a ``ValueError`` names the error if the
    baud rate it gives is more than 2 % off."""
    if not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"Baud rate must be a positive integer, not {baud!r}")
    if not isinstance(clk_hz, int) or clk_hz <= 0:
        raise ValueError(f"Clock frequency must be a positive integer, not {clk_hz!r}")
    div = round(clk_hz / baud)
    if div < 4:
        raise ValueError(f"a {clk_hz} Hz clock is too slow for {baud} baud: it needs at least "
                         "4 cycles per bit")
    error = abs(clk_hz / div - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"{baud} baud from a {clk_hz} Hz clock is {error:.1%} off (more than "
                         f"{MAX_BAUD_ERROR:.0%}); choose another baud rate or clock")
    return div


class UARTReceiver(wiring.Component):
    """Bytes from the ``rx`` line. A byte whose stop bit is low (framing error) is dropped.

    ``o_byte`` has no back-pressure: a byte is valid for one cycle and the consumer takes it
    then or never. The line is sampled in the middle of each bit, counted from the falling edge
    of the start bit, through a two-flip-flop synchroniser.
    """

    def __init__(self, *, divisor: int) -> None:
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"Divisor must be an integer of at least 4, not {divisor!r}")
        self._divisor = divisor
        super().__init__({"rx": In(1, init=1), "o_byte": Out(stream.Signature(unsigned(8)))})

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        D = self._divisor
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(D + D // 2 + 1))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.sync += self.o_byte.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):  # start bit: sample data bit 0 1.5 bit times from now
                    m.d.sync += [timer.eq(D + D // 2 - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq((shift >> 1) | (line << 7)), timer.eq(D - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(line):
                        m.d.sync += [self.o_byte.valid.eq(1), self.o_byte.payload.eq(shift)]
                    m.next = "IDLE"  # a low stop bit: wait for the line to idle again
        return m


class UARTTransmitter(wiring.Component):
    """Bytes taken from ``i_byte`` onto the ``tx`` line, 8N1."""

    def __init__(self, *, divisor: int) -> None:
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"Divisor must be an integer of at least 4, not {divisor!r}")
        self._divisor = divisor
        super().__init__({"i_byte": In(stream.Signature(unsigned(8))), "tx": Out(1, init=1)})

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        D = self._divisor
        timer = Signal(range(D))
        bits = Signal(10, init=0x3FF)  # stop, data (LSB first), start: shifted out from bit 0
        left = Signal(range(11))
        m.d.comb += [self.i_byte.ready.eq(left == 0), self.tx.eq(bits[0])]
        with m.If(self.i_byte.valid & self.i_byte.ready):
            m.d.sync += [bits.eq((1 << 9) | (self.i_byte.payload << 1)), left.eq(10),
                         timer.eq(D - 1)]
        with m.Elif(left != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [bits.eq((bits >> 1) | (1 << 9)), left.eq(left - 1),
                             timer.eq(D - 1)]
        return m
