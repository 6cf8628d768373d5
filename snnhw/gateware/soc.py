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

from functools import partial
from types import SimpleNamespace

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..ir import LayerIR, LearningLayerIR, bits_for, ceil_log2
from ..protocol import (
    COUNTER_FIELDS,
    DEFAULT_SPIKE_BUFFER,
    LABEL_BITS,
    LABEL_NONE,
    MEM_HEADER,
    N_CLASSES,
    READ_HEADER,
    SPIKE_BYTES,
    VOTE_BITS,
    Command,
    Counters,
    Info,
    Params,
    RunReply,
    Space,
    Status,
    config_hash,
    memory_spaces,
    soc_memories,
)
from .blocks.spike_buffer import SpikeBuffer
from .common import times_const
from .link import FramedLink, le_bytes
from .networks.diehl_cook import SYNAPSE_RAMS, LearningCore, LearnSpace

__all__ = ["SoC"]


class SoC(FramedLink):
    """Learning core plus UART host link.

    Parameters
    ----------
    layer : LayerIR
        A learning layer that :class:`LearningCore` builds.
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
                 spike_buffer: int = DEFAULT_SPIKE_BUFFER, synapse_ram: str = "block") -> None:
        if synapse_ram not in SYNAPSE_RAMS:
            raise ValueError(f"Synapse RAM must be one of {', '.join(SYNAPSE_RAMS)}, not "
                             f"{synapse_ram!r}")
        self._synapse_ram = synapse_ram
        if not isinstance(layer, LearningLayerIR):
            raise TypeError(f"Layer must be a LearningLayerIR, not {layer!r}")
        if not isinstance(spike_buffer, int) or not 1 <= spike_buffer <= 4096:
            raise ValueError(f"Spike buffer must be an integer from 1 to 4096, not "
                             f"{spike_buffer!r}")
        self._layer = layer
        self._spike_buffer = spike_buffer
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1)},
                         clk_hz=clk_hz, baud=baud, timeout_cycles=timeout_cycles)

    @property
    def layer(self) -> LayerIR:
        return self._layer

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

    def elaborate(self, platform):
        m = Module()
        L = self._layer
        spaces = memory_spaces(L)
        assert all(LearnSpace(s.value).name == s.name for s in spaces if s != Space.LABELS)

        m.submodules.core = core = LearningCore(L, synapse_ram=self._synapse_ram)
        m.d.comb += self.busy.eq(~core.idle)
        # the link: UART, CRC, the request's registers and the frame buffer (its size as
        # snnhw.fit counts it, with the SoC's other memories)
        mems = soc_memories(L, self._spike_buffer)
        assert mems["frame"].width == 8
        r = self._link(m, mems["frame"].depth)

        # -- memories: the neurons' labels and votes, the run's spikes ----------------------
        # the labels, then the votes of the N_CLASSES classes (16 bits, valid while vote_ok)
        m.submodules.labels = labels = memory.Memory(
            shape=unsigned(mems["labels"].width), depth=mems["labels"].depth,
            init=[LABEL_NONE] * L.n_out + [0] * N_CLASSES)
        # spikes emitted in the run: one a timestep at most (winner-take-all), so at most
        # max_tries * steps, far below the u32 of the reply, where it would saturate
        max_spikes = L.encoder.max_tries * L.encoder.steps
        assert max_spikes < 2**32 - 1
        m.submodules.spikes = spikes = SpikeBuffer(
            spike_layout=core.o_spike.payload.shape(), depth=mems["spikes"].depth,
            max_total=max_spikes)
        wiring.connect(m, core.o_spike, spikes.i_spike)

        r.L, r.core, r.spikes = L, core, spikes
        r.lab_w, r.lab_r = labels.write_port(), labels.read_port()
        self._request_registers(m, r, spaces)
        self._parameters(m, r)
        self._votes(m, r)
        self._fixed_replies(m, r)
        self._memory_words(m, r)
        self._transmitter(m, r)
        with m.FSM():
            self._receive_states(m, r)
            self._check_states(m, r)
            self._action_states(m, r)
            self._reply_states(m, r)
        return m

    # The request engine, in the order elaborate builds it. ``r`` holds its signals and
    # submodules; each helper adds some.

    def _request_registers(self, m: Module, r: SimpleNamespace, spaces: dict) -> None:
        """The request's registers, its arguments, and the space a memory request names."""
        L = r.L
        head = r.head
        r.sp_arg, r.bank_arg, r.addr_arg = head[0:8], head[8:16], head[16:48]
        r.count_arg = head[48:64]  # READ_MEM
        r.first_arg, r.spikes_arg = head[0:16], head[16:32]  # READ_SPIKES

        # which space a memory request names, its banks, depth and bytes per word (log2)
        r.sp_ok = Signal(name="sp_ok")
        r.sp_banks = Signal(range(max(2, L.lanes) + 1), name="sp_banks")
        # a request's words must end within the space: addresses of 2**abits and more fail
        # whatever the count, so the sums need abits + 1 bits, not 33
        r.abits = abits = max(bits_for(sir.depth) for sir in spaces.values())
        r.sp_depth = Signal(abits, name="sp_depth")
        # the address's bits from abits up are not all zero
        r.addr_hi = Signal(name="addr_hi")
        m.d.comb += r.addr_hi.eq(r.addr_arg[abits:] != 0)
        r.sp_nbl = Signal(2, name="sp_nbl")
        with m.Switch(r.sp_arg):
            for s, sir in spaces.items():
                with m.Case(int(s)):
                    m.d.comb += [r.sp_ok.eq(1), r.sp_banks.eq(sir.banks),
                                 r.sp_depth.eq(sir.depth), r.sp_nbl.eq(ceil_log2(sir.nbytes))]

    def _parameters(self, m: Module, r: SimpleNamespace) -> None:
        """The parameters SET_PARAMS sets."""
        L, core = r.L, r.core
        r.p_eta = Signal(16, name="p_eta")
        r.p_learn = Signal(name="p_learn")
        r.p_prune = Signal(name="p_prune")
        r.p_thr = Signal(16, name="p_thr")
        r.loaded = Signal(name="loaded")  # a whole sample waits for RUN
        m.d.comb += [core.learn.eq(r.p_learn), core.eta.eq(r.p_eta)]
        if L.pruning:
            m.d.comb += core.prune.eq(r.p_prune)
            if L.pruning.target_permille:
                m.d.comb += core.prune_threshold.eq(r.p_thr)
        r.run_pres = Signal(8, name="run_pres")  # presentations of this run (wrapping)
        r.vote_ok = Signal(N_CLASSES, name="vote_ok")  # class c has voted in this presentation

    def _votes(self, m: Module, r: SimpleNamespace) -> None:
        """The spike monitor's votes: each spike of a labelled neuron adds one to its class.

        A vote reads the spiking neuron's label from the label memory in the spike's cycle, its
        class's vote in the next, and writes it back one more in the third (a class that has
        not voted yet in this presentation counts from zero). The core's spikes are further
        apart than that: a FIRE pass, its drain and a RESET pass lie between two. A new
        presentation clears the votes, so they are those of the last presentation, like the
        spike counts the core keeps. (The spike buffer keeps the first spikes.)
        """
        L, core, lab_r, vote_ok = r.L, r.core, r.lab_r, r.vote_ok
        r.spike_d = spike_d = Signal(name="spike_d")
        m.d.sync += spike_d.eq(core.o_spike.valid)
        r.clear_votes = clear_votes = Signal(name="clear_votes")
        # the class's vote is on the read port: write it back plus one
        r.vote_add = vote_add = Signal(name="vote_add")
        r.vote_cls = vote_cls = Signal(range(N_CLASSES), name="vote_cls")
        r.vote_addr = vote_addr = Signal.like(lab_r.addr, name="vote_addr")
        m.d.comb += vote_addr.eq(L.n_out + vote_cls)
        r.label = label = lab_r.data[:LABEL_BITS]
        m.d.sync += vote_add.eq(spike_d & (label < N_CLASSES))
        with m.If(spike_d):
            m.d.sync += vote_cls.eq(label)
        with m.If(vote_add):
            m.d.sync += vote_ok.bit_select(vote_cls, 1).eq(1)
        r.clear_counters = clear_counters = Signal(name="clear_counters")
        with m.If(core.pres_begin):
            m.d.sync += r.run_pres.eq(r.run_pres + 1)
        # the presentation count changes: a presentation begins, or a clear zeroes it
        with m.If(clear_votes | core.pres_begin | (clear_counters & (core.presentations != 0))):
            m.d.sync += vote_ok.eq(0)

    def _fixed_replies(self, m: Module, r: SimpleNamespace) -> None:
        """The bytes of the short fixed-size replies (INFO, GET_PARAMS, RUN), and the counter
        words of READ_COUNTERS."""
        L, core = r.L, r.core
        info = self.info().pack()
        records = {
            Command.INFO: [Const(b, 8) for b in info],
            Command.GET_PARAMS: le_bytes(r.p_eta, 2)
            + [Cat(r.p_learn, r.p_prune, Const(0, 6))] + le_bytes(r.p_thr, 2),
            Command.RUN: le_bytes(r.run_pres, 1) + le_bytes(r.spikes.total, 4)
            + le_bytes(r.spikes.count, 2),
        }
        # The long ones go out as words, as memory reads do (one word mux, then the byte of the
        # word): the counters are 8-byte words (cycles as the first word is latched), then
        # presentations (2 bytes) and alive connections (4) as one more; the votes are 2-byte
        # words.
        r.counter_words = [
            core.weight_updates if name == "weight_updates" else getattr(core.counters, name)
            for name in COUNTER_FIELDS] + [Cat(
                core.presentations, core.alive_count if L.pruning
                else Const(L.n_in * L.n_out, 32))]
        assert 8 * (len(r.counter_words) - 1) + 6 == Counters.size()
        r.cnt_word = Signal(64, name="cnt_word")
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
        r.rec_len = rec_len = {c: len(rec) for c, rec in records.items()}
        # the reply byte being sent
        r.pidx = Signal(range(max(rec_len.values())), name="pidx")
        r.rec_byte = Signal(8, name="rec_byte")
        with m.Switch(r.cmd):  # a mux tree on the few bits of pidx, not a decoder per byte
            for c, rec in records.items():
                with m.Case(c):
                    m.d.comb += r.rec_byte.eq(Cat(*rec).word_select(r.pidx, 8))

    def _memory_words(self, m: Module, r: SimpleNamespace) -> None:
        """The words of memory requests, read and written a byte at a time, and the ports of
        the memories they reach."""
        L, core, lab_r, lab_w, vote_ok = r.L, r.core, r.lab_r, r.lab_w, r.vote_ok
        r.cur_addr = cur_addr = Signal(32, name="cur_addr")
        r.remaining = Signal(16, name="remaining")  # words left
        r.bidx = Signal(3, name="bidx")  # byte of the word
        r.word = Signal(64, name="word")
        # the frame buffer byte being read
        r.rd_idx = Signal(range(r.MAXP + 1), name="rd_idx")
        m.d.comb += r.fb_r.addr.eq(r.rd_idx)
        # bytes per word - 1, of the current memory or spike reply
        r.nbytes_m1 = Signal(3, name="nbytes_m1")
        r.host_word = Signal(64, name="host_word")
        r.word_rd = Signal(64, name="word_rd")  # the word being sent
        m.d.comb += r.host_word.eq(Mux(r.sp_arg == Space.LABELS, r.label, core.host_r_data))
        # the label memory's ports: a vote's (label, class vote, write-back), else the host's
        # (a label, or with READ_VOTES a vote: class cur_addr)
        with m.If(core.o_spike.valid):
            m.d.comb += lab_r.addr.eq(core.o_spike.payload.neuron)
        with m.Elif(r.spike_d):
            m.d.comb += lab_r.addr.eq(L.n_out + r.label)
        with m.Elif(r.cmd == Command.READ_VOTES):
            m.d.comb += lab_r.addr.eq(L.n_out + cur_addr[:ceil_log2(N_CLASSES)])
        with m.Else():
            m.d.comb += lab_r.addr.eq(cur_addr)
        vote_new = Signal(VOTE_BITS)
        m.d.comb += vote_new.eq(Mux(vote_ok.bit_select(r.vote_cls, 1), lab_r.data, 0) + 1)
        m.d.comb += [lab_w.en.eq(r.vote_add),
                     lab_w.addr.eq(Mux(r.vote_add, r.vote_addr, cur_addr)),
                     lab_w.data.eq(Mux(r.vote_add, vote_new, r.word[:LABEL_BITS]))]
        m.d.comb += [core.host_space.eq(r.sp_arg[:3]), core.host_bank.eq(r.bank_arg),
                     core.host_addr.eq(cur_addr), core.host_w_data.eq(r.word),
                     r.spikes.r_addr.eq(cur_addr)]
        m.d.comb += core.clear_counters.eq(r.clear_counters)
        with m.Switch(cur_addr[:ceil_log2(len(r.counter_words))]):
            for k, w in enumerate(r.counter_words):
                with m.Case(k):
                    m.d.comb += r.cnt_word.eq(w)
        # READ_VOTES: class cur_addr's vote (on the read port)
        r.vote_word = Signal(VOTE_BITS, name="vote_word")
        m.d.comb += r.vote_word.eq(Mux(vote_ok.bit_select(cur_addr[:ceil_log2(N_CLASSES)], 1),
                                       lab_r.data, 0))

    def _check_states(self, m: Module, r: SimpleNamespace) -> None:
        """PRECHECK and CHECK: command, length, address, sample; then act."""
        L, cmd, length, error = r.L, r.cmd, r.length, partial(self._error, m, r)
        MAXP, sp_nbl, abits, count_arg = r.MAXP, r.sp_nbl, r.abits, r.count_arg
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
                bank_ok.eq(r.sp_ok & (r.bank_arg < r.sp_banks)),
                whole.eq(((length - MEM_HEADER) & ((1 << sp_nbl) - 1)) == 0),
                w_over.eq(r.addr_hi | (r.addr_arg[:abits] + words_in > r.sp_depth)),
                r_over.eq(r.addr_hi | (r.addr_arg[:abits] + count_arg > r.sp_depth)),
                r_big.eq((count_arg << sp_nbl) > 0xFFFF),
                s_over.eq(r.first_arg + r.spikes_arg > r.spikes.count),
            ]
            m.next = "CHECK"
        with m.State("CHECK"):
            m.d.sync += [r.status.eq(Status.OK), r.rlen.eq(0), r.pidx.eq(0), r.bidx.eq(0),
                         r.cur_addr.eq(r.addr_arg), r.rd_idx.eq(MEM_HEADER),
                         r.nbytes_m1.eq((1 << sp_nbl) - 1)]
            with m.Switch(cmd):
                with m.Case(Command.INFO, Command.GET_PARAMS, Command.READ_VOTES,
                            Command.READ_COUNTERS, Command.CLEAR_COUNTERS, Command.RUN):
                    with m.If(length != 0):
                        error(Status.BAD_LENGTH)
                    with m.Elif((cmd == Command.RUN) & ~r.loaded):
                        error(Status.NO_SAMPLE)
                    with m.Else():
                        self._accept_short(m, r)
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
                        m.d.sync += r.remaining.eq(words_in)
                        m.next = "WR_ADDR"
                with m.Case(Command.READ_MEM):
                    with m.If((length != READ_HEADER) | r_big):
                        error(Status.BAD_LENGTH)
                    with m.Elif(~bank_ok | r_over):
                        error(Status.BAD_ADDRESS)
                    with m.Else():
                        m.d.sync += [r.remaining.eq(count_arg), r.rlen.eq(count_arg << sp_nbl)]
                        m.next = "T_SYNC"
                with m.Case(Command.SET_PARAMS):
                    with m.If(length != Params.size()):
                        error(Status.BAD_LENGTH)
                    with m.Else():
                        head = r.head
                        m.d.sync += [r.p_eta.eq(head[0:16]), r.p_learn.eq(head[16]),
                                     r.p_prune.eq(head[17]), r.p_thr.eq(head[24:40])]
                        m.next = "T_SYNC"
                with m.Case(Command.LOAD_SAMPLE):
                    with m.If(length != L.n_in):
                        error(Status.BAD_LENGTH)
                    with m.Elif(r.loaded):
                        error(Status.SAMPLE_LOADED)
                    with m.Else():
                        m.d.sync += r.rd_idx.eq(0)
                        m.next = "LD_ADDR"
                with m.Case(Command.READ_SPIKES):
                    with m.If(length != 4):
                        error(Status.BAD_LENGTH)
                    with m.Elif(s_over):
                        error(Status.BAD_ADDRESS)
                    with m.Else():
                        m.d.sync += [r.remaining.eq(r.spikes_arg), r.cur_addr.eq(r.first_arg),
                                     r.rlen.eq(times_const(
                                         r.spikes_arg[:len(r.spikes.count)], SPIKE_BYTES)),
                                     r.nbytes_m1.eq(SPIKE_BYTES - 1)]
                        m.next = "T_SYNC"
                with m.Default():
                    error(Status.UNKNOWN_COMMAND)

    def _accept_short(self, m: Module, r: SimpleNamespace) -> None:
        """CHECK's action for a command without payload that passed its checks."""
        cmd = r.cmd
        for c in (Command.INFO, Command.GET_PARAMS):
            with m.If(cmd == c):
                m.d.sync += r.rlen.eq(r.rec_len[c])
        with m.If(cmd == Command.READ_VOTES):
            m.d.sync += [r.rlen.eq(2 * N_CLASSES), r.remaining.eq(N_CLASSES),
                         r.cur_addr.eq(0), r.nbytes_m1.eq(1)]
        with m.If(cmd == Command.READ_COUNTERS):
            m.d.sync += [r.rlen.eq(Counters.size()), r.cur_addr.eq(0),
                         r.remaining.eq(len(r.counter_words))]
        with m.If(cmd == Command.RUN):
            m.next = "RUN_START"
        with m.Elif(cmd == Command.CLEAR_COUNTERS):
            m.next = "CLEAR"
        with m.Else():
            m.next = "T_SYNC"

    def _action_states(self, m: Module, r: SimpleNamespace) -> None:
        """WRITE_MEM, LOAD_SAMPLE, RUN and CLEAR_COUNTERS, once CHECK has passed them."""
        L, core, bidx, rd_idx, remaining = r.L, r.core, r.bidx, r.rd_idx, r.remaining
        # ---- WRITE_MEM: assemble each word from the frame buffer, then write it ------------
        with m.State("WR_ADDR"):  # the frame buffer reads byte rd_idx
            m.next = "WR_BYTE"
        with m.State("WR_BYTE"):
            with m.Switch(bidx):
                for k in range(8):
                    with m.Case(k):
                        m.d.sync += r.word[8 * k:8 * k + 8].eq(r.fb_r.data)
            m.d.sync += [rd_idx.eq(rd_idx + 1), bidx.eq(bidx + 1)]
            with m.If(bidx == r.nbytes_m1):
                m.next = "WR_WORD"
            with m.Else():
                m.next = "WR_ADDR"
        with m.State("WR_WORD"):
            with m.If(r.sp_arg == Space.LABELS):
                m.d.comb += r.lab_w.en.eq(1)  # never beside a vote: the core is idle
            with m.Else():
                m.d.comb += core.host_w_en.eq(1)
            m.d.sync += [r.cur_addr.eq(r.cur_addr + 1), remaining.eq(remaining - 1),
                         bidx.eq(0), r.word.eq(0)]
            with m.If(remaining == 1):
                m.next = "T_SYNC"
            with m.Else():
                m.next = "WR_ADDR"

        # ---- LOAD_SAMPLE: stream the pixels into the core ----------------------------------
        with m.State("LD_ADDR"):
            m.next = "LD_PUSH"
        with m.State("LD_PUSH"):
            m.d.comb += [core.i_pixel.valid.eq(1), core.i_pixel.payload.eq(r.fb_r.data)]
            with m.If(core.i_pixel.ready):
                m.d.sync += rd_idx.eq(rd_idx + 1)
                with m.If(rd_idx == L.n_in - 1):
                    m.d.sync += r.loaded.eq(1)
                    m.next = "T_SYNC"
                with m.Else():
                    m.next = "LD_ADDR"

        # ---- RUN: start the core and wait until it is idle again ---------------------------
        with m.State("RUN_START"):
            m.d.comb += [core.start.eq(1), r.clear_votes.eq(1), r.spikes.clear.eq(1)]
            m.d.sync += [r.run_pres.eq(0), r.loaded.eq(0)]
            m.next = "RUN_WAIT"
        with m.State("RUN_WAIT"):
            with m.If(core.idle):
                m.d.sync += r.rlen.eq(r.rec_len[Command.RUN])
                m.next = "T_SYNC"

        with m.State("CLEAR"):
            m.d.comb += r.clear_counters.eq(1)
            m.next = "T_SYNC"

    def _reply_states(self, m: Module, r: SimpleNamespace) -> None:
        """T_SYNC to T_CRC1: the reply, a fixed-size record or memory words read one by one."""
        cmd, rlen, bidx, remaining = r.cmd, r.rlen, r.bidx, r.remaining
        send = partial(self._send, m, r)
        self._reply_frame(m, r)
        with m.State("T_LEN1"):
            with m.If(rlen == 0):
                send(rlen[8:], "T_CRC0")
            with m.Elif((cmd == Command.READ_MEM) | (cmd == Command.READ_SPIKES)
                        | (cmd == Command.READ_VOTES) | (cmd == Command.READ_COUNTERS)):
                send(rlen[8:], "M_READ")
            with m.Else():
                send(rlen[8:], "T_REC")
        with m.State("T_REC"):  # a fixed-size reply
            send(r.rec_byte, "T_REC", actions=[r.pidx.eq(r.pidx + 1)])
            with m.If(r.sent & (r.pidx == (rlen - 1)[:len(r.pidx)])):
                m.next = "T_CRC0"
        with m.State("M_READ"):  # read the next word; it is there two cycles later
            with m.If(cmd == Command.READ_MEM):
                with m.If(r.sp_arg != Space.LABELS):
                    m.d.comb += r.core.host_r_en.eq(1)
            with m.If(cmd == Command.READ_COUNTERS):  # the last word has 6 bytes
                m.d.sync += r.nbytes_m1.eq(Mux(remaining == 1, 5, 7))
            m.d.sync += bidx.eq(0)
            m.next = "M_WAIT"
        with m.State("M_WAIT"):  # the learning core's host reads take two cycles
            m.next = "M_LATCH"
        with m.State("M_LATCH"):  # registered, so no read port drives the CRC logic
            with m.Switch(cmd):
                with m.Case(Command.READ_SPIKES):
                    m.d.sync += r.word_rd.eq(r.spikes.r_data)
                with m.Case(Command.READ_COUNTERS):
                    m.d.sync += r.word_rd.eq(r.cnt_word)
                with m.Case(Command.READ_VOTES):
                    m.d.sync += r.word_rd.eq(r.vote_word)
                with m.Default():
                    m.d.sync += r.word_rd.eq(r.host_word)
            m.next = "M_BYTES"
        with m.State("M_BYTES"):
            byte = Signal(8)
            with m.Switch(bidx):
                for k in range(8):
                    with m.Case(k):
                        m.d.comb += byte.eq(r.word_rd[8 * k:8 * k + 8])
            send(byte, "M_BYTES", actions=[bidx.eq(bidx + 1)])
            with m.If(r.sent & (bidx == r.nbytes_m1)):
                m.d.sync += [r.cur_addr.eq(r.cur_addr + 1), remaining.eq(remaining - 1)]
                with m.If(remaining == 1):
                    m.next = "T_CRC0"
                with m.Else():
                    m.next = "M_READ"
