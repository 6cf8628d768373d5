"""The time-to-first-spike conv network core: conv engines, pool stages, k winners and the
STDP unit, layer after layer. ``snnhw.golden.networks.ttfs_conv`` is its specification.

The network is a chain of *stages*: a conv layer and the pool layer after it, if any. Each
stage reads its input events from a list memory and writes its output events to the next
(``eot`` items close the timesteps): list 0 holds the encoded image, written by the host.
A run takes one image through the stages in order; a learning run (``learn = n + 1``) stops
after conv layer ``n``, whose spikes go to the k-winners block instead of its pool, and
then its STDP unit updates the winners' kernels. Every block clears its memories when the
run starts (in parallel; the run waits for the longest sweep).

The host reaches every memory and register through ``host`` while the core is idle
(:class:`ConvHost`); ``o_trace`` shows every spike of every conv layer as it is emitted.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import enum, memory, wiring
from amaranth.lib.wiring import In, Out

from ...ir import bits_for
from ...ir_conv import ConvNetworkIR, list_depth, list_shape, register_names, stages_of
from ..blocks.conv import ConvEngine, conv_event_layout
from ..blocks.kwta import KWinners
from ..blocks.mstdp import KernelLearner
from ..blocks.pool import PoolStage
from ..common import saturating_counters
from ..layouts import HostPortSignature

__all__ = ["TtfsConvCore", "ConvHost", "REG", "stages_of", "COUNTER_BITS"]

COUNTER_BITS = 32


class _Phase(enum.Enum, shape=3):
    IDLE = 0  # the host may use the port
    CLEAR = 1  # every block clears its memories
    STAGE = 2  # a stage runs its input list
    LEARN = 3  # the STDP unit starts
    WAIT = 4  # ... and walks the winners' kernels


class ConvHost(enum.Enum, shape=3):
    """The host's spaces: ``bank`` and ``addr`` as each says."""

    EVENTS = 0  #: bank s: event list s (0: the input image, written by the host; s + 1: stage
    #: s's output)
    WEIGHT = 1  #: bank n << lane_bits | lane: conv layer n's weight bank (ConvEngine layout)
    MASK = 2  #: bank n << lane_bits | lane: conv layer n's alive masks (bits of map slots that
    #: do not exist are written 0; a layer that does not prune has constant masks: writes are
    #: ignored). A pruned tap's weight must be 0, as the STDP unit writes it.
    MAXIMA = 3  #: bank lane: the readout layer's largest potential per local map
    REG = 4  #: bank 0: the registers of :data:`REG`


def REG(net: ConvNetworkIR) -> dict[str, int]:
    """Register addresses (REG space): :func:`snnhw.ir_conv.register_names` in order. A
    write of a value the core cannot run is refused: the register keeps its value."""
    return {name: k for k, name in enumerate(register_names(net))}


class TtfsConvCore(wiring.Component):
    """One TTFS conv network.

    Members
    -------
    run : In(1)
        Start a run (the core must be idle): the image in list 0 (``events`` items),
        learning in conv layer ``learn - 1`` if ``learn`` is not 0.
    busy : Out(1)
    host : In(HostPortSignature)
    o_trace : Out(valid, stage, f, y, x, t)
        A conv layer's spike, the cycle it leaves its engine.
    """

    def __init__(self, net: ConvNetworkIR) -> None:
        if not isinstance(net, ConvNetworkIR):
            raise TypeError(f"Network must be a ConvNetworkIR, not {net!r}")
        self._net = net
        self._stages = stages_of(net)
        self._T = net.timesteps
        self.t_bits = bits_for(net.timesteps)
        self.regs = REG(net)
        self.readout_maxima = net.features == "max_potential"
        self.engines = [ConvEngine(conv, lanes=net.lanes, timestep_bits=self.t_bits,
                                   readout=self.readout_maxima and s == len(self._stages) - 1)
                        for s, (conv, _) in enumerate(self._stages)]
        self.n_lists = len(self._stages) + (0 if self.readout_maxima else 1)
        widths = [COUNTER_BITS]
        for e in self.engines:
            widths += [e.layer.weight_bits, e.layer.kernel * e.mask_stride,
                       e.layer.membrane_bits]
        widths += [conv_event_layout(*list_shape(self._net, s)).size for s in range(self.n_lists)]
        self.data_bits = max(widths)
        self.lane_bits = bits_for(net.lanes - 1)
        self.bank_bits = max(bits_for(len(self._stages) - 1) + self.lane_bits,
                             bits_for(self.n_lists - 1))
        addr = [list_depth(net, s) for s in range(self.n_lists)]
        addr += [e.layer.in_shape[0] * e.layer.kernel ** 2 * e.maps_per_lane
                 for e in self.engines]
        addr.append(len(self.regs))
        big = max(self._stages[-1][0].maps, 1)
        self.addr_bits = bits_for(max(max(addr), big))
        super().__init__({
            "run": In(1),
            "busy": Out(1),
            "host": In(HostPortSignature(bank_bits=self.bank_bits, addr_bits=self.addr_bits,
                                         data_bits=self.data_bits, space_shape=ConvHost)),
            "o_trace": Out(wiring.Signature({
                "valid": Out(1), "stage": Out(range(max(2, len(self._stages)))),
                "f": Out(bits_for(max(c.maps for c, _ in self._stages) - 1)),
                "y": Out(bits_for(max(c.out_shape[1] for c, _ in self._stages) - 1)),
                "x": Out(bits_for(max(c.out_shape[2] for c, _ in self._stages) - 1)),
                "t": Out(self.t_bits)})),
        })

    @property
    def net(self) -> ConvNetworkIR:
        return self._net

    def elaborate(self, platform):
        m = Module()
        net = self._net
        P = net.lanes
        S = len(self._stages)

        # -- event lists --
        lists = []
        for s in range(self.n_lists):
            mem = memory.Memory(shape=conv_event_layout(*list_shape(self._net, s)),
                                depth=list_depth(net, s), init=[])
            m.submodules[f"list{s}"] = mem
            lists.append(mem)
        l_rd = [x.read_port() for x in lists]
        l_wr = [x.write_port() for x in lists]
        l_len = [Signal(range(list_depth(net, s) + 1), name=f"list{s}_len")
                 for s in range(self.n_lists)]

        pools, kwtas, learners = self._blocks(m)

        # -- registers --
        n_events = Signal(range(list_depth(net, 0) + 1))
        learn = Signal(range(S + 1))
        seen = [Signal(COUNTER_BITS, name=f"seen{s}") for s in range(S)]
        alive = [Signal(COUNTER_BITS, name=f"alive{s}", init=c.taps)
                 for s, (c, _) in enumerate(self._stages)]
        cycles, syn, wupd, pruned = (Signal(COUNTER_BITS, name=n) for n in
                                     ("cycles", "synaptic_updates", "weight_updates",
                                      "pruned"))

        # -- sequencing --
        ph = Signal(_Phase)
        stage = Signal(range(max(2, S)))
        last_stage = Signal(range(max(2, S)))
        rd_ptr = Signal(range(max(list_depth(net, s) for s in range(self.n_lists)) + 1))
        rd_nxt = Signal(len(rd_ptr) + 1)
        started = Signal()
        m.d.comb += self.busy.eq((ph != _Phase.IDLE) | self.run)
        self.debug = (ph, stage, rd_ptr, pools, kwtas, learners)
        idle = ph == _Phase.IDLE

        blocks_busy = Cat(*[e.busy for e in self.engines],
                          *[p.busy for p in pools if p is not None],
                          *[k.busy for k in kwtas if k is not None],
                          *[ln.busy for ln in learners if ln is not None]).any()

        with m.If(idle & self.run):
            m.d.sync += [ph.eq(_Phase.CLEAR), started.eq(0), stage.eq(0),
                         last_stage.eq(Mux(learn != 0, learn - 1, S - 1))]
        starting = ph == _Phase.CLEAR
        for s in range(S):
            m.d.comb += self.engines[s].start.eq(starting & ~started)
            if pools[s] is not None:
                m.d.comb += pools[s].start.eq(starting & ~started)
            if kwtas[s] is not None:
                m.d.comb += [kwtas[s].reset.eq(starting & ~started),
                             learners[s].clear.eq(starting & ~started & (learn == s + 1))]
        with m.If(starting):
            m.d.sync += started.eq(1)
            with m.If(started & ~blocks_busy):
                m.d.sync += [ph.eq(_Phase.STAGE), rd_ptr.eq(0), rd_nxt.eq(1)]
                m.d.sync += [x.eq(0) for x in l_len[1:]]

        # the running stage's input list streams into its engine. The list is read one item
        # ahead, at ``rd_nxt`` (= rd_ptr + 1, a register), whether or not the engine takes
        # the head item: the engine's ready (the end of its last event, late in its cycle)
        # only enables registers, never a block RAM address. The head item is the read port's
        # word in the cycle after a take (``fresh``), else the copy kept in ``hold``. A stage
        # starts with the port showing item 0 (address 0 while the stage does not run).
        running = ph == _Phase.STAGE
        for s in range(S):
            eng = self.engines[s]
            here = running & (stage == s)
            rd = l_rd[s]
            take = eng.i_event.valid & eng.i_event.ready
            n_items = n_events if s == 0 else l_len[s]
            fresh = Signal(name=f"list{s}_fresh")
            hold = Signal.like(rd.data, name=f"list{s}_hold")
            head = Signal.like(rd.data, name=f"list{s}_head")
            m.d.comb += head.eq(Mux(fresh, rd.data, hold))
            m.d.sync += fresh.eq(~here | take)
            with m.If(fresh):
                m.d.sync += hold.eq(rd.data)
            m.d.comb += [eng.i_event.valid.eq(here & (rd_ptr != n_items)),
                         eng.i_event.payload.eq(head)]
            with m.If(here):
                m.d.comb += rd.addr.eq(rd_nxt)
                with m.If(take):
                    m.d.sync += [rd_ptr.eq(rd_ptr + 1), rd_nxt.eq(rd_nxt + 1)]
            m.d.comb += rd.en.eq(1)
            learning = learn == s + 1
            if learners[s] is not None:
                ln = learners[s]
                m.d.comb += [ln.i_pre_valid.eq(here & take & ~head.eot & learning),
                             ln.i_pre_c.eq(head.c), ln.i_pre_y.eq(head.y),
                             ln.i_pre_x.eq(head.x), ln.i_pre_t.eq(eng.timestep)]
            # the engine's spikes: to the k winners when it learns, else on
            out = eng.o_spike
            if eng.readout:
                m.d.comb += eng.integrate_only.eq(~learning)
            if s + 1 >= self.n_lists:  # the readout layer: its spikes only when it learns
                if kwtas[s] is not None:
                    kin = kwtas[s].i_spike
                    m.d.comb += [kin.valid.eq(out.valid), kin.payload.eq(out.payload),
                                 out.ready.eq(kin.ready)]
                self._trace(m, s, out)
                continue
            to_next = pools[s].i_spike if pools[s] is not None else None
            if kwtas[s] is not None:
                kin = kwtas[s].i_spike
                with m.If(learning):
                    m.d.comb += [kin.valid.eq(out.valid), kin.payload.eq(out.payload),
                                 out.ready.eq(kin.ready)]
            with m.If(~learning):
                if to_next is not None:
                    m.d.comb += [to_next.valid.eq(out.valid), to_next.payload.eq(out.payload),
                                 out.ready.eq(to_next.ready)]
                else:
                    m.d.comb += out.ready.eq(1)
            # the next list's writer
            wr = l_wr[s + 1]
            if pools[s] is not None:
                ev = pools[s].o_event
                m.d.comb += [wr.data.eq(ev.payload), wr.en.eq(ev.valid)]
            else:
                m.d.comb += [wr.data.c.eq(out.payload.f), wr.data.y.eq(out.payload.y),
                             wr.data.x.eq(out.payload.x), wr.data.eot.eq(out.payload.eot),
                             wr.en.eq(out.valid & out.ready & ~learning)]
            m.d.comb += wr.addr.eq(l_len[s + 1])
            with m.If(wr.en):
                m.d.sync += l_len[s + 1].eq(l_len[s + 1] + 1)
            self._trace(m, s, out)
        stage_done = Signal()
        n_cur = Signal.like(rd_ptr)
        with m.Switch(stage):
            for s in range(S):
                with m.Case(s):
                    m.d.comb += n_cur.eq(n_events if s == 0 else l_len[s])
        m.d.comb += stage_done.eq(running & (rd_ptr == n_cur) & ~blocks_busy)
        with m.If(stage_done):
            with m.If(stage == last_stage):
                with m.If(learn != 0):
                    m.d.sync += ph.eq(_Phase.LEARN)
                with m.Else():
                    m.d.sync += ph.eq(_Phase.IDLE)
            with m.Else():
                m.d.sync += [stage.eq(stage + 1), rd_ptr.eq(0), rd_nxt.eq(1)]

        for s in range(S):
            if learners[s] is not None:
                self._learning(m, s, kwtas[s], learners[s], seen[s], alive[s], learn,
                               start=(ph == _Phase.LEARN) & (learn == s + 1),
                               done=(ph == _Phase.WAIT) & ~blocks_busy & (learn == s + 1))
        with m.If(ph == _Phase.LEARN):
            m.d.sync += ph.eq(_Phase.WAIT)
        with m.If((ph == _Phase.WAIT) & ~blocks_busy):
            m.d.sync += ph.eq(_Phase.IDLE)

        # -- counters of the run --
        n_upd = Signal(bits_for(P * len(self.engines)))
        m.d.comb += n_upd.eq(sum(e.updates[i] for e in self.engines for i in range(P)))
        wu = Cat(*[ln.updated for ln in learners if ln is not None]).any() \
            if any(learners) else 0
        pr = Cat(*[ln.pruned for ln in learners if ln is not None]).any() \
            if any(learners) else 0
        saturating_counters(m, {"cycles": (cycles, ~idle), "synaptic_updates": (syn, n_upd),
                                "weight_updates": (wupd, wu), "pruned": (pruned, pr)},
                            COUNTER_BITS, idle & self.run)

        self._host(m, lists, l_rd, l_wr, l_len, learners, n_events, learn, seen, alive,
                   {"cycles": cycles, "synaptic_updates": syn, "weight_updates": wupd,
                    "pruned": pruned}, idle)
        return m

    def _blocks(self, m: Module) -> tuple[list, list, list]:
        """Each stage's engine, pool stage, and (learning layers) k winners and STDP unit."""
        P, T = self._net.lanes, self._T
        pools, kwtas, learners = [], [], []
        for s, ((conv, pool), eng) in enumerate(zip(self._stages, self.engines, strict=True)):
            m.submodules[f"conv{s}"] = eng
            pools.append(None if pool is None else PoolStage(
                pool, timestep_bits=self.t_bits, v_bits=conv.membrane_bits))
            if pools[-1] is not None:
                m.submodules[f"pool{s}"] = pools[-1]
            if conv.stdp is not None:
                _, ho, wo = conv.out_shape
                kw = KWinners(maps=conv.maps, height=ho, width=wo, k=conv.winners,
                              radius=conv.radius, timestep_bits=self.t_bits,
                              v_bits=conv.membrane_bits,
                              depth=ho * wo if conv.pointwise_inhibition
                              else conv.maps * ho * wo)
                ln = KernelLearner(conv, lanes=P, maps_per_lane=eng.maps_per_lane,
                                   mask_stride=eng.mask_stride, timesteps=T,
                                   kernel_port=eng.kernel_port_widths(), k=conv.winners,
                                   win_layout=kw.win_layout)
                m.submodules[f"winners{s}"] = kw
                m.submodules[f"learner{s}"] = ln
                m.d.comb += [ln.win.eq(kw.win), kw.sel.eq(ln.sel)]
                kwtas.append(kw)
                learners.append(ln)
            else:
                kwtas.append(None)
                learners.append(None)

        return pools, kwtas, learners

    def _learning(self, m: Module, s: int, kw: KWinners, ln: KernelLearner, seen, alive,
                  learn, *, start, done) -> None:
        """Stage ``s``'s STDP unit: it walks the winners' kernels at ``start``, with the
        image's rates and pruning; the image counts as learned at ``done`` (after the
        updates, which read ``seen``)."""
        conv = self._stages[s][0]
        m.d.comb += [ln.start.eq(start), ln.n_winners.eq(kw.count)]
        level = Signal(range(len(conv.stdp.rates)))
        if conv.stdp.grow_every:
            m.d.comb += level.eq(sum((seen >= i * conv.stdp.grow_every).as_unsigned()
                                     for i in range(1, len(conv.stdp.rates))))
        with m.Switch(level):
            for i, (ap, am) in enumerate(conv.stdp.rates):
                with m.Case(i):
                    m.d.comb += [ln.a_plus.eq(ap), ln.a_minus.eq(am)]
        if conv.prune_threshold is not None:
            m.d.comb += ln.prune_on.eq(seen >= conv.prune_warmup)
        with m.If(ln.pruned):
            m.d.sync += alive.eq(alive - 1)
        with m.If(done):
            m.d.sync += seen.eq(seen + 1)

    def _trace(self, m: Module, s: int, out) -> None:
        with m.If(out.valid & out.ready & ~out.payload.eot):
            m.d.comb += [self.o_trace.valid.eq(1), self.o_trace.stage.eq(s),
                         self.o_trace.f.eq(out.payload.f), self.o_trace.y.eq(out.payload.y),
                         self.o_trace.x.eq(out.payload.x), self.o_trace.t.eq(out.payload.t)]

    def _host(self, m, lists, l_rd, l_wr, l_len, learners, n_events, learn, seen, alive,
              counters, idle) -> None:
        """The host port: memories and registers while the core is idle. A read's word is
        captured the cycle after its request and held until the next read."""
        S = len(self._stages)
        host = self.host
        regs = self.regs
        lb = self.lane_bits
        ok = idle & ~self.run
        m.d.comb += host.ready.eq(ok)
        r_pending = Signal()
        r_space = Signal(ConvHost)
        r_bank = Signal(self.bank_bits)
        r_reg = Signal(self.data_bits)
        hold = Signal(self.data_bits)
        m.d.sync += r_pending.eq(ok & host.r_en)
        with m.If(ok & host.r_en):
            m.d.sync += [r_space.eq(host.space), r_bank.eq(host.bank)]
        layer_of = host.bank[lb:] if len(host.bank) > lb else 0
        lane_of = host.bank[:lb] if lb else 0
        # lists
        for s in range(self.n_lists):
            with m.If(ok):
                m.d.comb += l_rd[s].addr.eq(host.addr)
        m.d.comb += [l_wr[0].addr.eq(host.addr), l_wr[0].data.eq(host.w_data),
                     l_wr[0].en.eq(ok & host.w_en & (host.space == ConvHost.EVENTS) &
                                   (host.bank == 0))]
        # kernels: the learner drives the port while it learns, the host while idle
        for s, eng in enumerate(self.engines):
            kp = eng.kernel
            ln = learners[s]
            if ln is not None:
                lk = ln.kernel
                with m.If(ln.busy):
                    m.d.comb += [kp.en.eq(lk.en), kp.lane.eq(lk.lane),
                                 kp.m_raddr.eq(lk.m_raddr), kp.m_waddr.eq(lk.m_waddr),
                                 kp.m_wdata.eq(lk.m_wdata), kp.m_wbits.eq(lk.m_wbits),
                                 kp.m_we.eq(lk.m_we), kp.w_raddr.eq(lk.w_raddr),
                                 kp.w_waddr.eq(lk.w_waddr), kp.w_wdata.eq(lk.w_wdata),
                                 kp.w_we.eq(lk.w_we), kp.x_raddr.eq(lk.x_raddr)]
                m.d.comb += [lk.m_rdata.eq(kp.m_rdata), lk.w_rdata.eq(kp.w_rdata),
                             lk.x_rdata.eq(kp.x_rdata)]
            hw = ok & host.w_en & (layer_of == s)
            with m.If(ok):
                m.d.comb += [kp.en.eq(1), kp.lane.eq(lane_of), kp.m_raddr.eq(host.addr),
                             kp.m_waddr.eq(host.addr), kp.m_wdata.eq(host.w_data),
                             kp.m_wbits.eq(-1),
                             kp.m_we.eq(hw & (host.space == ConvHost.MASK)),
                             kp.w_raddr.eq(host.addr), kp.w_waddr.eq(host.addr),
                             kp.w_wdata.eq(host.w_data),
                             kp.w_we.eq(hw & (host.space == ConvHost.WEIGHT)),
                             kp.x_raddr.eq(host.addr)]
        # registers
        values = {"events": n_events, "learn": learn, **counters}
        for n in range(S):
            values[f"seen{n}"] = seen[n]
            values[f"alive{n}"] = alive[n]
            values[f"generator{n}"] = learners[n].gen if learners[n] is not None else 0
        for s in range(len(self._stages) + 1):
            values[f"list{s}"] = (n_events if s == 0 else l_len[s] if s < self.n_lists
                                  else 0)
        with m.If(ok & host.r_en & (host.space == ConvHost.REG)):
            with m.Switch(host.addr):
                for name, a in regs.items():
                    with m.Case(a):
                        m.d.sync += r_reg.eq(values[name])
        with m.If(ok & host.w_en & (host.space == ConvHost.REG)):
            with m.Switch(host.addr):
                # values the core cannot run are refused (the register keeps its value)
                with m.Case(regs["events"]):
                    with m.If(host.w_data <= list_depth(self._net, 0)):
                        m.d.sync += n_events.eq(host.w_data)
                with m.Case(regs["learn"]):
                    ok_learn = [0] + [s + 1 for s in range(S) if learners[s] is not None]
                    with m.If(Cat(*[host.w_data == v for v in ok_learn]).any()):
                        m.d.sync += learn.eq(host.w_data)
                for n in range(S):
                    with m.Case(regs[f"seen{n}"]):
                        m.d.sync += seen[n].eq(host.w_data)
                    with m.Case(regs[f"alive{n}"]):
                        m.d.sync += alive[n].eq(host.w_data)
        for n in range(S):
            if learners[n] is not None:
                m.d.comb += [learners[n].gen_load.eq(ok & host.w_en &
                                                     (host.space == ConvHost.REG) &
                                                     (host.addr == regs[f"generator{n}"]) &
                                                     (host.w_data != 0) &
                                                     (host.w_data <= 0xFFFF)),
                             learners[n].gen_value.eq(host.w_data)]
        # read data
        live = Signal(self.data_bits)
        r_layer = r_bank[lb:] if len(r_bank) > lb else 0
        with m.Switch(r_space):
            with m.Case(ConvHost.EVENTS):
                with m.Switch(r_bank):
                    for s in range(self.n_lists):
                        with m.Case(s):
                            m.d.comb += live.eq(l_rd[s].data.as_value())
            with m.Case(ConvHost.WEIGHT, ConvHost.MASK):
                with m.Switch(r_layer):
                    for s, eng in enumerate(self.engines):
                        with m.Case(s):
                            m.d.comb += live.eq(Mux(r_space == ConvHost.WEIGHT,
                                                    eng.kernel.w_rdata, eng.kernel.m_rdata))
            with m.Case(ConvHost.MAXIMA):
                m.d.comb += live.eq(self.engines[-1].kernel.x_rdata)
            with m.Case(ConvHost.REG):
                m.d.comb += live.eq(r_reg)
        with m.If(r_pending):
            m.d.sync += hold.eq(live)
        m.d.comb += host.r_data.eq(Mux(r_pending, live, hold))
