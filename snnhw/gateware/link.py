"""The framed host link that every SoC shares: UART receiver and transmitter, the request's
registers, its reception into the frame buffer with the CRC, timeouts and error replies, and
the reply's framing (docs/host-protocol.md, :mod:`snnhw.protocol`).

A SoC (:class:`snnhw.gateware.soc.SoC`, :class:`snnhw.gateware.soc_conv.ConvSoC`) subclasses
:class:`FramedLink`: it makes the link's parts with :meth:`FramedLink._link` and adds its own
checks, actions and reply bodies as states of the same FSM. Its receive states go to
``PRECHECK`` once a request's CRC is right; its reply states start at ``T_SYNC``.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

from amaranth import Cat, Const, Module, Signal, unsigned
from amaranth.lib import memory, wiring

from ..protocol import READ_HEADER, SYNC_REPLY, SYNC_REQUEST, Status
from .blocks.crc import CRC_INIT, CRC16Update
from .uart import UARTReceiver, UARTTransmitter, baud_divisor

__all__ = ["FramedLink", "le_bytes"]


def le_bytes(value, n: int) -> list:
    """The ``n`` little-endian bytes of a value (zero-extended)."""
    wide = Cat(value, Const(0, max(0, 8 * n - len(value))))
    return [wide[8 * k:8 * k + 8] for k in range(n)]


class FramedLink(wiring.Component):
    """The link's common part. ``clk_hz`` is the ``sync`` clock (INFO reports it), ``baud``
    the UART's rate (``round(clk_hz / baud)`` cycles per bit, at most 2 % off), and a request
    whose next byte takes longer than ``timeout_cycles`` is dropped (``TIMEOUT``)."""

    def __init__(self, signature, *, clk_hz: int, baud: int, timeout_cycles: int) -> None:
        if not isinstance(timeout_cycles, int) or timeout_cycles < 1:
            raise ValueError(f"Timeout must be a positive number of cycles, not "
                             f"{timeout_cycles!r}")
        self._divisor = baud_divisor(clk_hz, baud)
        self._clk_hz = clk_hz
        self._baud = baud
        self._timeout = timeout_cycles
        super().__init__(signature)

    @property
    def clk_hz(self) -> int:
        return self._clk_hz

    @property
    def baud(self) -> int:
        return self._baud

    @property
    def divisor(self) -> int:
        return self._divisor

    def _link(self, m: Module, max_payload: int) -> SimpleNamespace:
        """The UART, the CRC unit, the frame buffer of ``max_payload`` bytes and the
        request's registers; the namespace the link's states share."""
        m.submodules.uart_rx = urx = UARTReceiver(divisor=self._divisor)
        m.submodules.uart_tx = utx = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        m.submodules.frame = frame = memory.Memory(shape=unsigned(8), depth=max_payload,
                                                   init=[])
        m.submodules.crc = crc_unit = CRC16Update()
        r = SimpleNamespace(utx=utx, crc_unit=crc_unit, MAXP=max_payload,
                            rx_valid=urx.o_byte.valid, rx_byte=urx.o_byte.payload)
        r.fb_w, r.fb_r = frame.write_port(), frame.read_port()
        r.cmd = Signal(8, name="cmd")
        r.length = Signal(16, name="length")
        r.idx = Signal(16, name="idx")  # payload bytes received
        r.crc = Signal(16, init=CRC_INIT, name="crc")
        r.crc_lo = Signal(8, name="crc_lo")
        # the first payload bytes: the command's arguments
        r.head = Signal(8 * READ_HEADER, name="head")
        # cycles since the request's last byte
        r.quiet = Signal(range(self._timeout + 1), name="quiet")
        r.status = Signal(8, name="status")
        r.rlen = Signal(16, name="rlen")  # reply payload bytes
        m.d.comb += r.fb_w.data.eq(r.rx_byte)
        return r

    def _transmitter(self, m: Module, r: SimpleNamespace) -> None:
        """The reply byte to the UART, and the CRC's byte: one CRC step per byte, received or
        sent (one XOR tree behind a byte mux), over everything but sync and CRC."""
        r.tx_byte = Signal(8, name="tx_byte")
        r.tx_crc = Signal(name="tx_crc")  # the byte counts in the CRC
        m.d.comb += r.utx.i_byte.payload.eq(r.tx_byte)
        r.sent = Signal(name="sent")
        m.d.comb += r.sent.eq(r.utx.i_byte.valid & r.utx.i_byte.ready)
        r.crc_step = Signal(name="crc_step")
        r.crc_byte = Signal(8, name="crc_byte")
        m.d.comb += [r.crc_unit.crc.eq(r.crc), r.crc_unit.byte.eq(r.crc_byte)]
        with m.If(r.sent & r.tx_crc):
            m.d.comb += [r.crc_step.eq(1), r.crc_byte.eq(r.tx_byte)]
        with m.If(r.crc_step):
            m.d.sync += r.crc.eq(r.crc_unit.updated)


    def _error(self, m: Module, r: SimpleNamespace, code: Status) -> None:
        """Answer with ``code`` and an empty payload."""
        m.d.sync += [r.status.eq(code), r.rlen.eq(0)]
        m.next = "T_SYNC"


    def _timeout_or_wait(self, m: Module, r: SimpleNamespace) -> None:
        """The ``Elif`` and ``Else`` of a receive state after its ``If`` on a byte."""
        with m.Elif(r.quiet == self._timeout):
            self._error(m, r, Status.TIMEOUT)
        with m.Else():
            m.d.sync += r.quiet.eq(r.quiet + 1)


    def _in_frame(self, m: Module, r: SimpleNamespace, next_state: str | None, *actions):
        """A receive state: on a byte, update the CRC and do ``actions``; time out."""
        with m.If(r.rx_valid):
            m.d.comb += [r.crc_step.eq(1), r.crc_byte.eq(r.rx_byte)]
            m.d.sync += [r.quiet.eq(0), *actions]
            if next_state:
                m.next = next_state
        self._timeout_or_wait(m, r)


    def _send(self, m: Module, r: SimpleNamespace, byte, next_state: str, *,
              in_crc: bool = True, actions=()) -> None:
        """A reply state: offer ``byte``; once sent, do ``actions`` and go to ``next_state``."""
        m.d.comb += [r.utx.i_byte.valid.eq(1), r.tx_byte.eq(byte), r.tx_crc.eq(in_crc)]
        with m.If(r.sent):
            m.d.sync += list(actions)
            m.next = next_state


    def _receive_states(self, m: Module, r: SimpleNamespace) -> None:
        """SYNC to CRC1: a request into the frame buffer and the registers, its CRC checked."""
        rx_valid, rx_byte, length, idx = r.rx_valid, r.rx_byte, r.length, r.idx
        with m.State("SYNC"):
            with m.If(rx_valid & (rx_byte == SYNC_REQUEST)):
                m.d.sync += [r.crc.eq(CRC_INIT), idx.eq(0), r.head.eq(0), r.quiet.eq(0)]
                m.next = "CMD"
        with m.State("CMD"):
            self._in_frame(m, r, "LEN0", r.cmd.eq(rx_byte))
        with m.State("LEN0"):
            self._in_frame(m, r, "LEN1", length[:8].eq(rx_byte))
        with m.State("LEN1"):
            self._in_frame(m, r, None, length[8:].eq(rx_byte))
            with m.If(rx_valid):
                with m.If(Cat(length[:8], rx_byte) == 0):
                    m.next = "CRC0"
                with m.Else():
                    m.next = "PAYLOAD"
        with m.State("PAYLOAD"):
            m.d.comb += [r.fb_w.addr.eq(idx), r.fb_w.en.eq(rx_valid & (idx < r.MAXP))]
            self._in_frame(m, r, None, idx.eq(idx + 1))
            with m.If(rx_valid):
                with m.Switch(idx):
                    for k in range(READ_HEADER):
                        with m.Case(k):
                            m.d.sync += r.head[8 * k:8 * k + 8].eq(rx_byte)
                with m.If(idx == length - 1):
                    m.next = "CRC0"
        with m.State("CRC0"):
            with m.If(rx_valid):
                m.d.sync += [r.crc_lo.eq(rx_byte), r.quiet.eq(0)]
                m.next = "CRC1"
            self._timeout_or_wait(m, r)
        with m.State("CRC1"):
            with m.If(rx_valid):
                with m.If(Cat(r.crc_lo, rx_byte) != r.crc):
                    self._error(m, r, Status.BAD_CRC)
                with m.Else():
                    m.next = "PRECHECK"
            self._timeout_or_wait(m, r)

    def _reply_frame(self, m: Module, r: SimpleNamespace) -> None:
        """The reply's frame around its body: T_SYNC to T_LEN0 (status and the low length
        byte; the SoC's T_LEN1 sends the high byte and goes to its body, or to T_CRC0 when
        ``rlen`` is 0), then T_CRC0 and T_CRC1, back to SYNC."""
        send = partial(self._send, m, r)
        with m.State("T_SYNC"):
            send(SYNC_REPLY, "T_STATUS", in_crc=False, actions=[r.crc.eq(CRC_INIT)])
        with m.State("T_STATUS"):
            send(r.status, "T_LEN0")
        with m.State("T_LEN0"):
            send(r.rlen[:8], "T_LEN1")
        with m.State("T_CRC0"):
            send(r.crc[:8], "T_CRC1", in_crc=False)
        with m.State("T_CRC1"):
            send(r.crc[8:], "SYNC", in_crc=False)
