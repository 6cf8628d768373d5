"""The SoC of a ``ttfs_conv`` network: its core (:class:`TtfsConvCore`) behind the framed UART
link (:class:`FramedLink`) of docs/host-protocol.md.

It knows four commands (:data:`snnhw.protocol_conv.CONV_COMMANDS`). WRITE_MEM and READ_MEM
reach the core's host port, a word at a time, in the banks of
:func:`snnhw.protocol_conv.conv_banks`; RUN starts the core and replies once it is idle
again. A request is checked whole (CRC, command, length, bank, address) before it changes
anything, and the core's port is used only while the core is idle, which it is whenever the
SoC takes a request.
"""

from __future__ import annotations

from functools import partial

from amaranth import Cat, Const, Module, Signal
from amaranth.lib.wiring import In, Out

from ..ir import bits_for
from ..ir_conv import ConvNetworkIR, stages_of
from ..protocol import MEM_HEADER, READ_HEADER, Command, Status
from ..protocol_conv import (
    CONV_MAX_PAYLOAD,
    ConvInfo,
    ConvSpace,
    check_link,
    conv_banks,
    conv_hash,
)
from .link import FramedLink
from .networks.ttfs_conv import ConvHost, TtfsConvCore

__all__ = ["ConvSoC"]


class ConvSoC(FramedLink):
    """TTFS conv core plus UART host link.

    Parameters
    ----------
    net : ConvNetworkIR
    clk_hz, baud, timeout_cycles : int
        As :class:`FramedLink` takes them.
    """

    def __init__(self, net: ConvNetworkIR, *, clk_hz: int, baud: int,
                 timeout_cycles: int) -> None:
        if not isinstance(net, ConvNetworkIR):
            raise TypeError(f"Network must be a ConvNetworkIR, not {net!r}")
        assert all(ConvHost(s.value).name == s.name for s in ConvSpace)
        check_link(net)
        self._net = net
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1)},
                         clk_hz=clk_hz, baud=baud, timeout_cycles=timeout_cycles)

    @property
    def net(self) -> ConvNetworkIR:
        return self._net

    def info(self) -> ConvInfo:
        """What INFO answers."""
        return ConvInfo(version=1, config_hash=conv_hash(self._net), lanes=self._net.lanes,
                        stages=len(stages_of(self._net)), frame_buffer=CONV_MAX_PAYLOAD,
                        clk_hz=self.clk_hz, baud=self.baud)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = TtfsConvCore(self._net)
        m.d.comb += self.busy.eq(core.busy)
        r = self._link(m, CONV_MAX_PAYLOAD)
        r.core = core
        self._bank_decoder(m, r)
        self._transmitter(m, r)
        info = self.info().pack()
        r.info_bytes = [Const(b, 8) for b in info]
        r.pidx = Signal(range(len(info)), name="pidx")
        r.rec_byte = Signal(8, name="rec_byte")
        m.d.comb += r.rec_byte.eq(Cat(*r.info_bytes).word_select(r.pidx, 8))
        with m.FSM():
            self._receive_states(m, r)
            self._check_states(m, r)
            self._action_states(m, r)
            self._reply_states(m, r)
        return m

    def _bank_decoder(self, m: Module, r) -> None:
        """The bank a memory request names: whether it exists, is writable, its depth and
        bytes per word (log2); the word registers and the core's host port."""
        banks = conv_banks(self._net)
        head = r.head
        r.sp_arg, r.bank_arg, r.addr_arg = head[0:8], head[8:16], head[16:48]
        r.count_arg = head[48:64]
        r.abits = abits = max(bits_for(b.depth) for b in banks.values())
        r.b_ok, r.b_wr = Signal(name="b_ok"), Signal(name="b_wr")
        r.b_depth = Signal(abits, name="b_depth")
        r.b_nbl = Signal(range(6), name="b_nbl")
        # registered: the header is still while the request's CRC comes in (two bytes at
        # the UART's rate), and PRECHECK's sums start from these at once
        m.d.sync += [r.b_ok.eq(0), r.b_wr.eq(0), r.b_depth.eq(0), r.b_nbl.eq(0)]
        with m.Switch(Cat(r.bank_arg, r.sp_arg)):
            for (space, bank), b in banks.items():
                with m.Case(int(space) << 8 | bank):
                    m.d.sync += [r.b_ok.eq(1), r.b_wr.eq(b.writable), r.b_depth.eq(b.depth),
                                 r.b_nbl.eq(b.nbytes.bit_length() - 1)]
        nb = max(b.nbytes for b in banks.values())
        r.nb = nb
        r.addr_hi = r.addr_arg[abits:] != 0
        r.cur_addr = Signal(abits + 1, name="cur_addr")
        r.remaining = Signal(16, name="remaining")  # words left
        r.bidx = Signal(range(nb), name="bidx")  # byte of the word
        r.nbytes_m1 = Signal(range(nb), name="nbytes_m1")
        r.word = Signal(8 * nb, name="word")  # the word being written
        r.word_rd = Signal(8 * nb, name="word_rd")  # the word being sent
        r.rd_idx = Signal(range(r.MAXP + 1), name="rd_idx")  # the frame buffer byte read
        m.d.comb += r.fb_r.addr.eq(r.rd_idx)
        host = r.core.host
        m.d.comb += [host.space.eq(r.sp_arg[:3]),
                     host.bank.eq(r.bank_arg[:len(host.bank)]),
                     host.addr.eq(r.cur_addr), host.w_data.eq(r.word)]

    def _check_states(self, m: Module, r) -> None:
        """PRECHECK and CHECK: command, length, bank, address; then act."""
        cmd, length, error = r.cmd, r.length, partial(self._error, m, r)
        MAXP, nbl, abits = r.MAXP, r.b_nbl, r.abits
        words_in = Signal(range(MAXP + 1))
        m.d.comb += words_in.eq((length[:len(words_in)] - MEM_HEADER) >> nbl)
        whole, w_over, r_over, r_big = (Signal(name=n) for n in
                                        ("whole", "w_over", "r_over", "r_big"))
        with m.State("PRECHECK"):  # the sums, registered a cycle before CHECK decides
            m.d.sync += [
                whole.eq(((length - MEM_HEADER) & ((1 << nbl) - 1)) == 0),
                w_over.eq(r.addr_hi | (r.addr_arg[:abits] + words_in > r.b_depth)),
                r_over.eq(r.addr_hi | (r.addr_arg[:abits] + r.count_arg > r.b_depth)),
                r_big.eq((r.count_arg << nbl) > 0xFFFF),
            ]
            m.next = "CHECK"
        with m.State("CHECK"):
            m.d.sync += [r.status.eq(Status.OK), r.rlen.eq(0), r.pidx.eq(0), r.bidx.eq(0),
                         r.cur_addr.eq(r.addr_arg[:abits]), r.rd_idx.eq(MEM_HEADER),
                         r.nbytes_m1.eq((1 << nbl) - 1), r.word.eq(0)]
            with m.Switch(cmd):
                with m.Case(Command.INFO, Command.RUN):
                    with m.If(length != 0):
                        error(Status.BAD_LENGTH)
                    with m.Elif(cmd == Command.RUN):
                        m.next = "RUN_START"
                    with m.Else():
                        m.d.sync += r.rlen.eq(len(r.info_bytes))
                        m.next = "T_SYNC"
                with m.Case(Command.WRITE_MEM):
                    with m.If((length <= MEM_HEADER) | (length > MAXP)):
                        error(Status.BAD_LENGTH)
                    with m.Elif(~r.b_ok | ~r.b_wr):
                        error(Status.BAD_ADDRESS)
                    with m.Elif(~whole):
                        error(Status.BAD_LENGTH)
                    with m.Elif(w_over):
                        error(Status.BAD_ADDRESS)
                    with m.Else():
                        m.d.sync += r.remaining.eq(words_in)
                        m.next = "WR_ADDR"
                with m.Case(Command.READ_MEM):
                    with m.If((length != READ_HEADER) | r_big):
                        error(Status.BAD_LENGTH)
                    with m.Elif(~r.b_ok | r_over):
                        error(Status.BAD_ADDRESS)
                    with m.Else():
                        m.d.sync += [r.remaining.eq(r.count_arg),
                                     r.rlen.eq(r.count_arg << nbl)]
                        m.next = "T_SYNC"
                with m.Default():
                    error(Status.UNKNOWN_COMMAND)

    def _action_states(self, m: Module, r) -> None:
        """WRITE_MEM's words into the core, and RUN."""
        core, bidx, rd_idx, remaining = r.core, r.bidx, r.rd_idx, r.remaining
        with m.State("WR_ADDR"):  # the frame buffer reads byte rd_idx
            m.next = "WR_BYTE"
        with m.State("WR_BYTE"):
            with m.Switch(bidx):
                for k in range(r.nb):
                    with m.Case(k):
                        m.d.sync += r.word[8 * k:8 * k + 8].eq(r.fb_r.data)
            m.d.sync += [rd_idx.eq(rd_idx + 1), bidx.eq(bidx + 1)]
            with m.If(bidx == r.nbytes_m1):
                m.next = "WR_WORD"
            with m.Else():
                m.next = "WR_ADDR"
        with m.State("WR_WORD"):
            m.d.comb += core.host.w_en.eq(1)  # the core is idle: the port is ready
            m.d.sync += [r.cur_addr.eq(r.cur_addr + 1), remaining.eq(remaining - 1),
                         bidx.eq(0), r.word.eq(0)]
            with m.If(remaining == 1):
                m.next = "T_SYNC"
            with m.Else():
                m.next = "WR_ADDR"
        with m.State("RUN_START"):
            m.d.comb += core.run.eq(1)
            m.next = "RUN_WAIT"
        with m.State("RUN_WAIT"):
            with m.If(~core.busy):
                m.next = "T_SYNC"

    def _reply_states(self, m: Module, r) -> None:
        """The reply: INFO's record, or READ_MEM's words read one by one."""
        cmd, rlen, bidx, remaining = r.cmd, r.rlen, r.bidx, r.remaining
        send = partial(self._send, m, r)
        self._reply_frame(m, r)
        with m.State("T_LEN1"):
            with m.If(rlen == 0):
                send(rlen[8:], "T_CRC0")
            with m.Elif(cmd == Command.READ_MEM):
                send(rlen[8:], "M_READ")
            with m.Else():
                send(rlen[8:], "T_REC")
        with m.State("T_REC"):
            send(r.rec_byte, "T_REC", actions=[r.pidx.eq(r.pidx + 1)])
            with m.If(r.sent & (r.pidx == len(r.info_bytes) - 1)):
                m.next = "T_CRC0"
        with m.State("M_READ"):  # the core's port answers the cycle after
            m.d.comb += r.core.host.r_en.eq(1)
            m.d.sync += bidx.eq(0)
            m.next = "M_LATCH"
        with m.State("M_LATCH"):  # registered, so no read port drives the CRC logic
            m.d.sync += r.word_rd.eq(r.core.host.r_data)
            m.next = "M_BYTES"
        with m.State("M_BYTES"):
            send(r.word_rd.word_select(bidx, 8), "M_BYTES", actions=[bidx.eq(bidx + 1)])
            with m.If(r.sent & (bidx == r.nbytes_m1)):
                m.d.sync += [r.cur_addr.eq(r.cur_addr + 1), remaining.eq(remaining - 1)]
                with m.If(remaining == 1):
                    m.next = "T_CRC0"
                with m.Else():
                    m.next = "M_READ"
