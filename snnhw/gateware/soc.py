"""The SoC a board runs: the learning core behind a UART host link that speaks the framed
protocol of :mod:`snnhw.protocol` (docs/host-protocol.md).

One finite-state machine receives a request into the frame buffer while it updates the CRC,
checks it (timeout, CRC, command, length, address, sample, in that order), executes it, and
sends the reply. A request changes state only after its CRC has been checked, so a bad frame
changes nothing. While the core runs, a spike monitor keeps the first spikes of the run and
adds the class votes of the current presentation.

The board top (PLL, reset synchroniser, pins) lives in :mod:`snnhw.boards`; this component is
all in the ``sync`` domain.
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..ir import LayerIR, bits_for, ceil_log2
from ..protocol import (
    COUNTER_FIELDS,
    LABEL_BITS,
    LABEL_NONE,
    MEM_HEADER,
    N_CLASSES,
    READ_HEADER,
    SPIKE_BYTES,
    SYNC_REPLY,
    SYNC_REQUEST,
    VOTE_BITS,
    Command,
    Counters,
    Info,
    Params,
    RunReply,
    Space,
    Status,
    config_hash,
    crc16_update,
    max_payload,
    memory_spaces,
)
from .common import times_const
from .networks.diehl_cook import SYNAPSE_RAMS, LearningCore, LearnSpace
from .uart import UARTReceiver, UARTTransmitter, baud_divisor

__all__ = ["SoC"]


def _crc_taps() -> list[tuple[list[int], list[int]]]:
    """CRC-16/CCITT-FALSE is linear: bit ``b`` after a byte is the XOR of some bits of the old
    CRC and of the byte. Which ones, found by feeding each bit alone through the reference."""
    return [([i for i in range(16) if crc16_update(1 << i, 0) >> b & 1],
             [i for i in range(8) if crc16_update(0, 1 << i) >> b & 1]) for b in range(16)]


_CRC_TAPS = _crc_taps()


def _crc16_byte(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte, as one XOR tree per bit (an unrolled shift
    register would copy its whole expression at each of the eight steps)."""
    bits = []
    for crc_taps, byte_taps in _CRC_TAPS:
        terms = [crc[i] for i in crc_taps] + [byte[i] for i in byte_taps]
        bits.append(reduce(operator.xor, terms))
    return Cat(*bits)


def _le_bytes(value, n: int) -> list:
    """The ``n`` little-endian bytes of a value (zero-extended)."""
    wide = Cat(value, Const(0, max(0, 8 * n - len(value))))
    return [wide[8 * k:8 * k + 8] for k in range(n)]


class SoC(wiring.Component):
    """Learning core plus UART host link.

    Parameters
    ----------
    layer : LayerIR
        A learning layer (``LayerIR.has_learning_core``).
    clk_hz : int
        The ``sync`` clock the SoC runs on; INFO reports it.
    baud : int
        UART baud rate; ``round(clk_hz / baud)`` cycles per bit, at most 2 % off.
    timeout_cycles : int
        A request whose next byte takes longer than this is dropped (``TIMEOUT``).
    spike_buffer : int
        Spikes of a run kept for READ_SPIKES (the rest are counted).
    synapse_ram : str
        ``"block"`` or ``"spram"`` (:attr:`LearningCore.synapse_ram`; needs a ``fast`` domain
        at twice ``sync``). SPRAM starts empty: INFO says so until the host writes a weight.
    """

    def __init__(self, layer: LayerIR, *, clk_hz: int, baud: int, timeout_cycles: int,
                 spike_buffer: int = 512, synapse_ram: str = "block") -> None:
        if synapse_ram not in SYNAPSE_RAMS:
            raise ValueError(f"Synapse RAM must be one of {', '.join(SYNAPSE_RAMS)}, not "
                             f"{synapse_ram!r}")
        self._synapse_ram = synapse_ram
        if not isinstance(layer, LayerIR) or not layer.has_learning_core:
            raise TypeError(f"Layer must be a learning LayerIR, not {layer!r}")
        if not isinstance(timeout_cycles, int) or timeout_cycles < 1:
            raise ValueError(f"Timeout must be a positive number of cycles, not "
                             f"{timeout_cycles!r}")
        if not isinstance(spike_buffer, int) or not 1 <= spike_buffer <= 4096:
            raise ValueError(f"Spike buffer must be an integer from 1 to 4096, not "
                             f"{spike_buffer!r}")
        self._divisor = baud_divisor(clk_hz, baud)
        self._layer = layer
        self._clk_hz = clk_hz
        self._baud = baud
        self._timeout = timeout_cycles
        self._spike_buffer = spike_buffer
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1)})

    @property
    def layer(self) -> LayerIR:
        return self._layer

    @property
    def clk_hz(self) -> int:
        return self._clk_hz

    @property
    def baud(self) -> int:
        return self._baud

    @property
    def divisor(self) -> int:
        return self._divisor

    @property
    def spike_buffer(self) -> int:
        return self._spike_buffer

    @property
    def synapse_ram(self) -> str:
        return self._synapse_ram

    def info(self) -> Info:
        """What INFO answers."""
        L = self._layer
        return Info(version=1, config_hash=config_hash(L), n_in=L.n_in, n_out=L.n_out,
                    lanes=L.lanes, weight_bits=L.weight_bits, pruning=bool(L.pruning),
                    schedule=bool(L.pruning and L.pruning.target_permille),
                    spike_buffer=self._spike_buffer, clk_hz=self._clk_hz, baud=self._baud,
                    spram=self._synapse_ram == "spram",
                    weights_empty=self._synapse_ram == "spram")

    def elaborate(self, platform):  # noqa: C901 - one request engine, commented by stage
        m = Module()
        L = self._layer
        S = self._spike_buffer
        MAXP = max_payload(L)
        spaces = memory_spaces(L)
        assert all(LearnSpace(s.value).name == s.name for s in spaces if s != Space.LABELS)

        m.submodules.core = core = LearningCore(L, synapse_ram=self._synapse_ram)
        m.submodules.uart_rx = urx = UARTReceiver(divisor=self._divisor)
        m.submodules.uart_tx = utx = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.busy.eq(~core.idle)]
        rx_valid, rx_byte = urx.o_byte.valid, urx.o_byte.payload

        # -- memories: the request's payload, the neurons' labels, the run's spikes ----------
        m.submodules.frame = frame = memory.Memory(shape=unsigned(8), depth=MAXP, init=[])
        fb_w, fb_r = frame.write_port(), frame.read_port()
        # the labels, then the votes of the N_CLASSES classes (16 bits, valid while vote_ok)
        m.submodules.labels = labels = memory.Memory(
            shape=unsigned(VOTE_BITS), depth=L.n_out + N_CLASSES,
            init=[LABEL_NONE] * L.n_out + [0] * N_CLASSES)
        lab_w, lab_r = labels.write_port(), labels.read_port()
        m.submodules.spikes = spikes = memory.Memory(shape=unsigned(8 * SPIKE_BYTES), depth=S,
                                                     init=[])
        sp_w, sp_r = spikes.write_port(), spikes.read_port()

        # -- request registers ---------------------------------------------------------------
        cmd = Signal(8)
        length = Signal(16)
        idx = Signal(16)  # payload bytes received
        crc = Signal(16, init=0xFFFF)
        crc_lo = Signal(8)
        head = Signal(8 * READ_HEADER)  # the first payload bytes: the command's arguments
        quiet = Signal(range(self._timeout + 1))  # cycles since the request's last byte
        status = Signal(8)
        rlen = Signal(16)  # reply payload bytes
        m.d.comb += fb_w.data.eq(rx_byte)

        sp_arg, bank_arg, addr_arg = head[0:8], head[8:16], head[16:48]
        count_arg = head[48:64]  # READ_MEM
        first_arg, spikes_arg = head[0:16], head[16:32]  # READ_SPIKES

        # which space a memory request names, its banks, depth and bytes per word (log2)
        sp_ok = Signal()
        sp_banks = Signal(range(max(2, L.lanes) + 1))
        # a request's words must end within the space: addresses of 2**abits and more fail
        # whatever the count, so the sums need abits + 1 bits, not 33
        abits = max(bits_for(sir.depth) for sir in spaces.values())
        sp_depth = Signal(abits)
        addr_hi = Signal()  # the address's bits from abits up are not all zero
        m.d.comb += addr_hi.eq(addr_arg[abits:] != 0)
        sp_nbl = Signal(2)
        with m.Switch(sp_arg):
            for s, sir in spaces.items():
                with m.Case(int(s)):
                    m.d.comb += [sp_ok.eq(1), sp_banks.eq(sir.banks), sp_depth.eq(sir.depth),
                                 sp_nbl.eq(ceil_log2(sir.nbytes))]

        # -- parameters and run results -------------------------------------------------------
        p_eta = Signal(16)
        p_learn = Signal()
        p_prune = Signal()
        p_thr = Signal(16)
        loaded = Signal()  # a whole sample waits for RUN
        m.d.comb += [core.learn.eq(p_learn), core.eta.eq(p_eta)]
        if L.pruning:
            m.d.comb += core.prune.eq(p_prune)
            if L.pruning.target_permille:
                m.d.comb += core.prune_threshold.eq(p_thr)
        run_pres = Signal(8)  # presentations of this run (wrapping)
        sp_count = Signal(range(S + 1))  # spikes kept
        # spikes emitted in the run: one a timestep at most (winner-take-all), so at most
        # max_tries * steps, far below the u32 of the reply, where it would saturate
        max_spikes = L.encoder.max_tries * L.encoder.steps
        assert max_spikes < 2**32 - 1
        sp_total = Signal(range(max_spikes + 1))
        vote_ok = Signal(N_CLASSES)  # class c has voted in this presentation

        # -- spike monitor: keep the first S spikes, add up the class votes -------------------
        # A vote reads the spiking neuron's label from the label memory in the spike's cycle,
        # its class's vote in the next, and writes it back one more in the third (a class that
        # has not voted yet in this presentation counts from zero). The core's spikes are
        # further apart than that: a FIRE pass, its drain and a RESET pass lie between two. A
        # new presentation clears the votes, so they are those of the last presentation, like
        # the spike counts the core keeps.
        sp = core.o_spike
        m.d.comb += sp.ready.eq(1)
        m.d.comb += [sp_w.addr.eq(sp_count),
                     sp_w.data.eq(Cat(sp.payload.neuron, Const(0, 16 - L.neuron_bits),
                                      sp.payload.timestep,
                                      Const(0, 16 - len(sp.payload.timestep)),
                                      sp.payload.attempt, Const(0, 4))),
                     sp_w.en.eq(sp.valid & (sp_count < S))]
        with m.If(sp.valid):
            with m.If(sp_count < S):
                m.d.sync += sp_count.eq(sp_count + 1)
            m.d.sync += sp_total.eq(sp_total + 1)
        spike_d = Signal()
        m.d.sync += spike_d.eq(sp.valid)
        clear_votes = Signal()
        vote_add = Signal()  # the class's vote is on the read port: write it back plus one
        vote_cls = Signal(range(N_CLASSES))
        vote_addr = Signal.like(lab_r.addr)
        m.d.comb += vote_addr.eq(L.n_out + vote_cls)
        label = lab_r.data[:LABEL_BITS]
        m.d.sync += vote_add.eq(spike_d & (label < N_CLASSES))
        with m.If(spike_d):
            m.d.sync += vote_cls.eq(label)
        with m.If(vote_add):
            m.d.sync += vote_ok.bit_select(vote_cls, 1).eq(1)
        clear_counters = Signal()
        with m.If(core.pres_begin):
            m.d.sync += run_pres.eq(run_pres + 1)
        # the presentation count changes: a presentation begins, or a clear zeroes it
        with m.If(clear_votes | core.pres_begin | (clear_counters & (core.presentations != 0))):
            m.d.sync += vote_ok.eq(0)

        # -- reply bytes of the short fixed-size replies ---------------------------------------
        info = self.info().pack()
        records = {
            Command.INFO: [Const(b, 8) for b in info],
            Command.GET_PARAMS: _le_bytes(p_eta, 2) + [Cat(p_learn, p_prune, Const(0, 6))]
            + _le_bytes(p_thr, 2),
            Command.RUN: _le_bytes(run_pres, 1) + _le_bytes(sp_total, 4)
            + _le_bytes(sp_count, 2),
        }
        # The long ones go out as words, as memory reads do (one word mux, then the byte of the
        # word): the counters are 8-byte words (cycles as the first word is latched), then
        # presentations (2 bytes) and alive connections (4) as one more; the votes are 2-byte
        # words.
        counter_words = [
            core.weight_updates if name == "weight_updates" else getattr(core.counters, name)
            for name in COUNTER_FIELDS] + [Cat(
                core.presentations, core.alive_count if L.pruning
                else Const(L.n_in * L.n_out, 32))]
        assert 8 * (len(counter_words) - 1) + 6 == Counters.size()
        cnt_word = Signal(64)
        assert len(records[Command.INFO]) == Info.size()
        if self._synapse_ram == "spram":  # INFO's weights_empty: until a weight is written
            empty = Signal(init=1)
            with m.If(core.host_w_en & (core.host_space == LearnSpace.WEIGHT)):
                m.d.sync += empty.eq(0)
            f = Info.FLAGS_OFFSET
            records[Command.INFO][f] = Cat(records[Command.INFO][f][:3], empty,
                                           records[Command.INFO][f][4:])
        assert len(records[Command.GET_PARAMS]) == Params.size()
        assert len(records[Command.RUN]) == RunReply.size()
        rec_len = {c: len(r) for c, r in records.items()}
        pidx = Signal(range(max(rec_len.values())))  # the reply byte being sent
        rec_byte = Signal(8)
        with m.Switch(cmd):  # a mux tree on the few bits of pidx, not a decoder per byte
            for c, rec in records.items():
                with m.Case(c):
                    m.d.comb += rec_byte.eq(Cat(*rec).word_select(pidx, 8))

        # -- memory words: read and written a byte at a time --------------------------------
        cur_addr = Signal(32)
        remaining = Signal(16)  # words left
        bidx = Signal(3)  # byte of the word
        word = Signal(64)
        rd_idx = Signal(range(MAXP + 1))  # the frame buffer byte being read
        m.d.comb += fb_r.addr.eq(rd_idx)
        nbytes_m1 = Signal(3)  # bytes per word - 1, of the current memory or spike reply
        host_word = Signal(64)
        word_rd = Signal(64)  # the word being sent
        m.d.comb += host_word.eq(Mux(sp_arg == Space.LABELS, label, core.host_r_data))
        # the label memory's ports: a vote's (label, class vote, write-back), else the host's
        # (a label, or with READ_VOTES a vote: class cur_addr)
        with m.If(sp.valid):
            m.d.comb += lab_r.addr.eq(sp.payload.neuron)
        with m.Elif(spike_d):
            m.d.comb += lab_r.addr.eq(L.n_out + label)
        with m.Elif(cmd == Command.READ_VOTES):
            m.d.comb += lab_r.addr.eq(L.n_out + cur_addr[:ceil_log2(N_CLASSES)])
        with m.Else():
            m.d.comb += lab_r.addr.eq(cur_addr)
        vote_new = Signal(VOTE_BITS)
        m.d.comb += vote_new.eq(Mux(vote_ok.bit_select(vote_cls, 1), lab_r.data, 0) + 1)
        m.d.comb += [lab_w.en.eq(vote_add),
                     lab_w.addr.eq(Mux(vote_add, vote_addr, cur_addr)),
                     lab_w.data.eq(Mux(vote_add, vote_new, word[:LABEL_BITS]))]
        m.d.comb += [core.host_space.eq(sp_arg[:3]), core.host_bank.eq(bank_arg),
                     core.host_addr.eq(cur_addr), core.host_w_data.eq(word),
                     sp_r.addr.eq(cur_addr)]
        m.d.comb += core.clear_counters.eq(clear_counters)
        with m.Switch(cur_addr[:ceil_log2(len(counter_words))]):
            for k, w in enumerate(counter_words):
                with m.Case(k):
                    m.d.comb += cnt_word.eq(w)
        vote_word = Signal(VOTE_BITS)  # READ_VOTES: class cur_addr's vote (on the read port)
        m.d.comb += vote_word.eq(Mux(vote_ok.bit_select(cur_addr[:ceil_log2(N_CLASSES)], 1),
                                     lab_r.data, 0))

        # -- transmit: one byte per state, the CRC over everything but sync and CRC ----------
        tx_byte = Signal(8)
        tx_crc = Signal()  # the byte counts in the CRC
        m.d.comb += utx.i_byte.payload.eq(tx_byte)
        sent = Signal()
        m.d.comb += sent.eq(utx.i_byte.valid & utx.i_byte.ready)
        # one CRC step per byte, received or sent: one XOR tree behind a byte mux
        crc_step = Signal()
        crc_byte = Signal(8)
        with m.If(sent & tx_crc):
            m.d.comb += [crc_step.eq(1), crc_byte.eq(tx_byte)]
        with m.If(crc_step):
            m.d.sync += crc.eq(_crc16_byte(crc, crc_byte))

        def error(code: Status):
            m.d.sync += [status.eq(code), rlen.eq(0)]
            m.next = "T_SYNC"

        def in_frame(next_state: str | None, *actions):
            """A receive state: on a byte, update the CRC and do ``actions``; time out."""
            with m.If(rx_valid):
                m.d.comb += [crc_step.eq(1), crc_byte.eq(rx_byte)]
                m.d.sync += [quiet.eq(0), *actions]
                if next_state:
                    m.next = next_state
            with m.Elif(quiet == self._timeout):
                error(Status.TIMEOUT)
            with m.Else():
                m.d.sync += quiet.eq(quiet + 1)

        with m.FSM():
            # ---- receive -------------------------------------------------------------------
            with m.State("SYNC"):
                with m.If(rx_valid & (rx_byte == SYNC_REQUEST)):
                    m.d.sync += [crc.eq(0xFFFF), idx.eq(0), head.eq(0), quiet.eq(0)]
                    m.next = "CMD"
            with m.State("CMD"):
                in_frame("LEN0", cmd.eq(rx_byte))
            with m.State("LEN0"):
                in_frame("LEN1", length[:8].eq(rx_byte))
            with m.State("LEN1"):
                in_frame(None, length[8:].eq(rx_byte))
                with m.If(rx_valid):
                    with m.If(Cat(length[:8], rx_byte) == 0):
                        m.next = "CRC0"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                m.d.comb += [fb_w.addr.eq(idx), fb_w.en.eq(rx_valid & (idx < MAXP))]
                in_frame(None, idx.eq(idx + 1))
                with m.If(rx_valid):
                    with m.Switch(idx):
                        for k in range(READ_HEADER):
                            with m.Case(k):
                                m.d.sync += head[8 * k:8 * k + 8].eq(rx_byte)
                    with m.If(idx == length - 1):
                        m.next = "CRC0"
            with m.State("CRC0"):
                with m.If(rx_valid):
                    m.d.sync += [crc_lo.eq(rx_byte), quiet.eq(0)]
                    m.next = "CRC1"
                with m.Elif(quiet == self._timeout):
                    error(Status.TIMEOUT)
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)
            with m.State("CRC1"):
                with m.If(rx_valid):
                    with m.If(Cat(crc_lo, rx_byte) != crc):
                        error(Status.BAD_CRC)
                    with m.Else():
                        m.next = "PRECHECK"
                with m.Elif(quiet == self._timeout):
                    error(Status.TIMEOUT)
                with m.Else():
                    m.d.sync += quiet.eq(quiet + 1)

            # ---- check: command, length, address, sample; then act -------------------------
            # WRITE_MEM: words in the payload (used once the length is at most MAXP)
            words_in = Signal(range(MAXP + 1))
            m.d.comb += words_in.eq((length[:len(words_in)] - MEM_HEADER) >> sp_nbl)
            # the checks with sums go through flags registered a cycle before CHECK, so that
            # no adder lies on CHECK's path from the arguments to its decision
            bank_ok, whole, w_over, r_over, r_big, s_over = (
                Signal(name=n) for n in ("bank_ok", "whole", "w_over", "r_over", "r_big",
                                         "s_over"))
            with m.State("PRECHECK"):
                m.d.sync += [
                    bank_ok.eq(sp_ok & (bank_arg < sp_banks)),
                    whole.eq(((length - MEM_HEADER) & ((1 << sp_nbl) - 1)) == 0),
                    w_over.eq(addr_hi | (addr_arg[:abits] + words_in > sp_depth)),
                    r_over.eq(addr_hi | (addr_arg[:abits] + count_arg > sp_depth)),
                    r_big.eq((count_arg << sp_nbl) > 0xFFFF),
                    s_over.eq(first_arg + spikes_arg > sp_count),
                ]
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [status.eq(Status.OK), rlen.eq(0), pidx.eq(0), bidx.eq(0),
                             cur_addr.eq(addr_arg), rd_idx.eq(MEM_HEADER),
                             nbytes_m1.eq((1 << sp_nbl) - 1)]
                with m.Switch(cmd):
                    with m.Case(Command.INFO, Command.GET_PARAMS, Command.READ_VOTES,
                                Command.READ_COUNTERS, Command.CLEAR_COUNTERS, Command.RUN):
                        with m.If(length != 0):
                            error(Status.BAD_LENGTH)
                        with m.Elif((cmd == Command.RUN) & ~loaded):
                            error(Status.NO_SAMPLE)
                        with m.Else():
                            for c in (Command.INFO, Command.GET_PARAMS):
                                with m.If(cmd == c):
                                    m.d.sync += rlen.eq(rec_len[c])
                            with m.If(cmd == Command.READ_VOTES):
                                m.d.sync += [rlen.eq(2 * N_CLASSES), remaining.eq(N_CLASSES),
                                             cur_addr.eq(0), nbytes_m1.eq(1)]
                            with m.If(cmd == Command.READ_COUNTERS):
                                m.d.sync += [rlen.eq(Counters.size()), cur_addr.eq(0),
                                             remaining.eq(len(counter_words))]
                            with m.If(cmd == Command.RUN):
                                m.next = "RUN_START"
                            with m.Elif(cmd == Command.CLEAR_COUNTERS):
                                m.next = "CLEAR"
                            with m.Else():
                                m.next = "T_SYNC"
                    with m.Case(Command.WRITE_MEM):
                        with m.If((length <= MEM_HEADER) | (length > MAXP)):
                            error(Status.BAD_LENGTH)
                        with m.Elif(~bank_ok):
                            error(Status.BAD_ADDRESS)
                        with m.Elif(~whole):
                            error(Status.BAD_LENGTH)
                        with m.Elif(w_over):
                            error(Status.BAD_ADDRESS)
                        with m.Else():
                            m.d.sync += remaining.eq(words_in)
                            m.next = "WR_ADDR"
                    with m.Case(Command.READ_MEM):
                        with m.If((length != READ_HEADER) | r_big):
                            error(Status.BAD_LENGTH)
                        with m.Elif(~bank_ok | r_over):
                            error(Status.BAD_ADDRESS)
                        with m.Else():
                            m.d.sync += [remaining.eq(count_arg), rlen.eq(count_arg << sp_nbl)]
                            m.next = "T_SYNC"
                    with m.Case(Command.SET_PARAMS):
                        with m.If(length != Params.size()):
                            error(Status.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += [p_eta.eq(head[0:16]), p_learn.eq(head[16]),
                                         p_prune.eq(head[17]), p_thr.eq(head[24:40])]
                            m.next = "T_SYNC"
                    with m.Case(Command.LOAD_SAMPLE):
                        with m.If(length != L.n_in):
                            error(Status.BAD_LENGTH)
                        with m.Elif(loaded):
                            error(Status.SAMPLE_LOADED)
                        with m.Else():
                            m.d.sync += rd_idx.eq(0)
                            m.next = "LD_ADDR"
                    with m.Case(Command.READ_SPIKES):
                        with m.If(length != 4):
                            error(Status.BAD_LENGTH)
                        with m.Elif(s_over):
                            error(Status.BAD_ADDRESS)
                        with m.Else():
                            m.d.sync += [remaining.eq(spikes_arg), cur_addr.eq(first_arg),
                                         rlen.eq(times_const(spikes_arg[:len(sp_count)],
                                                             SPIKE_BYTES)),
                                         nbytes_m1.eq(SPIKE_BYTES - 1)]
                            m.next = "T_SYNC"
                    with m.Default():
                        error(Status.UNKNOWN_COMMAND)

            # ---- WRITE_MEM: assemble each word from the frame buffer, then write it --------
            with m.State("WR_ADDR"):  # the frame buffer reads byte rd_idx
                m.next = "WR_BYTE"
            with m.State("WR_BYTE"):
                with m.Switch(bidx):
                    for k in range(8):
                        with m.Case(k):
                            m.d.sync += word[8 * k:8 * k + 8].eq(fb_r.data)
                m.d.sync += [rd_idx.eq(rd_idx + 1), bidx.eq(bidx + 1)]
                with m.If(bidx == nbytes_m1):
                    m.next = "WR_WORD"
                with m.Else():
                    m.next = "WR_ADDR"
            with m.State("WR_WORD"):
                with m.If(sp_arg == Space.LABELS):
                    m.d.comb += lab_w.en.eq(1)  # never beside a vote: the core is idle
                with m.Else():
                    m.d.comb += core.host_w_en.eq(1)
                m.d.sync += [cur_addr.eq(cur_addr + 1), remaining.eq(remaining - 1),
                             bidx.eq(0), word.eq(0)]
                with m.If(remaining == 1):
                    m.next = "T_SYNC"
                with m.Else():
                    m.next = "WR_ADDR"

            # ---- LOAD_SAMPLE: stream the pixels into the core ------------------------------
            with m.State("LD_ADDR"):
                m.next = "LD_PUSH"
            with m.State("LD_PUSH"):
                m.d.comb += [core.i_pixel.valid.eq(1), core.i_pixel.payload.eq(fb_r.data)]
                with m.If(core.i_pixel.ready):
                    m.d.sync += rd_idx.eq(rd_idx + 1)
                    with m.If(rd_idx == L.n_in - 1):
                        m.d.sync += loaded.eq(1)
                        m.next = "T_SYNC"
                    with m.Else():
                        m.next = "LD_ADDR"

            # ---- RUN: start the core and wait until it is idle again -----------------------
            with m.State("RUN_START"):
                m.d.comb += [core.start.eq(1), clear_votes.eq(1)]
                m.d.sync += [run_pres.eq(0), sp_count.eq(0), sp_total.eq(0), loaded.eq(0)]
                m.next = "RUN_WAIT"
            with m.State("RUN_WAIT"):
                with m.If(core.idle):
                    m.d.sync += rlen.eq(rec_len[Command.RUN])
                    m.next = "T_SYNC"

            with m.State("CLEAR"):
                m.d.comb += clear_counters.eq(1)
                m.next = "T_SYNC"

            # ---- reply ---------------------------------------------------------------------
            def send(byte, next_state, *, in_crc: bool = True, actions=()):
                m.d.comb += [utx.i_byte.valid.eq(1), tx_byte.eq(byte), tx_crc.eq(in_crc)]
                with m.If(sent):
                    m.d.sync += list(actions)
                    m.next = next_state

            with m.State("T_SYNC"):
                send(SYNC_REPLY, "T_STATUS", in_crc=False, actions=[crc.eq(0xFFFF)])
            with m.State("T_STATUS"):
                send(status, "T_LEN0")
            with m.State("T_LEN0"):
                send(rlen[:8], "T_LEN1")
            with m.State("T_LEN1"):
                with m.If(rlen == 0):
                    send(rlen[8:], "T_CRC0")
                with m.Elif((cmd == Command.READ_MEM) | (cmd == Command.READ_SPIKES)
                            | (cmd == Command.READ_VOTES) | (cmd == Command.READ_COUNTERS)):
                    send(rlen[8:], "M_READ")
                with m.Else():
                    send(rlen[8:], "T_REC")
            with m.State("T_REC"):  # a fixed-size reply
                send(rec_byte, "T_REC", actions=[pidx.eq(pidx + 1)])
                with m.If(sent & (pidx == (rlen - 1)[:len(pidx)])):
                    m.next = "T_CRC0"
            with m.State("M_READ"):  # read the next word; it is there two cycles later
                with m.If(cmd == Command.READ_MEM):
                    with m.If(sp_arg != Space.LABELS):
                        m.d.comb += core.host_r_en.eq(1)
                with m.If(cmd == Command.READ_COUNTERS):  # the last word has 6 bytes
                    m.d.sync += nbytes_m1.eq(Mux(remaining == 1, 5, 7))
                m.d.sync += bidx.eq(0)
                m.next = "M_WAIT"
            with m.State("M_WAIT"):  # the learning core's host reads take two cycles
                m.next = "M_LATCH"
            with m.State("M_LATCH"):  # registered, so no read port drives the CRC logic
                with m.Switch(cmd):
                    with m.Case(Command.READ_SPIKES):
                        m.d.sync += word_rd.eq(sp_r.data)
                    with m.Case(Command.READ_COUNTERS):
                        m.d.sync += word_rd.eq(cnt_word)
                    with m.Case(Command.READ_VOTES):
                        m.d.sync += word_rd.eq(vote_word)
                    with m.Default():
                        m.d.sync += word_rd.eq(host_word)
                m.next = "M_BYTES"
            with m.State("M_BYTES"):
                byte = Signal(8)
                with m.Switch(bidx):
                    for k in range(8):
                        with m.Case(k):
                            m.d.comb += byte.eq(word_rd[8 * k:8 * k + 8])
                send(byte, "M_BYTES", actions=[bidx.eq(bidx + 1)])
                with m.If(sent & (bidx == nbytes_m1)):
                    m.d.sync += [cur_addr.eq(cur_addr + 1), remaining.eq(remaining - 1)]
                    with m.If(remaining == 1):
                        m.next = "T_CRC0"
                    with m.Else():
                        m.next = "M_READ"
            with m.State("T_CRC0"):
                send(crc[:8], "T_CRC1", in_crc=False)
            with m.State("T_CRC1"):
                send(crc[8:], "SYNC", in_crc=False)
        return m
