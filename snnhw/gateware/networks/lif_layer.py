"""Time-multiplexed LIF/IF neuron core: one dense layer, ``P`` lanes, weights in block memory."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...ir import LayerIR
from ..common import saturating_counters
from ..layouts import (
    COUNTER_NAMES,
    CountersSignature,
    HostPortSignature,
    Space,
    event_layout,
    spike_layout,
    state_layout,
)

__all__ = ["NeuronCore"]


class _Phase(enum.Enum, shape=2):
    IDLE = 0  # nothing to issue; an input event may be accepted
    INTEGRATE = 1  # issuing the neuron groups of one input event
    FIRE = 2  # issuing the neuron groups of the end-of-timestep update


class NeuronCore(wiring.Component):
    """A layer of ``n_out`` LIF/IF neurons fed by ``n_in`` inputs through dense weights.

    Input events arrive on ``i_event``: an input index, or ``eot`` to close the timestep. Each
    index is applied to every neuron (integrate); ``eot`` runs leak, threshold, fire, reset and
    refractory for every neuron, and the spikes leave on ``o_spike`` in ascending neuron order,
    tagged with the timestep. ``docs/semantics.md`` gives the arithmetic; ``snnhw.golden``
    computes the same, bit for bit.

    Parameters
    ----------
    layer : LayerIR
        The resolved layer: sizes, widths, parameters and initial weights.

    Members
    -------
    i_event : In(stream.Signature(event_layout))
    o_spike : Out(stream.Signature(spike_layout))
    host : In(HostPortSignature)
        Load and read back weights and neuron state while the core is idle.
    counters : Out(CountersSignature)
    clear_counters : In(1)
        Sets every counter to zero in the next cycle.
    idle : Out(1)
        Nothing in flight: no operation issued or in the pipeline, no spike waiting.
    timestep : Out(timestep_bits)
        Number of the current (not yet closed) timestep, modulo ``2**timestep_bits``.
    """

    def __init__(self, layer: LayerIR) -> None:
        if type(layer) is not LayerIR:  # a learning layer is LearningCore's
            raise TypeError(f"Layer must be a LayerIR (a dense LIF/IF layer), not {layer!r}")
        self._layer = layer
        data_bits = max(layer.weight_bits, layer.state_bits)
        addr_bits = max(layer.bank_addr_bits, layer.group_bits)
        super().__init__({
            "i_event": In(stream.Signature(event_layout(layer.index_bits))),
            "o_spike": Out(stream.Signature(spike_layout(layer.neuron_bits,
                                                         layer.timestep_bits))),
            "host": In(HostPortSignature(bank_bits=layer.lane_bits, addr_bits=addr_bits,
                                         data_bits=data_bits)),
            "counters": Out(CountersSignature(counter_bits=layer.counter_bits)),
            "clear_counters": In(1),
            "idle": Out(1),
            "timestep": Out(layer.timestep_bits),
        })

    @property
    def layer(self) -> LayerIR:
        return self._layer

    def elaborate(self, platform):
        m = Module()
        L = self._layer
        c = SimpleNamespace(
            wshape=signed(L.weight_bits) if L.weight_signed else unsigned(L.weight_bits),
            slayout=state_layout(L.membrane_bits, L.ref_bits))
        self._storage(m, c)
        self._issue_stage(m, c)
        self._host_access(m, c)
        self._compute_stage(m, c)
        self._serialiser(m, c)
        self._counters(m, c)
        return m

    # The stages in the order elaborate builds them. ``c`` holds the signals and ports they
    # share; each helper adds some.

    def _storage(self, m: Module, c: SimpleNamespace) -> None:
        """One weight bank and one state bank per lane."""
        L = self._layer
        banks = L.weight_banks()
        c.w_rd, c.w_wr, c.s_rd, c.s_wr = [], [], [], []
        for b in range(L.lanes):
            wmem = memory.Memory(shape=c.wshape, depth=L.bank_depth, init=banks[b].tolist())
            smem = memory.Memory(shape=c.slayout, depth=L.npl, init=[])
            m.submodules[f"weights_{b}"] = wmem
            m.submodules[f"state_{b}"] = smem
            c.w_rd.append(wmem.read_port())
            c.w_wr.append(wmem.write_port())
            c.s_rd.append(smem.read_port())
            c.s_wr.append(smem.write_port())

    def _issue_stage(self, m: Module, c: SimpleNamespace) -> None:
        """S0: the neuron groups of the current operation, one a cycle."""
        L = self._layer
        P, NPL = L.lanes, L.npl
        # The FSM walks the neuron groups k = 0..NPL-1 of the current operation, one per cycle,
        # presenting the same address to every bank. It accepts the next event in the cycle it
        # issues the last group, so back-to-back events cost exactly NPL cycles each.
        c.phase = phase = Signal(_Phase, name="phase")
        c.k = k = Signal(range(max(2, NPL)), name="k")
        # index * NPL of the current event
        c.base = base = Signal(range(max(2, L.bank_depth)), name="base")
        c.rot = rot = Signal(range(max(2, P)), name="rot")  # index % P: which bank feeds lane 0
        c.ts = ts = Signal(L.timestep_bits, name="ts")
        c.stall = stall = Signal(name="stall")
        last = Signal()
        c.issue = issue = Signal(name="issue")

        m.d.comb += [
            last.eq(k == NPL - 1),
            issue.eq((phase != _Phase.IDLE) & ~stall),
            self.i_event.ready.eq(~stall & ((phase == _Phase.IDLE) | last)),
            self.timestep.eq(ts),
        ]
        with m.If(issue):
            m.d.sync += k.eq(Mux(last, 0, k + 1))
            with m.If(last):
                m.d.sync += phase.eq(_Phase.IDLE)
                with m.If(phase == _Phase.FIRE):
                    m.d.sync += ts.eq(ts + 1)
        c.accept = accept = Signal(name="accept")
        m.d.comb += accept.eq(self.i_event.valid & self.i_event.ready)
        with m.If(accept):
            ev = self.i_event.payload
            m.d.sync += k.eq(0)
            with m.If(ev.eot):
                m.d.sync += phase.eq(_Phase.FIRE)
            with m.Else():
                m.d.sync += [
                    phase.eq(_Phase.INTEGRATE),
                    base.eq(ev.index * NPL),
                    rot.eq(ev.index % P),
                ]

    def _host_access(self, m: Module, c: SimpleNamespace) -> None:
        """The host port, only while the core is idle, and the read ports' addresses."""
        P = self._layer.lanes
        host = self.host
        c.host_ok = host_ok = Signal(name="host_ok")
        m.d.comb += [host_ok.eq(self.idle), host.ready.eq(host_ok)]
        host_rd_space = Signal(Space)
        host_rd_bank = Signal(range(max(2, P)))
        with m.If(host_ok & host.r_en):
            m.d.sync += [host_rd_space.eq(host.space), host_rd_bank.eq(host.bank)]

        # Read ports: held (en = 0) while stalled, so the operation waiting in S1 keeps its data;
        # while idle they read only on a host request, so r_data holds until the next one.
        rd_en = Signal()
        m.d.comb += rd_en.eq(Mux(host_ok, host.r_en, ~c.stall))
        for b in range(P):
            m.d.comb += [
                c.w_rd[b].en.eq(rd_en),
                c.w_rd[b].addr.eq(Mux(host_ok, host.addr, c.base + c.k)),
                c.s_rd[b].en.eq(rd_en),
                c.s_rd[b].addr.eq(Mux(host_ok, host.addr, c.k)),
                c.w_wr[b].addr.eq(host.addr),
                c.w_wr[b].data.eq(host.w_data),
                c.w_wr[b].en.eq(host_ok & host.w_en & (host.space == Space.WEIGHT) &
                                (host.bank == b)),
            ]
        with m.Switch(Cat(host_rd_bank, host_rd_space)):
            for b in range(P):
                with m.Case(b | (Space.WEIGHT.value << len(host_rd_bank))):
                    m.d.comb += host.r_data.eq(c.w_rd[b].data.as_unsigned())
                with m.Case(b | (Space.STATE.value << len(host_rd_bank))):
                    m.d.comb += host.r_data.eq(c.s_rd[b].data.as_value())

    def _compute_stage(self, m: Module, c: SimpleNamespace) -> None:
        """S1: each lane's new neuron state, written back, and the spikes of a fire pass."""
        L = self._layer
        P = L.lanes
        stall = c.stall
        # Memory data for the operation issued last cycle is valid now. Each lane computes its
        # neuron's new state and writes it back at the same group address.
        c.s1_valid = s1_valid = Signal(name="s1_valid")
        c.s1_fire = s1_fire = Signal(name="s1_fire")
        c.s1_k = s1_k = Signal.like(c.k, name="s1_k")
        c.s1_rot = s1_rot = Signal.like(c.rot, name="s1_rot")
        c.s1_ts = s1_ts = Signal.like(c.ts, name="s1_ts")
        with m.If(~stall):
            m.d.sync += [
                s1_valid.eq(c.issue),
                s1_fire.eq(c.phase == _Phase.FIRE),
                s1_k.eq(c.k),
                s1_rot.eq(c.rot),
                s1_ts.eq(c.ts),
            ]
        c.s1_write = s1_write = Signal(name="s1_write")
        m.d.comb += s1_write.eq(s1_valid & ~stall)

        # Hazard: the operation in S1 read its state in the cycle the previous operation wrote
        # it (read-before-write). Consecutive operations address groups k, k+1 (or NPL-1, 0),
        # so they collide exactly when NPL == 1: then on every cycle. The forwarding register
        # holds the last write; it is valid only if that write happened in the cycle this
        # operation was issued, i.e. it is cleared by any cycle without a write, kept through
        # stalls (no one writes then).
        c.fwd_valid = fwd_valid = Signal(name="fwd_valid")
        c.fwd_k = fwd_k = Signal.like(c.k, name="fwd_k")
        c.fwd_data = [Signal(c.slayout, name=f"fwd_data_{b}") for b in range(P)]
        with m.If(~stall):
            m.d.sync += [fwd_valid.eq(s1_valid), fwd_k.eq(s1_k)]

        c.mask = Signal(P, name="mask")
        for b in range(P):
            self._lane(m, c, b)

    def _lane(self, m: Module, c: SimpleNamespace, b: int) -> None:
        """Lane ``b`` of S1: integrate, or leak, threshold, fire, reset and refractory."""
        L = self._layer
        P, NPL = L.lanes, L.npl
        valid_last = L.n_out - (NPL - 1) * P  # real neurons in the last group
        vmin, vmax = L.vmin, L.vmax
        host = self.host
        host_ok, s1_k, s1_fire = c.host_ok, c.s1_k, c.s1_fire
        w = Signal(c.wshape, name=f"w_{b}")
        # skewed layout: lane b's weight for input i sits in bank (i + b) % P
        with m.Switch(c.s1_rot):
            for r in range(P):
                with m.Case(r):
                    m.d.comb += w.eq(c.w_rd[(r + b) % P].data)
        cur = Signal(c.slayout, name=f"cur_{b}")
        m.d.comb += cur.eq(Mux(c.fwd_valid & (c.fwd_k == s1_k), c.fwd_data[b],
                               c.s_rd[b].data))
        new = Signal(c.slayout, name=f"new_{b}")
        refractory = cur.ref != 0
        # integrate: saturating add, skipped while refractory
        total = Signal(signed(L.membrane_bits + 2), name=f"sum_{b}")
        m.d.comb += total.eq(cur.v + (w << L.weight_shift))
        summed = Mux(total > vmax, vmax, Mux(total < vmin, vmin, total))
        # fire: leak, threshold, reset, refractory
        if L.leak_shift:
            leaked = Signal(signed(L.membrane_bits + 1), name=f"leaked_{b}")
            m.d.comb += leaked.eq(cur.v - (cur.v >> L.leak_shift))
        else:
            leaked = cur.v
        real = Const(1) if b < valid_last else (s1_k != NPL - 1)
        spike = Signal(name=f"spike_{b}")
        m.d.comb += spike.eq(~refractory & (leaked >= L.threshold) & real)
        after = leaked - L.threshold if L.reset == "subtract" else 0
        with m.If(refractory):
            m.d.comb += new.v.eq(cur.v)
            m.d.comb += new.ref.eq(Mux(s1_fire, cur.ref - 1, cur.ref))
        with m.Elif(s1_fire):
            m.d.comb += [
                new.v.eq(Mux(spike, after, leaked)),
                new.ref.eq(Mux(spike, L.refractory, 0)),
                c.mask[b].eq(spike),
            ]
        with m.Else():
            m.d.comb += [new.v.eq(summed), new.ref.eq(0)]
        m.d.comb += [
            c.s_wr[b].addr.eq(Mux(host_ok, host.addr, s1_k)),
            c.s_wr[b].data.eq(Mux(host_ok, host.w_data, new.as_value())),
            c.s_wr[b].en.eq(c.s1_write | (host_ok & host.w_en & (host.space == Space.STATE) &
                                          (host.bank == b))),
        ]
        with m.If(c.s1_write):
            m.d.sync += c.fwd_data[b].eq(new)

    def _serialiser(self, m: Module, c: SimpleNamespace) -> None:
        """The output serialiser: a fire operation's spikes out one a cycle."""
        L = self._layer
        P = L.lanes
        # A fire operation's spikes (up to P, one group) wait in `pending` and leave one per
        # cycle, lowest lane first, so neurons come out in ascending order. The pipeline stalls
        # only while a group still has two or more spikes to send, or the consumer is not ready.
        c.pending = pending = Signal(P, name="pending")
        pend_base = Signal(range(max(2, L.padded_out)))
        pend_ts = Signal.like(c.ts)
        lowest = Signal(range(max(2, P)))
        for b in reversed(range(P)):
            with m.If(pending[b]):
                m.d.comb += lowest.eq(b)
        several = (pending & (pending - 1)) != 0
        m.d.comb += [
            c.stall.eq(several | ((pending != 0) & ~self.o_spike.ready)),
            self.o_spike.valid.eq(pending != 0),
            self.o_spike.payload.neuron.eq(pend_base + lowest),
            self.o_spike.payload.timestep.eq(pend_ts),
        ]
        with m.If(c.s1_write & c.s1_fire):
            m.d.sync += [pending.eq(c.mask), pend_base.eq(c.s1_k * P), pend_ts.eq(c.s1_ts)]
        with m.Elif(self.o_spike.valid & self.o_spike.ready):
            m.d.sync += pending.eq(pending & (pending - 1))

    def _counters(self, m: Module, c: SimpleNamespace) -> None:
        """Status and the saturating counters."""
        L = self._layer
        busy = Signal()
        m.d.comb += [
            busy.eq((c.phase != _Phase.IDLE) | c.s1_valid | (c.pending != 0)),
            self.idle.eq(~busy),
        ]
        took_event = c.accept & ~self.i_event.payload.eot
        increments = {
            "cycles": Const(1),
            "busy_cycles": busy,
            "synaptic_events": Mux(took_event, L.n_out, 0),
            "input_events": took_event,
            "output_spikes": self.o_spike.valid & self.o_spike.ready,
        }
        saturating_counters(m, {name: (getattr(self.counters, name), increments[name])
                                for name in COUNTER_NAMES},
                            L.counter_bits, self.clear_counters)
