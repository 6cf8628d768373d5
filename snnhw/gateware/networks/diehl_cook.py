"""The learning core: rate encoder, WTA LIF layer with adaptive thresholds, STDP and weight
normalisation, all on chip. ``snnhw.golden.networks.diehl_cook`` is its specification.

Memory organisation (P lanes, NPL = ceil(n_out / P) neuron groups, NIG = ceil(n_in / P)
input groups):

* weights: P banks, ``W[i, j]`` in bank ``(i + j) % P`` at ``i * NPL + j // P`` (see ir.py);
* neuron state: P banks of NPL words ``{v, ref, count}``, thetas in P banks of their own;
* per input ``i`` (bank ``i % P``, address ``i // P``): last spike time, rounding generator;
* per list slot ``k`` (bank ``k % P``, address ``k // P``): the k-th non-zero pixel and its
  encoder generator;
* events of a timestep, compacted: event ``e`` in bank ``e % P``, double-buffered by timestep.

Two engines run concurrently. The encoder turns P list slots per cycle into input events for
timestep ``s + 1`` while the processor works on timestep ``s``: it integrates each event over
the NPL neuron groups (all lanes at once), scans the groups for the winner, resets, and runs a
post-spike STDP pass over the winner's fan-in, P inputs per cycle.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ...ir import (
    COL_TAIL,
    END_TAIL,
    FIRE_DRAIN,
    SPACE_MEMORY,
    LayerIR,
    LearningLayerIR,
    Space,
    bits_for,
    ceil_log2,
    spram_holds,
)
from ..blocks.banks import add_banks, bank_ports
from ..blocks.encoder import EncoderLane
from ..blocks.neuron import NeuronLane, margin_bits
from ..blocks.normalize import Divider
from ..blocks.pruning import PruneCut, WordWalk
from ..blocks.rng import xorshift16
from ..blocks.stdp import ColumnUpdate, depressed, depression
from ..blocks.wta import WinnerTree, better, candidate_layout
from ..common import saturating_counters, times_const
from ..layouts import COUNTER_NAMES, CountersSignature

__all__ = ["LearningCore", "LearnSpace", "SYNAPSE_RAMS"]

SYNAPSE_RAMS = ("block", "spram")  # LearningCore.synapse_ram

#: Memories the host can read and write (while the core is idle): the spaces of
#: :class:`snnhw.ir.Space` the learning core has (all but the SoC's LABELS), as an Amaranth
#: enum (3 bits). WEIGHT: bank, word; STATE: lane, group ({v, ref, count}); THETA: lane,
#: group; ENC_GEN: bank k % P, word k // P, the encoder generator of list slot k; IN_GEN:
#: bank i % P, word i // P, the rounding generator of input i; ALIVE: bank, word of the
#: alive bitmap (``LearningLayerIR.alive_location``).
LearnSpace = enum.Enum("LearnSpace", [(s.name, s.value) for s in Space if s in SPACE_MEMORY])


class _Op(enum.Enum, shape=3):
    NONE = 0
    CLEAR = 1
    INTEG = 2
    FIRE = 3
    RESET = 4
    DECAY = 5


class _Col(enum.Enum, shape=2):
    NONE = 0
    STDP = 1
    SUM = 2
    RESCALE = 3


class _P(enum.Enum, shape=4):  # processor phases
    IDLE = 0
    CLEAR = 1
    WAIT = 2  # for the encoder to finish the next timestep
    INTEG = 3
    FIRE = 4
    DRAIN = 5  # the last FIRE op's result
    RESET = 6
    STDP = 7
    STEP_END = 8
    DECAY = 9
    NORM_SCAN = 10
    NORM_SUM = 11
    NORM_DIV = 12
    NORM_SCALE = 13
    PRES_END = 14


class LearningCore(wiring.Component):
    """Learning layer of ``n_out`` WTA LIF neurons with on-chip encoder, STDP and normalisation.

    Host protocol: while ``idle``, stream the ``n_in`` pixels of a sample on ``i_pixel``; set
    ``learn`` and ``eta``, pulse ``start``, and hold ``eta`` until the core is idle again (it
    is not sampled: ``learn`` is). The core presents the sample (again with more
    intensity while it makes too few spikes), learning if asked, emits each spike on
    ``o_spike`` (``neuron``, ``timestep``, ``attempt``), and returns to ``idle``. Weights,
    state, thresholds and generators are reachable through ``host`` while idle.
    """

    def __init__(self, layer: LayerIR, *, synapse_ram: str = "block") -> None:
        if synapse_ram not in SYNAPSE_RAMS:
            self._MustUse__silence = True
            raise ValueError(f"Synapse RAM must be one of {', '.join(SYNAPSE_RAMS)}, not "
                             f"{synapse_ram!r}")
        self._synapse_ram = synapse_ram
        if not isinstance(layer, LearningLayerIR):
            raise TypeError(f"Layer must be a LearningLayerIR, not {layer!r}")
        if layer.stdp is None or layer.inhibition != "wta" or layer.weight_signed:
            self._MustUse__silence = True  # never elaborated: don't warn about it
            raise ValueError("LearningCore needs stdp.enabled, inhibition = \"wta\" and unsigned "
                             "weights")
        self._layer = layer
        P = layer.lanes
        self._nig = layer.nig
        self._count_bits = layer.count_bits
        self._t_bits = layer.t_bits
        state_bits = sum(bits for _, bits, _ in layer.learning_state_fields())
        data_bits = max(layer.weight_bits, state_bits, layer.theta_bits, 16,
                        layer.pruning.chunk_bits if layer.pruning else 0)
        addr_bits = max(layer.bank_addr_bits, ceil_log2(max(2, self._nig)), layer.group_bits,
                        ceil_log2(layer.n_in * layer.alive_stride) if layer.pruning else 0)
        super().__init__({
            "i_pixel": In(stream.Signature(unsigned(8))),
            "start": In(1),
            "learn": In(1),
            "eta": In(16),
            "o_spike": Out(stream.Signature(data.StructLayout({
                "neuron": unsigned(layer.neuron_bits),
                "timestep": unsigned(self._t_bits),
                "attempt": unsigned(4)}))),
            "host_space": In(LearnSpace),
            "host_bank": In(range(max(2, P))),
            "host_addr": In(addr_bits),
            "host_w_data": In(data_bits),
            "host_w_en": In(1),
            "host_r_en": In(1),
            "host_r_data": Out(data_bits),
            "idle": Out(1),
            "counters": Out(CountersSignature(counter_bits=layer.counter_bits)),
            "weight_updates": Out(layer.counter_bits),
            "presentations": Out(16),
            "pres_begin": Out(1),  # one-cycle pulse: a presentation begins (presentations + 1)
            "clear_counters": In(1),
            **({"prune": In(1),  # this sample may prune (sampled at start)
                "alive_count": Out(layer.alive_count_bits)}
               if layer.pruning else {}),
            # the connectivity schedule's threshold for this sample (sampled at start)
            **({"prune_threshold": In(layer.weight_bits)}
               if layer.pruning and layer.pruning.target_permille else {}),
        })

    @property
    def layer(self) -> LayerIR:
        return self._layer

    @property
    def alive_in_spram(self) -> bool:
        """With SPRAM, the pruning bitmap is there too (words of up to 16 bits; empty until
        the host writes it, as the weights)."""
        return self._synapse_ram == "spram" and any(
            m.name == "alive" and spram_holds(m) for m in self._layer.memories)

    @property
    def synapse_ram(self) -> str:
        """Where the weights are: ``"block"`` (block RAM, loaded with the IR's initial
        weights) or ``"spram"`` (iCE40UP5K SPRAM through :class:`SPRAMStore`, clocked by a
        ``fast`` domain at twice ``sync``; empty until the host writes the weights, and the
        pruning bitmap with them, :attr:`alive_in_spram`)."""
        return self._synapse_ram

    def elaborate(self, platform):
        m = Module()
        s = SimpleNamespace()  # the signals and sizes the engines share
        for engine in (
                self._constants, self._memories, self._loader, self._run_control, self._encoder,
                self._neuron_issue, self._neuron_lanes, self._wta, self._column_issue,
                self._column_lanes, self._weight_writes, self._last_spikes, self._event_reader,
                self._pruning_walk, self._fsm, self._outputs, self._counters,
        ):
            engine(m, s)
        return m

    def _constants(self, m, s):
        """Sizes, layouts and widths every engine uses."""
        L = self._layer
        P, NPL, NIG = L.lanes, L.npl, self._nig
        enc, sd = L.encoder, L.stdp
        T = enc.steps  # timesteps with input, then rest timesteps without
        wb, mb = L.weight_bits, L.membrane_bits
        cb, tb = self._count_bits, self._t_bits
        nb = max(2, NIG)

        state_l = data.StructLayout({name: signed(bits) if sgn else unsigned(bits)
                                     for name, bits, sgn in L.learning_state_fields()})
        pair = bool(sd.eta_pre)  # pre-spike depression (pair STDP)
        # an input's weight row (index * NPL: no multiplier on the way to the weight
        # address), bank and word; with pruning also its index, for the bitmap row
        slot_fields = {name: unsigned(bits) for name, bits in L.slot_fields()}
        list_l = data.StructLayout({**slot_fields, "value": unsigned(8)})
        last_l = data.StructLayout({"valid": unsigned(1), "t": unsigned(tb)})
        ev_l = data.StructLayout(slot_fields)

        def ev_row(ev):
            """An event's weight row, bank and word (one lane: derived from its index)."""
            if "row" in slot_fields:
                return ev.row, ev.mod, ev.div
            return times_const(ev.index, NPL), Const(0, 1), ev.index
        s.L, s.NIG, s.NPL, s.P, s.T, s.cb, s.enc, s.ev_l = L, NIG, NPL, P, T, cb, enc, ev_l
        s.ev_row, s.last_l, s.list_l, s.mb, s.nb, s.pair = ev_row, last_l, list_l, mb, nb, pair
        s.sd, s.slot_fields, s.state_l, s.tb, s.wb = sd, slot_fields, state_l, tb, wb

    def _memories(self, m, s):
        """The memories (see the module docstring)."""
        L, ev_l, last_l, list_l, sd, state_l = s.L, s.ev_l, s.last_l, s.list_l, s.sd, s.state_l
        # -- memories (blocks/banks.py) -------------------------------------------------------
        banks = add_banks(m, L, state_l=state_l, list_l=list_l, last_l=last_l, ev_l=ev_l,
                          spram=self._synapse_ram == "spram", alive_spram=self.alive_in_spram)
        W, S, TH, LST, EG, IG, LS, EV, AL = (banks.W, banks.S, banks.TH, banks.LST, banks.EG,
                                             banks.IG, banks.LS, banks.EV, banks.AL)
        trace_rom = banks.trace_rom
        C = NC = NS = NSB = cb_shift = None
        if L.pruning:
            C, NC = L.pruning.chunk_bits, L.chunks
            NS, NSB = L.alive_stride, ceil_log2(L.alive_stride)  # words per row: 2**NSB >= NC
            cb_shift = ceil_log2(C)
        trace_last = sd.trace_depth - 1  # ages from here on read this entry

        idle = Signal()
        host_ok = Signal()
        m.d.comb += [host_ok.eq(idle), self.idle.eq(idle)]
        s.AL, s.C, s.EG, s.EV, s.IG, s.LS, s.LST, s.NC, s.NS = AL, C, EG, EV, IG, LS, LST, NC, NS
        s.NSB, s.S, s.TH, s.W, s.cb_shift, s.host_ok = NSB, S, TH, W, cb_shift, host_ok
        s.idle, s.trace_last, s.trace_rom = idle, trace_last, trace_rom

    def _loader(self, m, s):
        """Sample loader: pixels in, non-zero ones appended to the list."""
        L, LST, NPL, P, idle, nb, slot_fields = s.L, s.LST, s.NPL, s.P, s.idle, s.nb, s.slot_fields
        # -- sample loader: pixels in, non-zero ones appended to the list ----------------------
        ld_i = Signal(range(L.n_in + 1))
        ld_row = Signal(range(L.bank_depth + 1))  # ld_i * NPL
        ld_imod = Signal(range(max(2, P)))
        ld_idiv = Signal(range(nb))
        list_len = Signal(range(L.n_in + 1))
        ld_kmod = Signal(range(max(2, P)))
        ld_kdiv = Signal(range(nb))
        lst_w = [LST[b].write_port() for b in range(P)]
        m.d.comb += self.i_pixel.ready.eq(idle & (ld_i < L.n_in))
        take = self.i_pixel.valid & self.i_pixel.ready
        for b in range(P):
            m.d.comb += [
                lst_w[b].addr.eq(ld_kdiv),
                lst_w[b].data.value.eq(self.i_pixel.payload),
                lst_w[b].en.eq(take & (self.i_pixel.payload != 0) & (ld_kmod == b)),
            ]
            if "row" in slot_fields:
                m.d.comb += [lst_w[b].data.row.eq(ld_row), lst_w[b].data.mod.eq(ld_imod),
                             lst_w[b].data.div.eq(ld_idiv)]
            if "index" in slot_fields:
                m.d.comb += lst_w[b].data.index.eq(ld_i)
        with m.If(take):
            m.d.sync += [ld_i.eq(ld_i + 1), ld_row.eq(ld_row + NPL)]
            with m.If(ld_imod == P - 1):
                m.d.sync += [ld_imod.eq(0), ld_idiv.eq(ld_idiv + 1)]
            with m.Else():
                m.d.sync += ld_imod.eq(ld_imod + 1)
            with m.If(self.i_pixel.payload != 0):
                m.d.sync += list_len.eq(list_len + 1)
                with m.If(ld_kmod == P - 1):
                    m.d.sync += [ld_kmod.eq(0), ld_kdiv.eq(ld_kdiv + 1)]
                with m.Else():
                    m.d.sync += ld_kmod.eq(ld_kmod + 1)
        s.ld_i, s.ld_idiv, s.ld_imod, s.ld_kdiv = ld_i, ld_idiv, ld_imod, ld_kdiv
        s.ld_kmod, s.ld_row, s.list_len = ld_kmod, ld_row, list_len

    def _run_control(self, m, s):
        """Run control: a run's parameters, sampled at start."""
        L, T, cb, enc, idle, ld_i, wb = s.L, s.T, s.cb, s.enc, s.idle, s.ld_i, s.wb
        # -- run control ---------------------------------------------------------------------
        phase = Signal(_P)
        in_integ = Signal()  # phase == INTEG, as a register of its own (it picks SPRAM addresses)
        learning = Signal()
        eta = self.eta  # held by the host while the core runs (the SoC takes no command then)
        attempt = Signal(4)
        intensity = Signal(8)
        spikes_total = Signal(cb + 1)
        running = Signal()
        step = Signal(range(T + 1))  # processor's timestep
        proc_started = Signal(range(T + 1))  # timesteps the processor has begun
        enc_done = Signal(range(T + 1))  # timesteps fully encoded
        pres_start = Signal()  # one-cycle pulse: a presentation begins
        start_run = Signal()
        m.d.comb += start_run.eq(self.start & idle & (ld_i == L.n_in))
        pruning = Signal()  # this sample may prune
        prune_thr = Signal(wb)  # at or below it, a written weight is pruned
        if L.pruning:
            with m.If(start_run):
                m.d.sync += pruning.eq(self.prune & self.learn)
            if L.pruning.target_permille:
                with m.If(start_run):
                    m.d.sync += prune_thr.eq(self.prune_threshold)
            else:
                m.d.comb += prune_thr.eq(L.pruning.threshold)
        with m.If(start_run):
            m.d.sync += [learning.eq(self.learn), attempt.eq(0),
                         intensity.eq(enc.intensity), running.eq(1)]
        s.attempt, s.enc_done, s.eta, s.in_integ = attempt, enc_done, eta, in_integ
        s.intensity, s.learning, s.phase, s.pres_start = intensity, learning, phase, pres_start
        s.proc_started, s.prune_thr, s.pruning = proc_started, prune_thr, pruning
        s.running, s.spikes_total, s.start_run, s.step = running, spikes_total, start_run, step

    def _encoder(self, m, s):
        """Encoder: P list slots per cycle -> compacted events of one timestep."""
        EG, EV, L, LST, NIG, P, T, enc = s.EG, s.EV, s.L, s.LST, s.NIG, s.P, s.T, s.enc
        enc_done, ev_l, host_ok, intensity = s.enc_done, s.ev_l, s.host_ok, s.intensity
        list_l, list_len, nb, pres_start = s.list_l, s.list_len, s.nb, s.pres_start
        proc_started, running, slot_fields = s.proc_started, s.running, s.slot_fields
        # -- encoder: P list slots per cycle -> compacted events of one timestep --------------
        enc_busy = Signal()
        enc_step = Signal(range(T + 1))
        enc_g = Signal(range(nb + 1))  # list group being read
        enc_s1 = Signal()  # S1 holds a valid group
        enc_s1_g = Signal.like(enc_g)
        ev_count = [Signal(range(L.n_in + 1), name=f"ev_count_{p}") for p in range(2)]
        enc_e = Signal(range(L.n_in + 1))  # events written so far this timestep
        n_groups = Signal(range(nb + 1))
        groups = (list_len + P - 1) // P if P > 1 else list_len
        # rest timesteps encode an empty list: no draws, no events
        m.d.comb += n_groups.eq(Mux(enc_step < enc.timesteps, groups, 0) if enc.rest else groups)
        lst_r = [LST[b].read_port() for b in range(P)]
        eg_r = [EG[b].read_port() for b in range(P)]
        eg_w = [EG[b].write_port() for b in range(P)]
        ev_w = [EV[b].write_port() for b in range(P)]
        enc_go = Signal()
        # The encoder may encode timestep s once the processor has begun timestep s - 1.
        m.d.comb += enc_go.eq(running & ~enc_busy & (enc_step < T) &
                              ((enc_step == 0) | (proc_started >= enc_step)) & ~pres_start)
        enc_issue = Signal()
        m.d.comb += enc_issue.eq(enc_busy & (enc_g < n_groups))
        with m.If(enc_go):
            m.d.sync += [enc_busy.eq(1), enc_g.eq(0), enc_e.eq(0)]
        with m.If(enc_issue):
            m.d.sync += enc_g.eq(enc_g + 1)
        # S1 registers the words read, S2 draws (and writes the generators back), S3 compacts
        enc_s2, enc_s3 = Signal(), Signal()
        enc_s2_g = Signal.like(enc_g)
        m.d.sync += [enc_s1.eq(enc_issue), enc_s1_g.eq(enc_g), enc_s2.eq(enc_s1),
                     enc_s2_g.eq(enc_s1_g), enc_s3.eq(enc_s2)]
        for b in range(P):
            m.d.comb += [lst_r[b].addr.eq(Mux(host_ok, self.host_addr, enc_g)),
                         eg_r[b].addr.eq(Mux(host_ok, self.host_addr, enc_g))]
        slot2 = [Signal(list_l, name=f"enc_slot2_{b}") for b in range(P)]
        enc_gen2 = [Signal(16, name=f"enc_gen2_{b}") for b in range(P)]
        for b in range(P):
            m.d.sync += [slot2[b].eq(lst_r[b].data), enc_gen2[b].eq(eg_r[b].data)]
        # S2: step each valid slot's generator, write it back, compare.
        rate = Signal(16)
        m.d.comb += rate.eq(times_const(intensity, enc.rate_scale))
        spike = Signal(P)  # S3: the slots that spiked, and their events
        slot3 = [Signal(ev_l, name=f"enc_slot3_{b}") for b in range(P)]
        for b in range(P):
            m.submodules[f"enc_lane_{b}"] = lane = EncoderLane(value_bits=len(slot2[b].value),
                                                               rate_bits=len(rate))
            m.d.comb += [lane.i_gen.eq(enc_gen2[b]), lane.i_value.eq(slot2[b].value),
                         lane.i_rate.eq(rate)]
            nxt = lane.o_gen
            slot_ok = (enc_s2_g * P + b) < list_len
            m.d.sync += [
                spike[b].eq(enc_s2 & slot_ok & lane.o_spike),
            ] + [getattr(slot3[b], f).eq(getattr(slot2[b], f)) for f in slot_fields]
            m.d.comb += [
                eg_w[b].addr.eq(Mux(host_ok, self.host_addr, enc_s2_g)),
                eg_w[b].data.eq(Mux(host_ok, self.host_w_data, nxt)),
                eg_w[b].en.eq(Mux(host_ok, self.host_w_en & (self.host_space == LearnSpace.ENC_GEN)
                                  & (self.host_bank == b), enc_s2 & slot_ok)),
            ]
        # S3: compact the spiking slots into the event banks
        parity = enc_step[0]
        # spike b of this group becomes event enc_e + (number of spikes below b)
        for dst in range(P):
            sel_valid = Signal(name=f"ev_sel_valid_{dst}")
            sel = Signal(range(max(2, P)), name=f"ev_sel_{dst}")
            rank = Signal(range(P + 1), name=f"ev_rank_{dst}")
            # destination bank dst receives the spike whose event number % P == dst
            m.d.comb += rank.eq((dst - enc_e) % P if P > 1 else 0)
            for b in reversed(range(P)):
                below = sum((spike[x] for x in range(b)), Const(0, range(P + 1)))
                with m.If(spike[b] & (below == rank)):
                    m.d.comb += [sel_valid.eq(1), sel.eq(b)]
            e_num = Signal(range(L.n_in + P + 1), name=f"ev_num_{dst}")
            m.d.comb += e_num.eq(enc_e + rank)
            src = Signal(ev_l, name=f"ev_src_{dst}")
            with m.Switch(sel):
                for b in range(P):
                    with m.Case(b):
                        m.d.comb += src.eq(slot3[b])
            m.d.comb += [
                ev_w[dst].addr.eq(parity * NIG + e_num // P if P > 1 else parity * NIG + e_num),
                ev_w[dst].data.eq(src),
                ev_w[dst].en.eq(sel_valid),
            ]
        popcount = sum((spike[b] for b in range(P)), Const(0, range(P + 1)))
        with m.If(enc_s3):
            m.d.sync += enc_e.eq(enc_e + popcount)
        enc_last = enc_busy & ~enc_issue & ~enc_s1 & ~enc_s2 & ~enc_s3  # everything written
        with m.If(enc_last):
            m.d.sync += [enc_busy.eq(0), enc_step.eq(enc_step + 1), enc_done.eq(enc_step + 1)]
            with m.If(parity):
                m.d.sync += ev_count[1].eq(enc_e)
            with m.Else():
                m.d.sync += ev_count[0].eq(enc_e)
        with m.If(pres_start):
            m.d.sync += [enc_step.eq(0), enc_done.eq(0), enc_busy.eq(0)]
        s.enc_gen2, s.ev_count = enc_gen2, ev_count

    def _neuron_issue(self, m, s):
        """Neuron-group pipeline: issue, addresses, reads and forwarding registers."""
        L, NPL, P, S, TH, W, host_ok, pair = s.L, s.NPL, s.P, s.S, s.TH, s.W, s.host_ok, s.pair
        state_l, step, trace_rom, wb = s.state_l, s.step, s.trace_rom, s.wb
        # -- neuron-group pipeline ------------------------------------------------------------
        # S0 issues an op and registers its addresses, SA reads, S1 registers the words read,
        # S2 computes each lane's new state and writes it back, S3 picks the FIRE ops' best
        # lane, S4 keeps the running best. The weight banks are wide and deep (tens of block
        # RAMs each): nothing but a register drives their addresses.
        op = Signal(_Op)
        op_k = Signal(range(max(2, NPL)))
        op_base = Signal(range(max(2, L.bank_depth)))  # S0 fields of the issued op (comb)
        op_rot = Signal(range(max(2, P)))
        base_reg = Signal.like(op_base)  # the current event's, held for groups 1..NPL-1
        rot_reg = Signal.like(op_rot)
        s_rd = [S[b].read_port() for b in range(P)]
        s_wr = [S[b].write_port() for b in range(P)]
        th_rd = [TH[b].read_port() for b in range(P)]
        th_wr = [TH[b].write_port() for b in range(P)]
        w_rd, w_wr = bank_ports(W, self._synapse_ram == "spram")
        post_rom = [trace_rom.read_port(domain="comb") for _ in range(P)]
        dep_w = [Signal(unsigned(wb), name=f"dep_w_{b}") for b in range(P)]  # lane b's new w
        dep_en = [Signal(name=f"dep_en_{b}") for b in range(P)]
        sa_op, s1_op, s2_op = Signal(_Op), Signal(_Op), Signal(_Op)
        sa_rot, s1_rot, s2_rot = (Signal.like(op_rot, name=f"{n}_rot") for n in ("sa", "s1", "s2"))
        sa_step, s1_step, s2_step = (Signal.like(step, name=f"{n}_step")
                                     for n in ("sa", "s1", "s2"))
        m.d.sync += [sa_op.eq(op), sa_rot.eq(op_rot), sa_step.eq(step),
                     s1_op.eq(sa_op), s1_rot.eq(sa_rot), s1_step.eq(sa_step),
                     s2_op.eq(s1_op), s2_rot.eq(s1_rot), s2_step.eq(s1_step)]
        # Each lane has its own group and valid bit: they differ only when a pruned row is
        # integrated (each lane then walks its own alive neurons); otherwise every lane takes
        # ``op_k`` and the op's validity.
        lk = [Signal.like(op_k, name=f"lk_{b}") for b in range(P)]
        lval = [Signal(name=f"lval_{b}") for b in range(P)]
        sa_lk = [Signal.like(op_k, name=f"sa_lk_{b}") for b in range(P)]
        sa_lval = [Signal(name=f"sa_lval_{b}") for b in range(P)]
        s1_lk = [Signal.like(op_k, name=f"s1_lk_{b}") for b in range(P)]
        s1_lval = [Signal(name=f"s1_lval_{b}") for b in range(P)]
        s2_lk = [Signal.like(op_k, name=f"s2_lk_{b}") for b in range(P)]
        s2_lval = [Signal(name=f"s2_lval_{b}") for b in range(P)]
        lane_scan = Signal()  # a pruned row is being integrated: lanes go their own way
        scan_k = [Signal.like(op_k, name=f"scan_k_{b}") for b in range(P)]
        scan_emit = [Signal(name=f"scan_emit_{b}") for b in range(P)]
        for b in range(P):
            m.d.comb += [lk[b].eq(Mux(lane_scan, scan_k[b], op_k)),
                         lval[b].eq(Mux(lane_scan, scan_emit[b], op != _Op.NONE))]
            m.d.sync += [sa_lk[b].eq(lk[b]), sa_lval[b].eq(lval[b]),
                         s1_lk[b].eq(sa_lk[b]), s1_lval[b].eq(sa_lval[b]),
                         s2_lk[b].eq(s1_lk[b]), s2_lval[b].eq(s1_lval[b])]

        def rotated(values, rot, q):
            """``values[(q - rot) % P]``: what lane serves bank ``q`` under rotation ``rot``."""
            out = Signal.like(values[0], name=f"rot_{values[0].name}_{q}")
            with m.Switch(rot):
                for r in range(P):
                    with m.Case(r):
                        m.d.comb += out.eq(values[(q - r) % P])
            return out
        # column pipeline addresses drive the weight read ports during column passes
        col_addr = [Signal(range(max(2, L.bank_depth)), name=f"col_addr_{b}") for b in range(P)]
        col_active = Signal()
        # each weight bank's read address (a column op's or a row's), registered in S0; it is
        # carried along for pair STDP's row write-back (ra[b][i]: i cycles after SA)
        ra = [[Signal(range(max(2, L.bank_depth)), name=f"w_ra_{b}")] for b in range(P)]
        for b in range(P):
            row_addr = op_base + (rotated(lk, op_rot, b) if L.pruning else op_k)
            m.d.sync += ra[b][0].eq(Mux(col_active, col_addr[b], row_addr))
            for i in range(1, 4 if pair else 1):  # pair STDP writes rows back from S2
                reg = Signal.like(ra[b][0], name=f"w_ra{i}_{b}")
                m.d.sync += reg.eq(ra[b][-1])
                ra[b].append(reg)
            m.d.comb += [
                s_rd[b].addr.eq(Mux(host_ok, self.host_addr, sa_lk[b])),
                th_rd[b].addr.eq(Mux(host_ok, self.host_addr, sa_lk[b])),
                w_rd[b].addr.eq(Mux(host_ok, self.host_addr, ra[b][0])),
            ]
        # S1: the words read, registered; the weights as they come from the banks (each
        # pipeline picks its lanes' banks in S2)
        r_s = [Signal(state_l, name=f"r_s_{b}") for b in range(P)]
        r_th = [Signal(L.theta_bits, name=f"r_th_{b}") for b in range(P)]
        w_bank = [Signal(unsigned(wb), name=f"w_bank_{b}") for b in range(P)]
        for b in range(P):
            m.d.sync += [r_s[b].eq(s_rd[b].data), r_th[b].eq(th_rd[b].data),
                         w_bank[b].eq(w_rd[b].data)]
        # Forwarding: an op in S2 read its words before the two ops ahead of it wrote theirs
        # (one is in S3, the other in S4); their new words wait in two registers per lane.
        fwd1_valid = [Signal(name=f"fwd1_valid_{b}") for b in range(P)]
        fwd1_k = [Signal.like(op_k, name=f"fwd1_k_{b}") for b in range(P)]
        fwd1_s = [Signal(state_l, name=f"fwd1_s_{b}") for b in range(P)]
        fwd1_th = [Signal(L.theta_bits, name=f"fwd1_th_{b}") for b in range(P)]
        fwd2_s = [Signal(state_l, name=f"fwd2_s_{b}") for b in range(P)]
        fwd2_th = [Signal(L.theta_bits, name=f"fwd2_th_{b}") for b in range(P)]
        for b in range(P):
            m.d.sync += [fwd1_valid[b].eq(s2_lval[b]), fwd1_k[b].eq(s2_lk[b]),
                         fwd2_s[b].eq(fwd1_s[b]), fwd2_th[b].eq(fwd1_th[b])]
        s.base_reg, s.col_active, s.col_addr, s.dep_en = base_reg, col_active, col_addr, dep_en
        s.dep_w, s.fwd1_k, s.fwd1_s, s.fwd1_th = dep_w, fwd1_k, fwd1_s, fwd1_th
        s.fwd1_valid, s.fwd2_s, s.fwd2_th, s.lane_scan = fwd1_valid, fwd2_s, fwd2_th, lane_scan
        s.op, s.op_base, s.op_k, s.op_rot, s.post_rom = op, op_base, op_k, op_rot, post_rom
        s.r_s, s.r_th, s.ra, s.rot_reg, s.rotated, s.s1_lk = r_s, r_th, ra, rot_reg, rotated, s1_lk
        s.s2_lk, s.s2_lval, s.s2_op, s.s2_rot, s.s2_step = s2_lk, s2_lval, s2_op, s2_rot, s2_step
        s.s_rd, s.s_wr, s.scan_emit, s.scan_k, s.th_wr = s_rd, s_wr, scan_emit, scan_k, th_wr
        s.w_bank, s.w_wr = w_bank, w_wr

    def _neuron_lanes(self, m, s):
        """Neuron-group pipeline, S2: each lane's new state, and its FIRE candidate."""
        L, NPL, P, cb, dep_en, dep_w, fwd1_k = s.L, s.NPL, s.P, s.cb, s.dep_en, s.dep_w, s.fwd1_k
        fwd1_s, fwd1_th, fwd1_valid, fwd2_s = s.fwd1_s, s.fwd1_th, s.fwd1_valid, s.fwd2_s
        fwd2_th, host_ok, learning, mb, op_k = s.fwd2_th, s.host_ok, s.learning, s.mb, s.op_k
        pair, post_rom, r_s, r_th, s1_lk = s.pair, s.post_rom, s.r_s, s.r_th, s.s1_lk
        s2_lk, s2_lval, s2_op, s2_rot, s2_step = s.s2_lk, s.s2_lval, s.s2_op, s.s2_rot, s.s2_step
        s_wr, sd, state_l, tb, th_wr = s.s_wr, s.sd, s.state_l, s.tb, s.th_wr
        trace_last, w_bank, wb = s.trace_last, s.w_bank, s.wb
        thr0 = L.threshold
        mw = margin_bits(mb, L.theta_bits)
        cand_l = candidate_layout(margin_bits=mw, k_bits=len(op_k),
                                  lane_bits=max(1, ceil_log2(P)), count_bits=cb)
        best = Signal(cand_l)  # S4: the best candidate of the FIRE pass so far
        most = Signal(cb)  # the most spikes of any neuron in this presentation
        win_k = Signal.like(op_k)
        win_lane = Signal(range(max(2, P)))
        valid_last = L.n_out - (NPL - 1) * P
        # S3: S2's FIRE candidates, registered straight into the winner tree's inputs. Not into
        # signals of their own connected to the tree: each register would then have two names
        # with an init value, and yosys (opt_dff, then opt_clean) stops on "Conflicting init
        # values" at the bits that are constant (a lane number's zeros).
        if P > 1:
            m.submodules.fire_tree = fire_tree = WinnerTree(cand_l, count=P)
            s3_cand = list(fire_tree.i_cands)
        else:  # one lane: nothing to reduce
            fire_tree = None
            s3_cand = [Signal(cand_l, name="s3_cand_0")]
        for b in range(P):
            cur = Signal(state_l, name=f"cur_{b}")
            th = Signal(L.theta_bits, name=f"th_{b}")
            s2_k = s2_lk[b]
            # whether the op in S2 hits a forwarding register, compared a cycle ahead (the
            # pipeline never stalls: the op in S1 meets in S2 the op now in S2 in fwd1, and the
            # one now in fwd1 in fwd2), so that only registers choose S2's words
            hit1 = Signal(name=f"fwd_hit1_{b}")
            hit2 = Signal(name=f"fwd_hit2_{b}")
            m.d.sync += [hit1.eq(s2_lval[b] & (s2_lk[b] == s1_lk[b])),
                         hit2.eq(fwd1_valid[b] & (fwd1_k[b] == s1_lk[b]))]
            m.d.comb += [cur.eq(Mux(hit1, fwd1_s[b], Mux(hit2, fwd2_s[b], r_s[b]))),
                         th.eq(Mux(hit1, fwd1_th[b], Mux(hit2, fwd2_th[b], r_th[b])))]
            w = Signal(unsigned(wb), name=f"w_{b}")  # lane b's weight, from bank (rot + b) % P
            with m.Switch(s2_rot):
                for r in range(P):
                    with m.Case(r):
                        m.d.comb += w.eq(w_bank[(r + b) % P])
            new = Signal(state_l, name=f"new_{b}")
            new_th = Signal(L.theta_bits, name=f"new_th_{b}")
            m.d.comb += [new.eq(cur), new_th.eq(th)]
            # the neuron's arithmetic (blocks/neuron.py); which result is written is the op's
            m.submodules[f"neuron_{b}"] = lane = NeuronLane(
                membrane_bits=mb, weight_bits=wb, weight_shift=L.weight_shift,
                leak_shift=L.leak_shift, threshold=thr0, theta_bits=L.theta_bits,
                ref_bits=L.ref_bits)
            m.d.comb += [lane.i_v.eq(cur.v), lane.i_ref.eq(cur.ref), lane.i_w.eq(w),
                         lane.i_theta.eq(th)]
            refr, leaked, margin = lane.o_refractory, lane.o_leaked, lane.o_margin
            real = Const(1) if b < valid_last else (s2_k != NPL - 1)
            m.d.sync += [
                s3_cand[b].valid.eq((s2_op == _Op.FIRE) & lane.o_may_fire & real),
                s3_cand[b].margin.eq(margin), s3_cand[b].k.eq(s2_k), s3_cand[b].lane.eq(b),
                s3_cand[b].count.eq(cur.count)]
            is_win = (s2_k == win_k) & (win_lane == b)
            with m.Switch(s2_op):
                with m.Case(_Op.CLEAR):
                    m.d.comb += [new.v.eq(0), new.ref.eq(0), new.count.eq(0)]
                    if pair:
                        m.d.comb += new.post_valid.eq(0)
                with m.Case(_Op.INTEG):
                    with m.If(~refr):
                        m.d.comb += new.v.eq(lane.o_integrated)
                    if pair:
                        with m.If(learning):
                            # pair STDP: the row just integrated is depressed by each
                            # neuron's post trace and written back to the bank it came from
                            age = Signal(tb + 1, name=f"post_age_{b}")
                            m.d.comb += [age.eq(s2_step - cur.post_t),
                                         post_rom[b].addr.eq(Mux(age > trace_last, trace_last,
                                                                 age))]
                            y = Mux(cur.post_valid, post_rom[b].data, 0)
                            if sd.rounding == "stochastic":
                                g2 = Signal(16, name=f"dep_gen_{b}")
                                m.d.comb += [g2.eq(xorshift16(cur.gen)), new.gen.eq(g2)]
                                u_dep = g2
                            else:
                                u_dep = Const(1 << 15 if sd.rounding == "nearest" else 0, 16)
                            # the arithmetic of blocks/stdp.py's RowDepression, assigned here
                            # under this op's case (as a submodule its result would be
                            # computed, and muxed, apart from it: not the same logic)
                            dep = Signal(32, name=f"dep_{b}")
                            m.d.comb += dep.eq(depression(y, u_dep, eta_pre=sd.eta_pre))
                            m.d.comb += [dep_w[b].eq(depressed(w, dep)),
                                         dep_en[b].eq(s2_lval[b])]
                with m.Case(_Op.FIRE):
                    with m.If(refr):
                        m.d.comb += new.ref.eq(cur.ref - 1)
                    with m.Else():
                        m.d.comb += new.v.eq(leaked)
                with m.Case(_Op.RESET):
                    m.d.comb += new.v.eq(0)
                    with m.If(is_win):
                        m.d.comb += [new.ref.eq(L.refractory), new.count.eq(cur.count + 1)]
                        if pair:
                            m.d.comb += [new.post_valid.eq(1), new.post_t.eq(s2_step)]
                        with m.If(learning):
                            # wide enough for any increment: saturate, never wrap
                            thn = Signal(max(L.theta_bits, bits_for(L.theta_increment)) + 1,
                                         name=f"thn_{b}")
                            m.d.comb += thn.eq(th + L.theta_increment)
                            m.d.comb += new_th.eq(Mux(thn > L.theta_max, L.theta_max, thn))
                with m.Case(_Op.DECAY):
                    m.d.comb += new_th.eq(th - (th >> L.theta_decay_shift))
            host_s = host_ok & self.host_w_en & (self.host_bank == b)
            m.d.comb += [
                s_wr[b].addr.eq(Mux(host_ok, self.host_addr, s2_k)),
                s_wr[b].data.eq(Mux(host_ok, self.host_w_data, new.as_value())),
                # DECAY changes theta only: its state write is left out (see scan_rd)
                s_wr[b].en.eq(Mux(host_ok, host_s & (self.host_space == LearnSpace.STATE),
                                  s2_lval[b] & (s2_op != _Op.DECAY))),
                th_wr[b].addr.eq(Mux(host_ok, self.host_addr, s2_k)),
                th_wr[b].data.eq(Mux(host_ok, self.host_w_data, new_th)),
                th_wr[b].en.eq(Mux(host_ok, host_s & (self.host_space == LearnSpace.THETA),
                                   s2_lval[b])),
            ]
            with m.If(s2_lval[b]):
                m.d.sync += [fwd1_s[b].eq(new), fwd1_th[b].eq(new_th)]
        s.best, s.cand_l, s.fire_tree, s.most, s.s3_cand = best, cand_l, fire_tree, most, s3_cand
        s.win_k = win_k
        s.win_lane = win_lane

    def _wta(self, m, s):
        """Neuron-group pipeline, S3 and S4: the winner of the FIRE pass."""
        best, cand_l, fire_tree, s3_cand = s.best, s.cand_l, s.fire_tree, s.s3_cand
        # S3: the FIRE op's lanes, ascending, reduced pairwise to the group's best candidate
        if fire_tree is not None:  # registered after the reduction tree
            s4_cand = Signal(cand_l)
            m.d.sync += s4_cand.eq(fire_tree.o_best)
        else:  # one lane: S3's candidate (best is final FIRE_DRAIN cycles after the op anyway)
            s4_cand = s3_cand[0]
        # S4: the group's best against the pass's best so far (groups come in ascending order)
        with m.If(better(best, s4_cand)):
            m.d.sync += best.eq(s4_cand)

    def _column_issue(self, m, s):
        """Column pipeline: issue and addresses."""
        IG, L, LS, NIG, NPL, P, col_active = s.IG, s.L, s.LS, s.NIG, s.NPL, s.P, s.col_active
        col_addr, eta, host_ok, most, nb, op_k = s.col_addr, s.eta, s.host_ok, s.most, s.nb, s.op_k
        sd, tb, trace_rom, win_lane = s.sd, s.tb, s.trace_rom, s.win_lane
        # -- column pipeline: P inputs of one neuron per cycle --------------------------------
        # S0 issues input group g (its addresses registered), SA reads, S1 registers the words
        # read, S2 looks up each input's trace and steps its generator, S3 multiplies, S4 clips
        # and writes the weights back.
        col = Signal(_Col)
        col_g = Signal(range(nb + 1))
        sac, s1c, s2c, s3c, s4c = (Signal(_Col, name=f"s{i}c") for i in "a1234")
        sac_g, s1c_g, s2c_g = (Signal.like(col_g, name=f"s{i}c_g") for i in "a12")
        m.d.sync += [sac.eq(col), sac_g.eq(col_g), s1c.eq(sac), s1c_g.eq(sac_g),
                     s2c.eq(s1c), s2c_g.eq(s1c_g), s3c.eq(s2c), s4c.eq(s3c)]
        m.d.comb += col_active.eq(col != _Col.NONE)
        ls_r = [LS[b].read_port() for b in range(P)]
        ls_w = [LS[b].write_port() for b in range(P)]
        ig_r = [IG[b].read_port() for b in range(P)]
        ig_w = [IG[b].write_port() for b in range(P)]
        rom = [trace_rom.read_port(domain="comb") for _ in range(P)]
        tj_k, tj_l = Signal.like(op_k), Signal.like(win_lane)  # the target neuron
        t_now = Signal(tb)
        k_factor = Signal(24)
        # adaptive potentiation: registered from ``most``, which changes in DRAIN and is
        # needed from the STDP pass on, at least NPL + 3 cycles later
        eta_p = Signal(16)
        if sd.adaptive:
            scaled_eta = (eta * most) >> sd.potentiation_shift
            m.d.sync += eta_p.eq(Mux(scaled_eta > 0xFFFF, 0xFFFF, scaled_eta))
        norm_skip = Signal()  # the neuron's weights sum to 0: draw, but leave them
        col_sum = Signal(range(L.n_in * L.wmax + 1))

        def column_counter(name, q, per_input, offset, shape, active=col_active):
            """Bank ``q``'s address of input group ``col_g`` for the target neuron, ``(col_g * P
            + (q - tj_l) % P) * per_input + offset``, counted, not multiplied: a register
            that loads the group-0 address while no column op issues (the target is set at
            least one cycle before a pass) and steps by ``P * per_input`` per op.

            ``active``: the stage it counts for (an op is issued, by default). A pass's ops
            follow each other every cycle, and passes are at least COL_TAIL cycles apart, so a
            later stage's address is counted the same way (no copies carried along)."""
            reg = Signal(shape, name=name)
            first = Signal.like(reg, name=f"{name}_first")
            with m.Switch(tj_l):
                for lane in range(P):
                    with m.Case(lane):
                        m.d.comb += first.eq((q - lane) % P * per_input + offset)
            with m.If(active):
                m.d.sync += reg.eq(reg + P * per_input)
            with m.Else():
                m.d.sync += reg.eq(first)
            return reg
        # input bank a serves input i = g*P + a; that weight sits in bank (a + j) % P at
        # address i * NPL + j // P
        for wbnk in range(P):
            m.d.comb += col_addr[wbnk].eq(column_counter(
                f"col_row_{wbnk}", wbnk, NPL, tj_k, range((NIG + 1) * P * NPL)))
        for a in range(P):
            m.d.comb += [ls_r[a].addr.eq(sac_g), ig_r[a].addr.eq(Mux(host_ok, self.host_addr,
                                                                       sac_g))]
        s.col, s.col_g, s.col_sum, s.column_counter = col, col_g, col_sum, column_counter
        s.eta_p, s.ig_r, s.ig_w, s.k_factor, s.ls_r = eta_p, ig_r, ig_w, k_factor, ls_r
        s.ls_w, s.norm_skip, s.rom, s.s2c, s.s2c_g, s.s3c = ls_w, norm_skip, rom, s2c, s2c_g, s3c
        s.s4c, s.t_now, s.tj_k, s.tj_l = s4c, t_now, tj_k, tj_l

    def _column_lanes(self, m, s):
        """Column pipeline, per input lane: S1 .. S4."""
        AL, C, L, P, cb_shift, eta, eta_p = s.AL, s.C, s.L, s.P, s.cb_shift, s.eta, s.eta_p
        host_ok, ig_r, ig_w, k_factor, last_l = s.host_ok, s.ig_r, s.ig_w, s.k_factor, s.last_l
        ls_r, norm_skip, prune_thr, pruning = s.ls_r, s.norm_skip, s.prune_thr, s.pruning
        rom, s2c, s2c_g, s4c, sd, t_now, tb = s.rom, s.s2c, s.s2c_g, s.s4c, s.sd, s.t_now, s.tb
        tj_k, tj_l, trace_last, w_bank, w_wr = s.tj_k, s.tj_l, s.trace_last, s.w_bank, s.w_wr
        wb = s.wb
        sum_terms = []
        col_writes, prunes = [], []  # per input lane: weight written, synapse pruned
        al_r, al_w = bank_ports(AL, self.alive_in_spram)
        if L.pruning:
            col_bit = Signal(range(max(2, C)))  # the target neuron's bit in its bitmap words
            m.d.comb += col_bit.eq(tj_k[:cb_shift] if cb_shift else 0)
            # per bank: the target's bit in the word just read, and the word without it,
            # carried from S1 to the write-back in S4
            bank_bit = [al_r[q].data.bit_select(col_bit, 1) for q in range(P)]
            cleared = [[Signal(C, name=f"al_cleared_{i}_{q}") for i in range(2, 5)]
                       for q in range(P)]
            for q in range(P):
                m.d.sync += [cleared[q][0].eq(al_r[q].data & ~(1 << col_bit)),
                             cleared[q][1].eq(cleared[q][0]), cleared[q][2].eq(cleared[q][1])]
        in_gen_draws = Const(1) if sd.rounding == "stochastic" else Const(0)
        col_gen2 = []  # each input bank's generator word, registered in S1 (and for the host)
        for a in range(P):
            wbnk_sel = Signal(range(max(2, P)), name=f"col_w_{a}")
            m.d.comb += wbnk_sel.eq((a + tj_l) % P if P > 1 else 0)
            # S1: register the last spike, generator and alive bit (from bank (a + j) % P);
            # the weight, registered with its bank's, is picked in S2
            wv2 = Signal(unsigned(wb), name=f"col_wv2_{a}")
            last2 = Signal(last_l, name=f"col_last2_{a}")
            gen2 = Signal(16, name=f"col_gen2_{a}")
            alive2 = Signal(name=f"col_alive2_{a}")
            m.d.sync += [last2.eq(ls_r[a].data), gen2.eq(ig_r[a].data)]
            col_gen2.append(gen2)
            with m.Switch(wbnk_sel):
                for r in range(P):
                    with m.Case(r):
                        m.d.comb += wv2.eq(w_bank[r])
                        m.d.sync += alive2.eq(bank_bit[r] if L.pruning else 1)
            # S2: the trace and the generator's next state (written back now)
            # column ops have col_g < NIG: every input lane is real unless P leaves a
            # partial last group
            in_ok2 = Signal(name=f"col_in_ok2_{a}")
            m.d.comb += in_ok2.eq((s2c_g * P + a) < L.n_in if L.n_in % P else 1)
            in_ok3 = Signal(name=f"col_in_ok3_{a}")
            in_ok4 = Signal(name=f"col_in_ok4_{a}")
            m.d.sync += [in_ok3.eq(in_ok2), in_ok4.eq(in_ok3)]
            age = Signal(tb + 1, name=f"age_{a}")
            m.d.comb += age.eq(t_now - last2.t)
            m.d.comb += rom[a].addr.eq(Mux(age > trace_last, trace_last, age))
            gen_next = Signal(16, name=f"ig_next_{a}")
            m.d.comb += gen_next.eq(xorshift16(gen2))
            draws_now = in_ok2 & alive2 & ((s2c == _Col.STDP) | (s2c == _Col.RESCALE))
            host_i = host_ok & self.host_w_en & (self.host_bank == a)
            m.d.comb += [
                ig_w[a].addr.eq(Mux(host_ok, self.host_addr, s2c_g)),
                ig_w[a].data.eq(Mux(host_ok, self.host_w_data, gen_next)),
                ig_w[a].en.eq(Mux(host_ok, host_i & (self.host_space == LearnSpace.IN_GEN),
                                  draws_now & in_gen_draws)),
            ]
            sum_terms.append(Mux(in_ok2 & (s2c == _Col.SUM), wv2, 0))
            # S3's registers are the STDP lane's inputs (blocks/stdp.py; registered straight
            # into them, not through signals of their own: see s3_cand)
            m.submodules[f"stdp_{a}"] = stdp = ColumnUpdate(weight_bits=wb, wmax=L.wmax,
                                                            adaptive=bool(sd.adaptive))
            # x - x_tar; the subtraction also keeps yosys from folding this register into the
            # trace ROM (a block RAM on some devices only; snnhw/fit.py counts it as logic)
            dx3, u3, wv3 = stdp.i_dx, stdp.i_u, stdp.i_w
            alive3 = Signal(name=f"col_alive3_{a}")
            if sd.rounding == "stochastic":
                u = gen_next
            else:
                u = Const(1 << 15 if sd.rounding == "nearest" else 0, 16)
            m.d.sync += [dx3.eq(Mux(last2.valid, rom[a].data, 0) - Const(sd.x_tar, signed(10))),
                         u3.eq(u), wv3.eq(wv2),
                         alive3.eq(alive2)]
            # S3: the multiplications, STDP's (in the STDP lane) and the rescale's
            m.d.comb += stdp.i_eta.eq(eta)
            if sd.adaptive:
                m.d.comb += stdp.i_eta_p.eq(eta_p)
            # (w * K + u) >> 16 in two halves of K, each one multiplier deep (no DSP feeds
            # another): the low half's sum's bits 16 and up, and the high half's product, added
            # in S4 (w * K[16:] << 16 has no bits below 16, so nothing is lost)
            sc_lo4 = Signal(wb + 1, name=f"col_sc_lo4_{a}")
            sc_hi4 = Signal(wb + 8, name=f"col_sc_hi4_{a}")
            m.d.sync += [sc_lo4.eq((wv3 * k_factor[:16] + u3) >> 16),
                         sc_hi4.eq(wv3 * k_factor[16:])]
            scaled4 = Signal(wb + 24 + 1 - 16, name=f"col_scaled4_{a}")
            m.d.comb += scaled4.eq(sc_lo4 + sc_hi4)
            alive4 = Signal(name=f"col_alive4_{a}")
            m.d.sync += alive4.eq(alive3)
            # S4: clip (the STDP lane's result, or the rescale's) and write back
            stdp_w = stdp.o_w
            rescale_w = Mux(scaled4 > L.wmax, L.wmax, scaled4)
            neww = Signal(unsigned(wb), name=f"col_new_{a}")
            m.d.comb += neww.eq(Mux(s4c == _Col.STDP, stdp_w, rescale_w))
            writes = in_ok4 & alive4 & ((s4c == _Col.STDP) |
                                        ((s4c == _Col.RESCALE) & ~norm_skip))
            col_writes.append(writes)
            if L.pruning:
                cut = Signal(name=f"prune_{a}")
                m.submodules[f"prune_cut_{a}"] = pcut = PruneCut(weight_bits=wb)
                m.d.comb += [pcut.i_alive.eq(writes & pruning), pcut.i_w.eq(neww),
                             pcut.i_threshold.eq(prune_thr), cut.eq(pcut.o_cut)]
                prunes.append(cut)
                for r in range(P):
                    with m.If(cut & (wbnk_sel == r)):
                        m.d.comb += [al_w[r].data.eq(cleared[r][2]), al_w[r].en.eq(1)]
            # the weight write of input a goes to bank (a + j) % P; a pruned weight becomes 0
            for r in range(P):
                with m.If(writes & (wbnk_sel == r)):
                    m.d.comb += [w_wr[r].data.eq(Mux(prunes[-1], 0, neww) if L.pruning
                                                 else neww), w_wr[r].en.eq(1)]
        s.al_r, s.al_w, s.col_gen2, s.col_writes = al_r, al_w, col_gen2, col_writes
        s.prunes, s.sum_terms = prunes, sum_terms

    def _weight_writes(self, m, s):
        """The weight banks' write ports: depression, column write-back, host."""
        NIG, NPL, P, col_sum, column_counter = s.NIG, s.NPL, s.P, s.col_sum, s.column_counter
        dep_en, dep_w, host_ok, pair, ra = s.dep_en, s.dep_w, s.host_ok, s.pair, s.ra
        s2_rot, s2c, s3c, s4c, sum_terms, tj_k = s.s2_rot, s.s2c, s.s3c, s.s4c, s.sum_terms, s.tj_k
        w_wr = s.w_wr
        # pre-spike depression (S2 of the integration ops): lane b's weight came from bank
        # (rot + b) % P (integration and column passes never share a cycle)
        for b in range(P):
            with m.Switch(s2_rot):
                for r in range(P):
                    with m.Case(r):
                        with m.If(dep_en[b]):
                            m.d.comb += [w_wr[(r + b) % P].data.eq(dep_w[b]),
                                         w_wr[(r + b) % P].en.eq(1)]
        for b in range(P):
            host_w = host_ok & self.host_w_en & (self.host_space == LearnSpace.WEIGHT) & \
                (self.host_bank == b)
            with m.If(host_ok):
                m.d.comb += [w_wr[b].addr.eq(self.host_addr), w_wr[b].data.eq(self.host_w_data),
                             w_wr[b].en.eq(host_w)]
            with m.Else():
                # the address of the op that writes: with pair STDP registered a cycle ahead,
                # the column op entering S4 (4 cycles after its SA) or the row op entering S2
                # (2 cycles); otherwise only column ops write, and S4's address is counted
                if pair:
                    wa = Signal.like(ra[b][0], name=f"w_wa_{b}")
                    m.d.sync += wa.eq(Mux(s3c != _Col.NONE, ra[b][3], ra[b][1]))
                else:  # the column op in S4's address, counted for S4
                    wa = column_counter(f"w_wa_{b}", b, NPL, tj_k,
                                        range((NIG + 1) * P * NPL), active=s4c != _Col.NONE)
                m.d.comb += w_wr[b].addr.eq(wa)
        tree = sum_terms
        while len(tree) > 1:
            tree = [tree[i] + tree[i + 1] if i + 1 < len(tree) else tree[i]
                    for i in range(0, len(tree), 2)]
        with m.If(s2c == _Col.SUM):
            m.d.sync += col_sum.eq(col_sum + tree[0])

    def _last_spikes(self, m, s):
        """Last-spike times and the divider's registers."""
        P, ls_w, nb, sd, step = s.P, s.ls_w, s.nb, s.sd, s.step
        # last-spike times: written by integration (one event at a time), cleared per
        # presentation
        ls_clear = Signal()
        ls_clear_g = Signal(range(nb))
        ev_mod = Signal(range(max(2, P)))
        ev_div = Signal(range(nb))
        ev_write = Signal()
        for a in range(P):
            m.d.comb += [
                ls_w[a].addr.eq(Mux(ls_clear, ls_clear_g, ev_div)),
                ls_w[a].data.valid.eq(~ls_clear),
                ls_w[a].data.t.eq(step),
                ls_w[a].en.eq(ls_clear | (ev_write & (ev_mod == a))),
            ]

        # -- divider: K = min((target << 16) // sum, K_MAX), one quotient bit per cycle ---------
        m.submodules.divider = divider = Divider(target=sd.normalize_target or 0,
                                                 divisor_bits=len(s.col_sum))
        m.d.comb += divider.divisor.eq(s.col_sum)
        s.divider = divider
        s.ev_div, s.ev_mod = ev_div, ev_mod
        s.ev_write, s.ls_clear, s.ls_clear_g = ev_write, ls_clear, ls_clear_g

    def _event_reader(self, m, s):
        """Processor registers and the event reader."""
        EV, L, NIG, NPL, P, enc_done, ev_l = s.EV, s.L, s.NIG, s.NPL, s.P, s.enc_done, s.ev_l
        ev_row, idle, nb, op, phase = s.ev_row, s.idle, s.nb, s.op, s.phase
        pres_start, running, s_rd, sd = s.pres_start, s.running, s.s_rd, s.sd
        slot_fields, step, t_now = s.slot_fields, s.step, s.t_now
        # -- processor FSM ---------------------------------------------------------------------
        k = Signal(range(max(2, NPL + 1)))
        g = Signal(range(nb + COL_TAIL))
        e = Signal(range(L.n_in + 1))
        n_events = Signal(range(L.n_in + 1))
        ev_more = [Signal(name=f"ev_more_{i}") for i in (1, 2)]  # e + 1, e + 2 < n_events
        cur_par = Signal()
        ev_r = [EV[b].read_port() for b in range(P)]
        ev_next = Signal(ev_l)  # the event the INTEG phase takes next
        fe = Signal(range(L.n_in + 2))
        fe_take = Signal()
        if L.pruning:
            # Rows take a variable number of cycles (one, at least): ``fe`` counts the events
            # taken, so event ``fe`` is always the one being read, and the address moves on in
            # the cycle that takes it; the event comes straight from the read port.
            with m.Switch(fe % P if P > 1 else 0):
                for b in range(P):
                    with m.Case(b):
                        m.d.comb += ev_next.eq(ev_r[b].data)
            # The address of event fe + fe_take, without an adder after fe_take (it comes late,
            # from the bitmap walk): fe_word = cur_par * NIG + fe // P, and its successor,
            # are registers; fe_take only chooses.
            fe_word = Signal(range(2 * NIG + 1))
            fe_next = Signal.like(fe_word)
            m.d.comb += fe_next.eq(fe_word + 1)
            fe_wrap = (fe % P == P - 1) if P > 1 else Const(1)  # fe + 1 is in the next word
            step_word = Mux(step[0], NIG, 0)  # event 0 of the timestep being waited for
            with m.If(phase == _P.WAIT):
                m.d.sync += [fe.eq(0), fe_word.eq(step_word)]
            with m.Elif(fe_take):
                m.d.sync += fe.eq(fe + 1)
                with m.If(fe_wrap):
                    m.d.sync += fe_word.eq(fe_next)
            for b in range(P):
                m.d.comb += ev_r[b].addr.eq(Mux(phase == _P.WAIT, step_word,
                                                Mux(fe_take & fe_wrap, fe_next, fe_word)))
        else:
            # Every event takes NPL cycles, and the event word is registered on its way from
            # the read port: event e is addressed two cycles before its first op, so during
            # event e the address is e + 1 (NPL >= 2) or e + 2 (NPL = 1). Outside INTEG the
            # address is event 0 of the timestep to be processed next (and, with NPL = 1, event
            # 1 in the last WAIT cycle); events are written at least two cycles before the
            # processor's first INTEG cycle (section 22), so both reads see them.
            rd_e = Signal(range(L.n_in + 3))  # the event addressed, and its buffer
            rd_par = Signal()
            rd_sel = Signal(range(max(2, P)))
            m.d.sync += rd_sel.eq(rd_e % P if P > 1 else 0)
            ev_port = Signal(ev_l)
            with m.Switch(rd_sel):
                for b in range(P):
                    with m.Case(b):
                        m.d.comb += ev_port.eq(ev_r[b].data)
            m.d.sync += ev_next.eq(ev_port)
            if "row" not in slot_fields:  # the row, index * NPL, before ev_next's register
                nx_row = Signal(range(max(2, L.bank_depth)))
                m.d.sync += nx_row.eq(ev_row(ev_port)[0])
            ahead = 1 if NPL > 1 else 2
            with m.Switch(phase):
                with m.Case(_P.INTEG):
                    m.d.comb += [rd_e.eq(e + ahead), rd_par.eq(cur_par)]
                with m.Case(_P.WAIT):
                    m.d.comb += [rd_e.eq(Mux(enc_done > step, ahead - 1, 0)),
                                 rd_par.eq(step[0])]
                with m.Case(_P.STEP_END):  # the next timestep's buffer
                    m.d.comb += [rd_e.eq(0), rd_par.eq(~step[0])]
                with m.Default():  # CLEAR (timestep 0); no other phase reads events
                    m.d.comb += [rd_e.eq(0), rd_par.eq(0)]
            for b in range(P):
                m.d.comb += ev_r[b].addr.eq(rd_par * NIG + (rd_e // P if P > 1 else rd_e))
        nx_row_comb, nx_mod, nx_div = ev_row(ev_next)
        if L.pruning or "row" in slot_fields:
            nx_row = nx_row_comb
        took_event = Signal()
        spike_now = Signal()
        scan_j = Signal(range(L.padded_out + 1))
        # The normalisation scan asks, one neuron j a cycle, whether j fired in this
        # presentation: count[j] > 0, read from the state banks two cycles ahead and
        # registered (scan_hit), so that no block RAM output drives the phase logic. The ports
        # are free then: NORM_SCAN and NORM_SCALE run no neuron ops, and the last two DECAY
        # cycles (the reads of j = 0 and 1) would read the state for DECAY ops, which write
        # theta only. After NORM_SCALE the scan goes on at scan_j + 1.
        scan_rd = Signal()
        scan_rd_j = Signal(range(L.padded_out + 3))
        scan_lane = Signal(range(max(2, P)))  # the lane of the word on the read ports
        scan_hit = Signal()  # count[scan_j] > 0
        g_last = NIG + COL_TAIL - 1  # NORM_SCALE's last cycle
        if sd.normalize_target:
            with m.Switch(phase):
                with m.Case(_P.DECAY):
                    m.d.comb += [scan_rd.eq(k >= NPL - 1), scan_rd_j.eq(k - (NPL - 1))]
                with m.Case(_P.NORM_SCAN):
                    m.d.comb += [scan_rd.eq(1), scan_rd_j.eq(scan_j + 2)]
                with m.Case(_P.NORM_SCALE):
                    m.d.comb += [scan_rd.eq(1), scan_rd_j.eq(scan_j + 1 + (g == g_last))]
            for b in range(P):
                with m.If(scan_rd):
                    m.d.comb += s_rd[b].addr.eq(scan_rd_j // P if P > 1 else scan_rd_j)
            m.d.sync += scan_lane.eq(scan_rd_j % P if P > 1 else 0)
            with m.Switch(scan_lane):
                for b in range(P):
                    with m.Case(b):
                        m.d.sync += scan_hit.eq(s_rd[b].data.count != 0)
        wait = Signal(range(max(FIRE_DRAIN, END_TAIL + 1, 3)))
        norm_prep = Signal()
        op_next = Signal(_Op)
        m.d.comb += [op.eq(op_next)]
        m.d.comb += [idle.eq(~running), pres_start.eq(0)]
        m.d.comb += t_now.eq(step)
        s.cur_par, s.e, s.ev_more, s.ev_next, s.fe_take = cur_par, e, ev_more, ev_next, fe_take
        s.g, s.k, s.n_events, s.norm_prep, s.nx_div = g, k, n_events, norm_prep, nx_div
        s.nx_mod, s.nx_row, s.op_next, s.scan_hit = nx_mod, nx_row, op_next, scan_hit
        s.scan_j, s.spike_now, s.took_event, s.wait = scan_j, spike_now, took_event, wait

    def _pruning_walk(self, m, s):
        """Pruning: each lane walks the alive bits of the row."""
        C, L, NC, NIG, NS, NSB, P, al_r = s.C, s.L, s.NC, s.NIG, s.NS, s.NSB, s.P, s.al_r
        al_w, cb_shift, column_counter, ev_next = s.al_w, s.cb_shift, s.column_counter, s.ev_next
        host_ok, in_integ, lane_scan, prunes = s.host_ok, s.in_integ, s.lane_scan, s.prunes
        rot_reg, rotated, s4c, scan_emit = s.rot_reg, s.rotated, s.s4c, s.scan_emit
        scan_k, tj_k = s.scan_k, s.tj_k
        # -- pruning: each lane walks the alive bits of the row, one bitmap word at a time ----
        primed = Signal()  # the first row's words have been fetched
        pick_ev = Signal()  # the bitmap ports present the next event's words (see below)
        al_fetch = Signal()  # present the next event's first words (word 0, every lane)
        row_done = Signal()  # every lane finishes the row in this cycle
        if L.pruning:
            row_i = Signal.like(ev_next.index)  # the row's input: its word c is (index, c)
            ev_base = Signal(range(max(2, L.n_in * NS)))  # the next event's word 0
            m.d.comb += ev_base.eq(Cat(Const(0, NSB), ev_next.index))
            sc_c = [Signal(range(max(2, NC)), name=f"sc_c_{b}") for b in range(P)]
            sc_rem = [Signal(C, name=f"sc_rem_{b}") for b in range(P)]
            sc_fresh = [Signal(name=f"sc_fresh_{b}") for b in range(P)]
            sc_single = [Signal(name=f"sc_single_{b}") for b in range(P)]  # sc_rem: <= 1 bit
            # sc_c == NC - 1, or the lane is done (while it walks: on its last word)
            sc_ll = [Signal(name=f"sc_ll_{b}") for b in range(P)]
            sc_done = [Signal(name=f"sc_done_{b}") for b in range(P)]
            finishing, ll_next = [], []
            for b in range(P):
                lane_word = Signal(C, name=f"sc_data_{b}")  # lane b's word, from bank (i + b) % P
                with m.Switch(rot_reg):
                    for r in range(P):
                        with m.Case(r):
                            m.d.comb += lane_word.eq(al_r[(r + b) % P].data)
                # the word's step (blocks/pruning.py): its lowest alive bit, the rest, and
                # whether it is used up now (rest == 0): counted without a carry chain, and for
                # the rest of a word a cycle ahead, as it is registered
                m.submodules[f"word_walk_{b}"] = walk = WordWalk(chunk_bits=C)
                m.d.comb += [walk.i_fresh.eq(sc_fresh[b]), walk.i_word.eq(lane_word),
                             walk.i_rem.eq(sc_rem[b]), walk.i_rem_single.eq(sc_single[b])]
                rest, last, low = walk.o_rest, walk.o_last, walk.o_low
                busy = lane_scan & ~sc_done[b]
                m.d.comb += [scan_emit[b].eq(busy & walk.o_any),
                             scan_k[b].eq((sc_c[b] << cb_shift) | low)]
                ends = Signal(name=f"sc_ends_{b}")
                m.d.comb += ends.eq(busy & last & sc_ll[b])
                ll_nx = Signal(name=f"sc_ll_next_{b}")  # sc_ll after this cycle, but for a take
                m.d.comb += ll_nx.eq(Mux(busy & last & ~sc_ll[b], sc_c[b] == NC - 2,
                                         sc_ll[b]))
                ll_next.append(ll_nx)
                finishing.append(ends)
                with m.If(busy):
                    with m.If(last):  # the word is used up (or was empty)
                        with m.If(sc_ll[b]):
                            m.d.sync += sc_done[b].eq(1)
                        with m.Else():
                            m.d.sync += [sc_c[b].eq(sc_c[b] + 1), sc_fresh[b].eq(1),
                                         sc_ll[b].eq(sc_c[b] == NC - 2)]
                    with m.Else():
                        m.d.sync += [sc_rem[b].eq(rest), sc_fresh[b].eq(0),
                                     sc_single[b].eq(walk.o_rest_single)]
            all_done = Const(1)
            for b in range(P):
                all_done = all_done & (sc_done[b] | finishing[b])
            m.d.comb += row_done.eq(lane_scan & all_done)
            # once every lane is on its row's last word (or done), the ports may fetch the next
            # row's word 0 already: pick_ev = ~primed | (sc_ll of every lane), kept as a
            # register of its own (only registers choose the address, never the words just
            # read); a take leaves every lane on word 0, and the last WAIT cycle sets it
            nx_all = Const(1)
            for b in range(P):
                nx_all = nx_all & ll_next[b]
            m.d.sync += pick_ev.eq(Mux(al_fetch, NC == 1, nx_all))
            with m.If(al_fetch):
                m.d.sync += row_i.eq(ev_next.index)
                for b in range(P):
                    m.d.sync += [sc_c[b].eq(0), sc_fresh[b].eq(1), sc_done[b].eq(0),
                                 sc_ll[b].eq(NC == 1)]
            # bitmap ports: host, column passes (input lane a reads bank (a + j) % P), or the
            # row walk (lane b reads bank (i + b) % P: its next word, or, from the cycle every
            # lane is on its last word, word 0 of the next event's row, which the cycle that
            # takes the event still presents: only registers choose the address)
            al_addr_shape = range(max(2, L.n_in * NS))
            for q in range(P):
                col_al = Signal(al_addr_shape, name=f"col_al_addr_{q}")
                m.d.comb += col_al.eq(column_counter(
                    f"col_al_row_{q}", q, NS, tj_k >> cb_shift, range((NIG + 1) * P * NS)))
                col_al_a = Signal(al_addr_shape, name=f"sac_al_addr_{q}")  # registered for SA
                m.d.sync += col_al_a.eq(col_al)
                # the op in S4's address (a prune writes the word back), counted for S4
                al_addr = column_counter(f"s4c_al_addr_{q}", q, NS, tj_k >> cb_shift,
                                         range((NIG + 1) * P * NS), active=s4c != _Col.NONE)
                nxt = rotated(sc_c, rot_reg, q)
                following = Signal(al_addr_shape, name=f"al_following_{q}")  # the row's next word
                m.d.comb += following.eq(Cat((nxt + 1)[:NSB], row_i))
                # the walk's address nearest the port (INTEG: no host access, no column pass);
                # in SPRAM the next event's word 0, read from the events' block RAM late in
                # the cycle, is the store's late address, past the rest of the choice
                if self.alive_in_spram:
                    m.d.comb += [al_r[q].addr.eq(Mux(in_integ, following,
                                                     Mux(host_ok, self.host_addr, col_al_a))),
                                 s.AL[q].rd_late.eq(ev_base),
                                 s.AL[q].rd_late_en.eq(in_integ & pick_ev)]
                else:
                    m.d.comb += al_r[q].addr.eq(
                        Mux(in_integ, Mux(pick_ev, ev_base, following),
                            Mux(host_ok, self.host_addr, col_al_a)))
                host_al = host_ok & self.host_w_en & (self.host_space == LearnSpace.ALIVE) & \
                    (self.host_bank == q)
                with m.If(host_ok):
                    m.d.comb += [al_w[q].addr.eq(self.host_addr),
                                 al_w[q].data.eq(self.host_w_data), al_w[q].en.eq(host_al)]
                with m.Else():
                    m.d.comb += al_w[q].addr.eq(al_addr)
            # connections alive: every prune in a column pass counts down, a cycle later (the
            # prunes are registered on their way, as the other counters' increments)
            alive_total = Signal.like(self.alive_count, init=L.n_in * L.n_out)
            pruned = Signal(range(P + 1))
            m.d.sync += pruned.eq(sum(prunes[1:], prunes[0]) if P > 1 else prunes[0])
            m.d.sync += alive_total.eq(alive_total - pruned)
            m.d.comb += self.alive_count.eq(alive_total)
        s.al_fetch, s.pick_ev, s.primed, s.row_done = al_fetch, pick_ev, primed, row_done

    def _fsm(self, m, s):
        """The processor's phases."""
        L, NIG, NPL, P, T, al_fetch, attempt = s.L, s.NIG, s.NPL, s.P, s.T, s.al_fetch, s.attempt
        base_reg, best, col, col_g, col_sum = s.base_reg, s.best, s.col, s.col_g, s.col_sum
        cur_par, divider, e, enc = s.cur_par, s.divider, s.e, s.enc
        enc_done, ev_count, ev_div, ev_mod = s.enc_done, s.ev_count, s.ev_div, s.ev_mod
        ev_more, ev_write, fe_take, g, in_integ = s.ev_more, s.ev_write, s.fe_take, s.g, s.in_integ
        intensity, k, k_factor, lane_scan, ld_i = s.intensity, s.k, s.k_factor, s.lane_scan, s.ld_i
        ld_idiv, ld_imod, ld_kdiv, ld_kmod = s.ld_idiv, s.ld_imod, s.ld_kdiv, s.ld_kmod
        ld_row, learning, list_len, ls_clear = s.ld_row, s.learning, s.list_len, s.ls_clear
        ls_clear_g, most, n_events, norm_prep = s.ls_clear_g, s.most, s.n_events, s.norm_prep
        norm_skip, nx_div, nx_mod, nx_row = s.norm_skip, s.nx_div, s.nx_mod, s.nx_row
        op_base, op_k, op_next, op_rot, phase = s.op_base, s.op_k, s.op_next, s.op_rot, s.phase
        pick_ev, pres_start, primed = s.pick_ev, s.pres_start, s.primed
        proc_started, rot_reg, row_done, running = s.proc_started, s.rot_reg, s.row_done, s.running
        scan_hit, scan_j, sd, spike_now = s.scan_hit, s.scan_j, s.sd, s.spike_now
        spikes_total, start_run, step, tj_k = s.spikes_total, s.start_run, s.step, s.tj_k
        tj_l, took_event, wait, win_k, win_lane = s.tj_l, s.took_event, s.wait, s.win_k, s.win_lane
        with m.Switch(phase):
            with m.Case(_P.IDLE):
                with m.If(start_run):
                    m.d.sync += [phase.eq(_P.CLEAR), k.eq(0), g.eq(0)]
            with m.Case(_P.CLEAR):
                # clear v, ref and counts, and the last-spike times; one word of each per cycle
                m.d.comb += pres_start.eq((k == 0) & (g == 0))
                with m.If(pres_start):
                    m.d.sync += [proc_started.eq(0), most.eq(0)]
                with m.If(k < NPL):
                    m.d.comb += [op_next.eq(_Op.CLEAR), op_k.eq(k)]
                    m.d.sync += k.eq(k + 1)
                with m.If(g < NIG):
                    m.d.comb += [ls_clear.eq(1), ls_clear_g.eq(g)]
                    m.d.sync += g.eq(g + 1)
                with m.If((k >= NPL - 1) & (g >= NIG - 1)):
                    m.d.sync += [phase.eq(_P.WAIT), step.eq(0), proc_started.eq(0),
                                 spikes_total.eq(0)]
            with m.Case(_P.WAIT):
                with m.If(enc_done > step):  # event 0's address is presented in this cycle
                    count = Mux(step[0], ev_count[1], ev_count[0])
                    m.d.sync += [proc_started.eq(step + 1), cur_par.eq(step[0]), e.eq(0),
                                 k.eq(0), n_events.eq(count),
                                 phase.eq(_P.INTEG), in_integ.eq(1), primed.eq(0),
                                 pick_ev.eq(1)]
                    if L.pruning:
                        m.d.sync += [ev_more[0].eq(count > 1), ev_more[1].eq(count > 2)]
            with m.Case(_P.INTEG):
                with m.If(e >= n_events):
                    m.d.sync += [phase.eq(_P.FIRE), in_integ.eq(0), k.eq(0), best.valid.eq(0)]
                with m.Else():
                    if L.pruning:
                        # one cycle fetches the first row's bitmap words; then the lanes walk each
                        # row, and the cycle that finishes a row fetches the next row's words
                        take = ~primed | (row_done & ev_more[0])
                        with m.If(take):
                            m.d.comb += [ev_write.eq(1), ev_mod.eq(nx_mod),
                                         ev_div.eq(nx_div), took_event.eq(1), al_fetch.eq(1),
                                         fe_take.eq(1)]
                            m.d.sync += [base_reg.eq(nx_row), rot_reg.eq(nx_mod),
                                         primed.eq(1)]
                        with m.If(primed):
                            m.d.comb += [lane_scan.eq(1), op_next.eq(_Op.INTEG),
                                         op_base.eq(base_reg), op_rot.eq(rot_reg)]
                            with m.If(row_done):
                                m.d.sync += [e.eq(e + 1), ev_more[0].eq(ev_more[1]),
                                             ev_more[1].eq(e + 3 < n_events)]
                    else:
                        with m.If(k == 0):
                            m.d.comb += [ev_write.eq(1), ev_mod.eq(nx_mod),
                                         ev_div.eq(nx_div), op_base.eq(nx_row),
                                         op_rot.eq(nx_mod), took_event.eq(1)]
                            m.d.sync += [base_reg.eq(nx_row), rot_reg.eq(nx_mod)]
                        with m.Else():
                            m.d.comb += [op_base.eq(base_reg), op_rot.eq(rot_reg)]
                        m.d.comb += [op_next.eq(_Op.INTEG), op_k.eq(k)]
                        with m.If(k == NPL - 1):
                            m.d.sync += [k.eq(0), e.eq(e + 1)]
                        with m.Else():
                            m.d.sync += k.eq(k + 1)
            with m.Case(_P.FIRE):
                m.d.comb += [op_next.eq(_Op.FIRE), op_k.eq(k)]
                with m.If(k == NPL - 1):
                    m.d.sync += [phase.eq(_P.DRAIN), k.eq(0)]
                with m.Else():
                    m.d.sync += k.eq(k + 1)
            with m.Case(_P.DRAIN):
                # the last FIRE op goes through SA, S1 .. S4 in the first FIRE_DRAIN - 1 cycles;
                # then ``best`` is final
                with m.If(wait < FIRE_DRAIN - 1):
                    m.d.sync += wait.eq(wait + 1)
                with m.Else():
                    m.d.sync += wait.eq(0)
                    with m.If(best.valid):
                        m.d.comb += spike_now.eq(1)
                        with m.If(best.count + 1 > most):
                            m.d.sync += most.eq(best.count + 1)
                        m.d.sync += [phase.eq(_P.RESET), k.eq(0), win_k.eq(best.k),
                                     win_lane.eq(best.lane), tj_k.eq(best.k),
                                     tj_l.eq(best.lane),
                                     spikes_total.eq(spikes_total + 1)]
                    with m.Else():
                        m.d.sync += phase.eq(_P.STEP_END)
            with m.Case(_P.RESET):
                m.d.comb += [op_next.eq(_Op.RESET), op_k.eq(k)]
                with m.If(k == NPL - 1):
                    m.d.sync += [k.eq(0), g.eq(0),
                                 phase.eq(Mux(learning, _P.STDP, _P.STEP_END))]
                with m.Else():
                    m.d.sync += k.eq(k + 1)
            with m.Case(_P.STDP):
                with m.If(g < NIG):
                    m.d.comb += [col.eq(_Col.STDP), col_g.eq(g)]
                with m.If(g < NIG + COL_TAIL - 1):  # the last op's SA, S1 .. S4
                    m.d.sync += g.eq(g + 1)
                with m.Else():
                    m.d.sync += phase.eq(_P.STEP_END)
            with m.Case(_P.STEP_END):
                m.d.sync += step.eq(step + 1)
                with m.If(step == T - 1):
                    m.d.sync += [phase.eq(Mux(learning, _P.DECAY, _P.PRES_END)), k.eq(0)]
                with m.Else():
                    m.d.sync += phase.eq(_P.WAIT)
            with m.Case(_P.DECAY):
                with m.If(k < NPL):
                    m.d.comb += [op_next.eq(_Op.DECAY), op_k.eq(k)]
                with m.If(k == NPL):  # one cycle more: the last op's S2 write lands
                    m.d.sync += [k.eq(0), scan_j.eq(0),
                                 phase.eq(_P.NORM_SCAN if sd.normalize_target else _P.PRES_END)]
                with m.Else():
                    m.d.sync += k.eq(k + 1)
            with m.Case(_P.NORM_SCAN):
                with m.If(scan_j == L.padded_out):
                    m.d.sync += phase.eq(_P.PRES_END)
                with m.Elif(scan_hit):
                    m.d.sync += [tj_k.eq(scan_j // P if P > 1 else scan_j),
                                 tj_l.eq(scan_j % P if P > 1 else 0), norm_prep.eq(1),
                                 g.eq(0), col_sum.eq(0), phase.eq(_P.NORM_SUM)]
                with m.Else():
                    m.d.sync += scan_j.eq(scan_j + 1)
            with m.Case(_P.NORM_SUM):
                with m.If(norm_prep):  # the column counters load the new target's addresses
                    m.d.sync += norm_prep.eq(0)
                with m.Elif(g < NIG):
                    m.d.comb += [col.eq(_Col.SUM), col_g.eq(g)]
                    m.d.sync += g.eq(g + 1)
                with m.Elif(wait < 2):
                    m.d.sync += wait.eq(wait + 1)  # the last SUM op's SA, S1; S2 adds it
                with m.Else():
                    m.d.sync += [wait.eq(0), phase.eq(_P.NORM_DIV)]
                    m.d.comb += divider.start.eq(1)
            with m.Case(_P.NORM_DIV):
                with m.If(divider.done):
                    m.d.sync += [k_factor.eq(divider.quotient),
                                 norm_skip.eq(col_sum == 0), g.eq(0), phase.eq(_P.NORM_SCALE)]
            with m.Case(_P.NORM_SCALE):
                with m.If(g < NIG):
                    m.d.comb += [col.eq(_Col.RESCALE), col_g.eq(g)]
                with m.If(g < NIG + COL_TAIL - 1):
                    m.d.sync += g.eq(g + 1)
                with m.Else():
                    m.d.sync += [scan_j.eq(scan_j + 1), phase.eq(_P.NORM_SCAN)]
            with m.Case(_P.PRES_END):
                # END_TAIL cycles first: the last neuron op's write lands while running (the
                # host owns the ports when idle)
                retry = (spikes_total < enc.min_spikes) & (attempt < enc.max_tries - 1)
                with m.If(wait < END_TAIL):
                    m.d.sync += wait.eq(wait + 1)
                with m.Elif(retry):
                    m.d.sync += wait.eq(0)
                    m.d.sync += [attempt.eq(attempt + 1), intensity.eq(intensity + 1),
                                 phase.eq(_P.CLEAR), k.eq(0), g.eq(0)]
                with m.Else():
                    m.d.sync += [wait.eq(0), phase.eq(_P.IDLE), running.eq(0), ld_i.eq(0),
                                 ld_row.eq(0),
                                 list_len.eq(0), ld_imod.eq(0), ld_idiv.eq(0), ld_kmod.eq(0),
                                 ld_kdiv.eq(0)]

    def _outputs(self, m, s):
        """Spike output and host reads."""
        C, L, P, al_r, attempt, best = s.C, s.L, s.P, s.al_r, s.attempt, s.best
        col_gen2, enc_gen2, host_ok, r_s, r_th = s.col_gen2, s.enc_gen2, s.host_ok, s.r_s, s.r_th
        spike_now, step, w_bank = s.spike_now, s.step, s.w_bank
        # -- spike output: one register; the consumer is expected to keep up (at most one
        # spike per timestep), a spike still pending when the next one comes is overwritten
        with m.If(spike_now):
            m.d.sync += [self.o_spike.valid.eq(1),
                         self.o_spike.payload.neuron.eq(best.k * P + best.lane),
                         self.o_spike.payload.timestep.eq(step),
                         self.o_spike.payload.attempt.eq(attempt)]
        with m.Elif(self.o_spike.ready):
            m.d.sync += self.o_spike.valid.eq(0)

        # -- host reads: 2-cycle latency, while idle ------------------------------------------
        # The words come from the registers every read port's data passes through (S1 and the
        # encoder's S1 for the generators), never straight from a read port: a weight bank's
        # port is tens of block RAMs and their output multiplexer.
        rd_space = [Signal(LearnSpace, name=f"rd_space_{i}") for i in range(2)]
        rd_bank = [Signal.like(self.host_bank, name=f"rd_bank_{i}") for i in range(2)]
        with m.If(host_ok & self.host_r_en):
            m.d.sync += [rd_space[0].eq(self.host_space), rd_bank[0].eq(self.host_bank)]
        m.d.sync += [rd_space[1].eq(rd_space[0]), rd_bank[1].eq(rd_bank[0])]
        if L.pruning:
            al_word = [Signal(C, name=f"al_word_{b}") for b in range(P)]
            m.d.sync += [al_word[b].eq(al_r[b].data) for b in range(P)]
        for b in range(P):
            with m.If(rd_bank[1] == b):
                with m.Switch(rd_space[1]):
                    with m.Case(LearnSpace.WEIGHT):
                        m.d.comb += self.host_r_data.eq(w_bank[b])
                    with m.Case(LearnSpace.STATE):
                        m.d.comb += self.host_r_data.eq(r_s[b].as_value())
                    with m.Case(LearnSpace.THETA):
                        m.d.comb += self.host_r_data.eq(r_th[b])
                    with m.Case(LearnSpace.ENC_GEN):
                        m.d.comb += self.host_r_data.eq(enc_gen2[b])
                    with m.Case(LearnSpace.IN_GEN):
                        m.d.comb += self.host_r_data.eq(col_gen2[b])
                    if L.pruning:
                        with m.Case(LearnSpace.ALIVE):
                            m.d.comb += self.host_r_data.eq(al_word[b])

    def _counters(self, m, s):
        """Counters."""
        L, col, col_writes, g, norm_skip = s.L, s.col, s.col_writes, s.g, s.norm_skip
        phase, pres_start, running, scan_emit = s.phase, s.pres_start, s.running, s.scan_emit
        spike_now, took_event = s.spike_now, s.took_event
        # -- counters ----------------------------------------------------------------------------
        col_pass_start = ((phase == _P.STDP) | (phase == _P.NORM_SCALE)) & (g == 0) & \
            (col != _Col.NONE)
        increments = {
            "cycles": Const(1),
            "busy_cycles": running,
            "synaptic_events": (sum(scan_emit[1:], scan_emit[0]) if L.pruning
                                else Mux(took_event, L.n_out, 0)),
            "input_events": took_event,
            "output_spikes": spike_now,
        }
        if L.pruning:  # the alive weights actually written
            increments["weight_updates"] = sum(col_writes[1:], col_writes[0])
        else:
            increments["weight_updates"] = Mux(
                col_pass_start & ~((phase == _P.NORM_SCALE) & norm_skip), L.n_in, 0)
        # the increments that come from the datapath are registered first (they land a cycle
        # late, long before the core is idle again: PRES_END waits END_TAIL cycles)
        for name in ("synaptic_events", "input_events", "output_spikes", "weight_updates"):
            inc = Signal(len(Value.cast(increments[name])), name=f"{name}_inc")
            m.d.sync += inc.eq(increments[name])
            increments[name] = inc
        counters = {name: (getattr(self.counters, name), increments[name])
                    for name in COUNTER_NAMES}
        counters["weight_updates"] = (self.weight_updates, increments["weight_updates"])
        saturating_counters(m, counters, L.counter_bits, self.clear_counters)
        m.d.comb += self.pres_begin.eq(pres_start)
        with m.If(self.clear_counters):
            m.d.sync += self.presentations.eq(0)
        with m.Elif(pres_start):
            m.d.sync += self.presentations.eq(self.presentations + 1)
