"""The event-driven conv engine: one conv layer of one-spike IF neurons (docs/semantics.md,
"Conv layer" and "Cycle model of the conv engine").

Input spike events ``(c, y, x)`` arrive in timestep order, each timestep closed by an ``eot``
item. For each event the engine adds the kernel window to the membranes it reaches; at each
``eot`` it resolves the neurons that crossed the threshold in that timestep (pointwise
inhibition) and sends their spikes out, tagged with the timestep and the potential at the spike.

Organisation (``P`` lanes; map ``f`` belongs to lane ``f % P`` as its local map ``f // P``):

* **alive masks**, per lane, one word per kernel row ``(c, i)``: bit ``j * FL2 + fl`` is tap
  ``(f, c, i, j)``'s alive bit. Each lane walks an event's kernel rows that reach existing
  outputs on its own, taking the lowest set bit of its row's word (masked to the columns that
  reach existing outputs) per cycle, so a row costs the lane ``max(1, its set bits)`` cycles
  and pruned taps cost none; the next event starts when every lane is through;
* **weights**, per lane, one word per ``((c, i, j), fl)``; **membranes**, per lane, one word
  per ``(fl, y, x)``; both read in the issue cycle and the membrane written back in the next,
  through read ports transparent to that write (a neuron updated in consecutive cycles sees
  its own last write: the only hazard of the one-stage read-modify-write);
* a neuron's potential only grows, so it crosses the threshold exactly once per image: the
  write stage logs each crossing ``(fl, y, x)`` in its lane's crossing log; the log of a
  timestep is resolved at its ``eot``, one crossing per cycle: without pointwise inhibition
  each crossing is a spike; with it a position memory keeps each position's best crossing
  (largest potential, then lowest map) and whether it has spiked, and the positions that got
  a first crossing are then walked to send one spike each.

The membranes, the position memory and the readout maxima are cleared by a sweep when
``start`` is pulsed, before the first event of an image.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...ir import bits_for
from ...ir_conv import ConvLayerIR, KernelBanks, event_fields
from ..common import at_most_one, at_most_two, lowest_index, lowest_two, times_const

__all__ = ["ConvEngine", "KernelPortSignature", "conv_event_layout",
           "conv_spike_layout", "lowest_bit"]


class KernelPortSignature(wiring.Signature):
    """Access to a conv engine's kernels and readout maxima while it is idle (the STDP unit,
    the host), from the requester's view.

    With ``en`` high the requester drives the memories' ports of lane ``lane``: each
    ``*_raddr`` shows its word on ``*_rdata`` one cycle later (``m``: alive masks, address
    ``c * K + i``, bit ``j * FL2 + fl``; ``w``: weights, address
    ``((c * K + i) * K + j) * FL + fl``; ``x``: readout maxima, address ``fl``); ``w_we``
    writes a weight, ``m_we`` the mask bits set in ``m_wbits``."""

    def __init__(self, *, lane_bits: int, mask_addr_bits: int, mask_bits: int,
                 weight_addr_bits: int, weight_bits: int, maxima_bits: int) -> None:
        super().__init__({
            "en": Out(1),
            "lane": Out(lane_bits),
            "m_raddr": Out(mask_addr_bits),
            "m_rdata": In(mask_bits),
            "m_waddr": Out(mask_addr_bits),
            "m_wdata": Out(mask_bits),
            "m_wbits": Out(mask_bits),
            "m_we": Out(1),
            "w_raddr": Out(weight_addr_bits),
            "w_rdata": In(weight_bits),
            "w_waddr": Out(weight_addr_bits),
            "w_wdata": Out(weight_bits),
            "w_we": Out(1),
            "x_raddr": Out(maxima_bits),
            "x_rdata": In(maxima_bits),
        })


def conv_event_layout(channels: int, height: int, width: int) -> data.StructLayout:
    """An input spike event of a conv layer, or the end of the current timestep
    (:func:`snnhw.ir_conv.event_fields`)."""
    return data.StructLayout({name: unsigned(bits) for name, bits in
                              event_fields((channels, height, width))})


def conv_spike_layout(maps: int, height: int, width: int, t_bits: int,
                      v_bits: int) -> data.StructLayout:
    """An output spike: map, position, timestep and the potential at the spike; or, with
    ``eot``, the end of timestep ``t``."""
    return data.StructLayout({"f": unsigned(bits_for(maps - 1)),
                              "y": unsigned(bits_for(height - 1)),
                              "x": unsigned(bits_for(width - 1)), "t": unsigned(t_bits),
                              "v": unsigned(v_bits), "eot": unsigned(1)})


def lowest_bit(x: Value) -> tuple[Value, Value]:
    """``(x with only its lowest set bit, that bit's index)``; any index when ``x`` is 0.
    The isolation is ``x & -x`` (one carry chain, for the rest of the word, which only goes
    to a register); the index a priority tree straight from ``x`` (it goes on to the memory
    addresses in the same cycle: it must not wait for the carry)."""
    n = len(x)
    one_hot = x & (~x + 1)[:n]
    return one_hot, lowest_index(x)[:bits_for(n - 1)]


class _Phase(enum.Enum, shape=3):
    IDLE = 0  # waiting for an item (event or eot) or for start
    CLEAR = 1  # zeroing membranes, position memory and readout maxima
    ROW = 2  # issuing the kernel rows of an event
    DRAIN = 3  # the last write of the timestep lands
    RESOLVE = 4  # walking the crossing logs of the timestep
    EMIT = 5  # walking the positions that spike (pointwise inhibition)


class ConvEngine(wiring.Component):
    """One conv layer: input events in, timestamped output spikes out.

    Parameters
    ----------
    layer : ConvLayerIR
        Shapes, kernel, padding, threshold, widths and initial weights.
    lanes : int
        Synaptic updates per cycle (maps are spread over the lanes).
    timestep_bits : int
        Width of the timestep on ``o_spike``.
    readout : bool
        The readout layer of ``max_potential`` features: with ``integrate_only`` it only
        integrates (no firing), and keeps each map's largest potential.

    Members
    -------
    i_event : In(stream.Signature(conv_event_layout(...)))
    o_spike : Out(stream.Signature(conv_spike_layout(...)))
        The spikes of each timestep, then its end (``eot``); one a cycle at most.
    start : In(1)
        Begin an image: clear the membranes (a sweep of ``FL * Ho * Wo`` cycles), timestep 0.
    busy : Out(1)
        An image is being cleared, an event or a timestep's end is being processed.
    timestep : Out(timestep_bits)
    updates : Out(P)
        The lanes that do a synaptic update this cycle (for counters).
    """

    def __init__(self, layer: ConvLayerIR, *, lanes: int, timestep_bits: int,
                 readout: bool = False) -> None:
        if not isinstance(layer, ConvLayerIR):
            raise TypeError(f"Layer must be a ConvLayerIR, not {layer!r}")
        if not isinstance(lanes, int) or lanes < 1:
            raise TypeError(f"Lane count must be a positive integer, not {lanes!r}")
        self._layer = layer
        self._lanes = lanes
        self._readout = readout
        self._t_bits = timestep_bits
        c, h, w = layer.in_shape
        f, ho, wo = layer.out_shape
        super().__init__({
            "i_event": In(stream.Signature(conv_event_layout(c, h, w))),
            "o_spike": Out(stream.Signature(
                conv_spike_layout(f, ho, wo, timestep_bits, layer.membrane_bits))),
            "start": In(1),
            "busy": Out(1),
            "timestep": Out(timestep_bits),
            "updates": Out(lanes),
            "integrate_only": In(1),
            "kernel": In(KernelPortSignature(**self.kernel_port_widths())),
        })

    # -- sizes --------------------------------------------------------------------------------

    def kernel_port_widths(self) -> dict[str, int]:
        L = self._layer
        C, K = L.in_shape[0], L.kernel
        FL = self.maps_per_lane
        return {"lane_bits": bits_for(self._lanes - 1),
                "mask_addr_bits": bits_for(C * K - 1), "mask_bits": K * self.mask_stride,
                "weight_addr_bits": bits_for(C * K * K * FL - 1),
                "weight_bits": L.weight_bits,
                "maxima_bits": max(bits_for(FL - 1), L.membrane_bits)}

    @property
    def layer(self) -> ConvLayerIR:
        return self._layer

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def readout(self) -> bool:
        return self._readout

    @property
    def prunes(self) -> bool:
        """Whether the layer prunes: only then are its alive masks a memory (else every tap
        is alive for good, and the masks constants)."""
        return self._layer.prune_threshold is not None

    @property
    def maps_per_lane(self) -> int:
        """FL: local maps of each lane."""
        return self.banks.fl

    @property
    def mask_stride(self) -> int:
        """FL2: the power of two >= FL that spaces a row's columns in its mask word."""
        return self.banks.fl2

    @property
    def banks(self) -> KernelBanks:
        L = self._layer
        return KernelBanks(maps=L.maps, channels=L.in_shape[0], kernel=L.kernel,
                           lanes=self._lanes)

    def lane_weights(self, lane: int) -> list[int]:
        """Weight bank ``lane``'s initial words (:class:`~snnhw.ir_conv.KernelBanks`)."""
        return self.banks.weight_words(self._layer.weights)[lane].tolist()

    def lane_masks(self, lane: int, alive=None) -> list[int]:
        """Mask bank ``lane``'s words: ``alive`` (all taps when None)."""
        if alive is None:
            alive = np.ones(self._layer.weights.shape, dtype=bool)
        return self.banks.mask_words(alive)[lane]

    # -- elaboration --------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        L = self._layer
        P, FL, FL2 = self._lanes, self.maps_per_lane, self.mask_stride
        lfl = (FL2 - 1).bit_length()
        C, H, W = L.in_shape
        F, HO, WO = L.out_shape
        PAD = L.padding
        VB = L.membrane_bits
        npos = HO * WO
        depth_v = FL * npos

        w_rd, w_wr, mask_rd, mask_wr, v_rd, v_wr, log_rd, log_wr, fm_rd, fm_wr = \
            self._storage(m)

        phase = Signal(_Phase)
        ts = Signal(self._t_bits)
        self.debug = SimpleNamespace(phase=phase, ts=ts)
        m.d.comb += [self.busy.eq((phase != _Phase.IDLE) | self.start),
                     self.timestep.eq(ts)]

        walk = self._walk(m, mask_rd, phase, ts)
        low_idx, issue, yo, wbase, xp = walk.low_idx, walk.issue, walk.yo, walk.wbase, walk.xp
        vrow = walk.vrow
        kp = self.kernel

        # lane addresses of the issued updates
        s0_fl, s0_x = [], []
        for ln in range(P):
            j = low_idx[ln] >> lfl
            fl = low_idx[ln][:lfl] if lfl else Const(0, 1)
            x_out = Signal(range(max(2, W + 2 * PAD)), name=f"s0_x_{ln}")
            m.d.comb += x_out.eq(xp - j)
            s0_fl.append(fl)
            s0_x.append(x_out)
            # the tap's offset in its row's weights: (j, fl) as it is when FL is FL2
            off = low_idx[ln] if FL == FL2 else times_const(j, FL) + fl
            m.d.comb += w_rd[ln].addr.eq(Mux(kp.en, kp.w_raddr, wbase[ln] + off))
            m.d.comb += w_rd[ln].en.eq(1)
        m.d.comb += self.updates.eq(Cat(*issue))

        # -- write stage (S1): add, write back, log crossings, track maxima --
        s1_valid = [Signal(name=f"s1_valid_{ln}") for ln in range(P)]
        s1_fl = [Signal(bits_for(FL - 1), name=f"s1_fl_{ln}") for ln in range(P)]
        s1_y = [Signal(range(max(2, HO)), name=f"s1_y_{ln}") for ln in range(P)]
        s1_x = [Signal(range(max(2, WO)), name=f"s1_x_{ln}") for ln in range(P)]
        s1_addr = [Signal(range(max(2, depth_v)), name=f"s1_addr_{ln}") for ln in range(P)]
        log_ptr = [Signal(range(depth_v + 1), name=f"log_ptr_{ln}") for ln in range(P)]
        v_addr0 = []
        for ln in range(P):
            a = Signal(range(max(2, depth_v)), name=f"s0_vaddr_{ln}")
            m.d.comb += a.eq(times_const(s0_fl[ln], npos) + vrow[ln] - (low_idx[ln] >> lfl))
            v_addr0.append(a)
            m.d.sync += [s1_valid[ln].eq(issue[ln]), s1_fl[ln].eq(s0_fl[ln]),
                         s1_x[ln].eq(s0_x[ln]), s1_y[ln].eq(yo[ln]), s1_addr[ln].eq(a)]

        clear_addr = Signal(range(depth_v + 1))
        clearing = phase == _Phase.CLEAR
        new_v = []
        for ln in range(P):
            nv = Signal(VB + 1, name=f"new_v_{ln}")
            old = v_rd[ln].data
            m.d.comb += nv.eq(old + w_rd[ln].data)
            new_v.append(nv)
            m.d.comb += [
                v_wr[ln].addr.eq(Mux(clearing, clear_addr, s1_addr[ln])),
                v_wr[ln].data.eq(Mux(clearing, 0, nv)),
                v_wr[ln].en.eq(clearing | s1_valid[ln]),
            ]
            crossed = (s1_valid[ln] & ~self.integrate_only & (old < L.threshold) &
                       (nv >= L.threshold))
            m.d.comb += [
                log_wr[ln].addr.eq(log_ptr[ln]),
                log_wr[ln].data.fl.eq(s1_fl[ln]), log_wr[ln].data.y.eq(s1_y[ln]),
                log_wr[ln].data.x.eq(s1_x[ln]),
                log_wr[ln].en.eq(crossed),
            ]
            with m.If(crossed):
                m.d.sync += log_ptr[ln].eq(log_ptr[ln] + 1)
            if self._readout:
                m.d.comb += [fm_rd[ln].addr.eq(Mux(kp.en, kp.x_raddr, s0_fl[ln])),
                             fm_rd[ln].en.eq(1)]
                bigger = nv > fm_rd[ln].data
                m.d.comb += [
                    fm_wr[ln].addr.eq(Mux(clearing, clear_addr, s1_fl[ln])),
                    fm_wr[ln].data.eq(Mux(clearing, 0, nv)),
                    fm_wr[ln].en.eq(Mux(clearing, clear_addr < FL, s1_valid[ln] & bigger)),
                ]

        self._kernel_port(m, w_rd, w_wr, mask_rd, mask_wr, fm_rd)

        # -- start: clear sweep --
        with m.If(self.start):
            m.d.sync += [phase.eq(_Phase.CLEAR), clear_addr.eq(0), ts.eq(0)]
            m.d.sync += [p.eq(0) for p in log_ptr]
        with m.Elif(clearing):
            m.d.sync += clear_addr.eq(clear_addr + 1)
            with m.If(clear_addr == depth_v - 1):
                m.d.sync += phase.eq(_Phase.IDLE)

        self._resolution(m, SimpleNamespace(
            HO=HO, WO=WO, npos=npos, depth_v=depth_v, phase=phase, ts=ts, clearing=clearing,
            clear_addr=clear_addr, log_rd=log_rd, log_ptr=log_ptr, v_rd=v_rd,
            v_addr0=v_addr0))
        return m

    def _walk(self, m: Module, mask_rd, phase, ts) -> SimpleNamespace:
        """The issue stage (S0): takes the items, walks each event's kernel rows lane by
        lane; returns per lane the tap (lowest bit index) and whether it issues, the output
        row ``yo`` and weight base of its row, and the event's padded column ``xp``."""
        L = self._layer
        P, FL, FL2 = self._lanes, self.maps_per_lane, self.mask_stride
        C, H, W = L.in_shape
        _, HO, WO = L.out_shape
        K, PAD = L.kernel, L.padding
        lfl = (FL2 - 1).bit_length()

        # -- issue stage (S0): an event's kernel rows, one lowest bit per lane per cycle --
        # Row ``i`` of event ``(c, y, x)`` reaches outputs ``(y + PAD - i, x + PAD - j)`` for
        # the columns ``j`` in [j_lo, j_hi]; rows run from i_lo to i_hi. Each lane walks the
        # rows on its own (its memories are its own): a lane whose row has few alive taps
        # goes on to its next row while the others are still busy, and waits (``done``) after
        # its last row until every lane is through; the next event is taken in that cycle.
        # A lane's mask word is read one cycle ahead (sync read): in the cycle its row ends
        # (at most one bit left) the next row's address is presented, and that row's first
        # cycle takes the word straight from the read port (``first``); later cycles from
        # the lane's register.
        ev = self.i_event.payload
        dec = self._decode(m, ev)
        xp_n, i_lo_n, i_hi_n, j_lo_n = dec.xp, dec.i_lo, dec.i_hi, dec.j_lo
        colmask_n = dec.colmask

        row_last = Signal(range(K))
        colmask = Signal(K * FL2)
        xp = Signal(range(max(2, W + 2 * PAD)))

        def per_lane(shape, name):
            return [Signal(shape, name=f"{name}_{ln}") for ln in range(P)]

        row_i = per_lane(range(K), "row_i")
        first = per_lane(1, "first")
        done = per_lane(1, "done")  # the lane is through the event's rows
        yo = per_lane(range(max(2, H + 2 * PAD)), "yo")  # y + PAD - i: the row's output row
        row_addr = per_lane(range(max(2, C * K)), "row_addr")
        wbase = per_lane(range(max(2, C * K * K * FL)), "wbase")
        vrow = per_lane(range(max(2, HO * WO + W + 2 * PAD)), "vrow")  # yo * WO + xp
        mk = per_lane(K * FL2, "mk")
        nidx = per_lane(bits_for(K * FL2 - 1), "nidx")  # the lowest tap of ``mk``
        fidx = Signal(bits_for(K * FL2 - 1))  # the lowest tap of the rows' words (constant)
        # ``msingle``: ``mk`` has at most one tap (last cycle's word at most two); ``wsingle``:
        # the rows' words have at most one (constant masks: set with the event); ``last_row``:
        # the lane's row is the event's last. The end of a row and of an event (which takes
        # the next item) come from these registers, not from a tree over the word.
        msingle = per_lane(1, "msingle")
        wsingle = per_lane(1, "wsingle")
        wany = per_lane(1, "wany")  # the rows' words have a tap (constant masks)
        last_row = per_lane(1, "last_row")

        rowing = phase == _Phase.ROW
        low_idx = []
        row_end = []
        through = []  # the lane is through the event's rows at the end of this cycle
        issue = []
        # The tap a lane issues goes on to its weight and membrane addresses in the same
        # cycle, so it comes from registers: ``nidx`` is the lowest tap of ``mk`` (the
        # second lowest of last cycle's word, a priority tree), and a row's first tap, when
        # the masks are constants, is column j_lo's first map slot (``fidx``, set with the
        # event); with mask memories it is the read word's lowest bit (a tree after the read).
        for ln in range(P):
            word = Signal(K * FL2, name=f"row_word_{ln}")  # a row's word in its first cycle
            m.d.comb += word.eq(mask_rd[ln].data & colmask)
            cu = Signal(K * FL2, name=f"cur_{ln}")
            m.d.comb += cu.eq(Mux(done[ln], 0, Mux(first[ln], word, mk[ln])))
            one_hot, _ = lowest_bit(cu)
            rest = Signal(K * FL2, name=f"rest_{ln}")
            w1, w2 = lowest_two(word)
            _, k2 = lowest_two(mk[ln])
            ix = Signal(len(nidx[ln]), name=f"idx_{ln}")
            m.d.comb += [rest.eq(cu & ~one_hot),
                         ix.eq(Mux(first[ln], w1 if self.prunes else fidx, nidx[ln]))]
            m.d.sync += nidx[ln].eq(Mux(first[ln], w2, k2))
            low_idx.append(ix)
            # the row ends when at most one tap is left
            single = Signal(name=f"single_{ln}")
            m.d.comb += single.eq(done[ln] | Mux(first[ln], at_most_one(word) if self.prunes
                                                 else wsingle[ln], msingle[ln]))
            m.d.sync += msingle[ln].eq(Mux(first[ln], at_most_two(word), at_most_two(mk[ln])))
            row_end.append(single)
            through.append(done[ln] | single & last_row[ln])
            # a lane past its row's first cycle always has a tap left (its row would have
            # ended), so only the first cycle looks at the word
            issue.append(rowing & ~done[ln] &
                         Mux(first[ln], (word != 0) if self.prunes else wany[ln], 1))
            m.d.sync += mk[ln].eq(rest)
        event_end = Signal()
        m.d.comb += event_end.eq(rowing & Cat(*through).all())

        # next item: taken from IDLE, or in the last cycle of an event (back to back)
        take = Signal()
        m.d.comb += [
            self.i_event.ready.eq((phase == _Phase.IDLE) & ~self.start | event_end),
            take.eq(self.i_event.ready & self.i_event.valid),
        ]
        first_row = dec.first_row
        kp = self.kernel
        for ln in range(P):
            m.d.comb += [mask_rd[ln].addr.eq(Mux(kp.en, kp.m_raddr,
                                                 Mux(take, first_row, row_addr[ln] + 1))),
                         mask_rd[ln].en.eq(1)]
            with m.If(rowing & ~done[ln]):
                m.d.sync += first[ln].eq(row_end[ln])
                with m.If(row_end[ln]):
                    with m.If(~last_row[ln]):
                        m.d.sync += [row_i[ln].eq(row_i[ln] + 1),
                                     last_row[ln].eq(row_i[ln] + 1 == row_last),
                                     row_addr[ln].eq(row_addr[ln] + 1),
                                     yo[ln].eq(yo[ln] - 1), vrow[ln].eq(vrow[ln] - WO),
                                     wbase[ln].eq(wbase[ln] + K * FL)]
                    with m.Else():
                        m.d.sync += done[ln].eq(1)
        with m.If(take):
            with m.If(ev.eot):
                with m.If(self.integrate_only):
                    m.d.sync += [phase.eq(_Phase.IDLE), ts.eq(ts + 1)]
                with m.Else():
                    m.d.sync += phase.eq(_Phase.DRAIN)
            with m.Else():
                m.d.sync += [phase.eq(_Phase.ROW), row_last.eq(i_hi_n),
                             colmask.eq(colmask_n), xp.eq(xp_n), fidx.eq(j_lo_n << lfl)]
                for ln in range(P):
                    lane_word = Const(self.lane_masks(ln)[0], K * FL2) & colmask_n
                    m.d.sync += [
                        first[ln].eq(1), done[ln].eq(0), row_i[ln].eq(i_lo_n),
                        last_row[ln].eq(i_lo_n == i_hi_n),
                        wsingle[ln].eq(at_most_one(lane_word)),
                        wany[ln].eq(lane_word != 0),
                        row_addr[ln].eq(first_row), yo[ln].eq(dec.yo), vrow[ln].eq(dec.vrow),
                        wbase[ln].eq(dec.wbase),
                    ]
        with m.Elif(event_end):
            m.d.sync += phase.eq(_Phase.IDLE)
        return SimpleNamespace(low_idx=low_idx, issue=issue, yo=yo, wbase=wbase, xp=xp,
                               vrow=vrow)

    def _decode(self, m: Module, ev) -> SimpleNamespace:
        """What the lanes load from an item when they take it: its padded column ``xp``,
        first and last kernel rows ``i_lo``, ``i_hi`` (``yp = y + PAD``: rows ``i`` with
        ``0 <= yp - i < HO``), first column ``j_lo`` and the columns' mask ``colmask``, the
        first row's output row ``yo``, ``vrow = yo * WO + xp``, mask address ``first_row``
        and weight base ``wbase``. The item comes straight from a block RAM read in the cycle
        it is taken, so each is a constant comparison on the raw ``(c, y, x)`` and a short
        sum, not a chain of adders (``max(0, yp - HO + 1)``, then ``yp - i_lo``, ...)."""
        L = self._layer
        FL = self.maps_per_lane
        C, H, W = L.in_shape
        _, HO, WO = L.out_shape
        K, PAD = L.kernel, L.padding

        def at_least(v, c):  # v >= c for unsigned v and any constant c
            return Const(1, 1) if c <= 0 else v >= c

        def shifted(v, d):  # v - d, known not to be negative where it is used
            return v - d if d >= 0 else v + (-d)

        y, x = ev.y, ev.x
        d_y, d_x = HO - 1 - PAD, WO - 1 - PAD  # yp >= HO - 1 exactly when y >= d_y
        y_big = at_least(y, d_y)
        x_big = at_least(x, d_x)
        o = SimpleNamespace(xp=Signal(range(max(2, W + 2 * PAD)), name="dec_xp"),
                            i_lo=Signal(range(K), name="dec_i_lo"),
                            i_hi=Signal(range(K), name="dec_i_hi"),
                            j_lo=Signal(range(K), name="dec_j_lo"),
                            colmask=Signal(K * self.mask_stride, name="dec_colmask"),
                            yo=Signal(range(max(2, H + 2 * PAD)), name="dec_yo"),
                            vrow=Signal(range(max(2, HO * WO + W + 2 * PAD)), name="dec_vrow"),
                            first_row=Signal(range(max(2, C * K)), name="dec_first_row"),
                            wbase=Signal(range(max(2, C * K * K * FL)), name="dec_wbase"))
        i_lo = Mux(y_big, shifted(y, d_y), 0)
        # column j reaches an output when 0 <= x + PAD - j < WO
        cols = [at_least(x, j - PAD) & ~at_least(x, j + WO - PAD) for j in range(K)]
        m.d.comb += [
            o.xp.eq(x + PAD),
            o.i_lo.eq(i_lo),
            o.i_hi.eq(Mux(at_least(y, K - 1 - PAD), K - 1, y + PAD)),
            o.j_lo.eq(Mux(x_big, shifted(x, d_x), 0)),
            o.colmask.eq(Cat(*[c.replicate(self.mask_stride) for c in cols])),
            o.yo.eq(Mux(y_big, HO - 1, y + PAD)),
            o.vrow.eq(Mux(y_big, x + ((HO - 1) * WO + PAD),
                          times_const(y, WO) + (x + (PAD * WO + PAD)))),
            o.first_row.eq(times_const(ev.c, K) + i_lo),
            o.wbase.eq(times_const(ev.c, K * K * FL) +
                       Mux(y_big, times_const(shifted(y, d_y)[:len(o.i_lo)], K * FL), 0)),
        ]
        return o

    def _storage(self, m: Module) -> tuple[list, ...]:
        """Per lane: weights, alive masks, membranes, crossing log (and readout maxima);
        returns their ports."""
        L = self._layer
        P, FL, FL2 = self._lanes, self.maps_per_lane, self.mask_stride
        C = L.in_shape[0]
        _, HO, WO = L.out_shape
        K, VB = L.kernel, L.membrane_bits
        depth_v = FL * HO * WO
        wmem, mmem, vmem, log, fmax = [], [], [], [], []
        log_layout = data.StructLayout({"fl": unsigned(bits_for(FL - 1)),
                                        "y": unsigned(bits_for(HO - 1)),
                                        "x": unsigned(bits_for(WO - 1))})
        for ln in range(P):
            wm = memory.Memory(shape=unsigned(L.weight_bits), depth=C * K * K * FL,
                               init=self.lane_weights(ln))
            vm = memory.Memory(shape=unsigned(VB), depth=depth_v, init=[])
            lg = memory.Memory(shape=log_layout, depth=depth_v, init=[])
            m.submodules[f"weights_{ln}"] = wm
            m.submodules[f"membranes_{ln}"] = vm
            m.submodules[f"crossings_{ln}"] = lg
            wmem.append(wm)
            vmem.append(vm)
            if self.prunes:
                mm = memory.Memory(shape=unsigned(K * FL2), depth=C * K,
                                   init=self.lane_masks(ln))
                m.submodules[f"masks_{ln}"] = mm
                mmem.append(mm)
            log.append(lg)
            if self._readout:
                fm = memory.Memory(shape=unsigned(VB), depth=FL, init=[])
                m.submodules[f"maxima_{ln}"] = fm
                fmax.append(fm)
        self.memories = {"weights": wmem, "masks": mmem, "membranes": vmem}
        w_rd = [x.read_port() for x in wmem]
        w_wr = [x.write_port() for x in wmem]
        if self.prunes:
            mask_rd = [x.read_port() for x in mmem]
            mask_wr = [x.write_port(granularity=1) for x in mmem]
        else:  # every tap stays alive: each lane's mask is a constant, the same for every row
            mask_rd = [SimpleNamespace(addr=Signal(range(max(2, C * K)), name=f"mask_addr_{ln}"),
                                       en=Signal(name=f"mask_en_{ln}"),
                                       data=Const(self.lane_masks(ln)[0], K * FL2))
                       for ln in range(P)]
            mask_wr = [SimpleNamespace(addr=Signal.like(r.addr), data=Signal(K * FL2),
                                       en=Signal(K * FL2)) for r in mask_rd]
        v_wr = [x.write_port() for x in vmem]
        v_rd = [x.read_port(transparent_for=(wp,)) for x, wp in zip(vmem, v_wr, strict=True)]
        log_wr = [x.write_port() for x in log]
        log_rd = [x.read_port() for x in log]
        fm_wr = [x.write_port() for x in fmax]
        fm_rd = [x.read_port(transparent_for=(wp,)) for x, wp in zip(fmax, fm_wr, strict=True)]

        return w_rd, w_wr, mask_rd, mask_wr, v_rd, v_wr, log_rd, log_wr, fm_rd, fm_wr

    def _kernel_port(self, m: Module, w_rd, w_wr, mask_rd, mask_wr, fm_rd) -> None:
        """The kernel port: writes, and the read data of last cycle's requests."""
        P = self._lanes
        kp = self.kernel
        here = [kp.en & (kp.lane == ln) for ln in range(P)]
        for ln in range(P):
            m.d.comb += [
                w_wr[ln].addr.eq(kp.w_waddr), w_wr[ln].data.eq(kp.w_wdata),
                w_wr[ln].en.eq(here[ln] & kp.w_we),
                # only real maps' slots can be alive: a mask written with other bits set
                # would send the engine to maps that do not exist
                mask_wr[ln].addr.eq(kp.m_waddr),
                mask_wr[ln].data.eq(kp.m_wdata & self.lane_masks(ln)[0]),
                mask_wr[ln].en.eq(Mux(here[ln] & kp.m_we, kp.m_wbits, 0)),
            ]
        r_lane = Signal(range(max(2, P)))
        m.d.sync += r_lane.eq(kp.lane)
        with m.Switch(r_lane):
            for ln in range(P):
                with m.Case(ln):
                    m.d.comb += [kp.w_rdata.eq(w_rd[ln].data), kp.m_rdata.eq(mask_rd[ln].data)]
                    if self._readout:
                        m.d.comb += kp.x_rdata.eq(fm_rd[ln].data)


    def _resolution(self, m: Module, s: SimpleNamespace) -> None:
        """The end of a timestep: crossings to spikes (DRAIN, RESOLVE, EMIT)."""
        L = self._layer
        P, FL = self._lanes, self.maps_per_lane
        HO, WO, npos = s.HO, s.WO, s.npos
        VB = L.membrane_bits
        phase, ts = s.phase, s.ts
        log_rd, log_ptr = s.log_rd, s.log_ptr
        v_rd, v_addr0 = s.v_rd, s.v_addr0
        pointwise = L.pointwise_inhibition

        # RESOLVE walker (R0): the lowest lane with crossings left gives one a cycle. Without
        # pointwise inhibition R3 sends the spike; ``adv`` holds R0-R3 (and their read ports)
        # while the consumer is not ready.
        rd = [Signal(range(s.depth_v + 1), name=f"res_rd_{ln}") for ln in range(P)]
        left = Cat(*[rd[ln] != log_ptr[ln] for ln in range(P)])
        walking = phase == _Phase.RESOLVE
        r2 = Signal()
        adv = Signal()
        m.d.comb += adv.eq(~r2 | self.o_spike.ready if not pointwise else 1)
        pick = Signal(range(max(2, P)))
        for ln in reversed(range(P)):
            with m.If(left[ln]):
                m.d.comb += pick.eq(ln)
        r0 = Signal()
        m.d.comb += r0.eq(walking & left.any() & adv)
        for ln in range(P):
            m.d.comb += [log_rd[ln].addr.eq(rd[ln]), log_rd[ln].en.eq(adv)]
            with m.If(r0 & (pick == ln)):
                m.d.sync += rd[ln].eq(rd[ln] + 1)
        # R1: the log word, registered (a block RAM read's clock-to-out is long: the
        # membrane address is computed in the next stage, from registers)
        r1, r1_lane = Signal(), Signal(range(max(2, P)))
        with m.If(adv):
            m.d.sync += [r1.eq(r0), r1_lane.eq(pick)]
        rq, rq_lane = Signal(), Signal(range(max(2, P)))
        r1_fl = Signal(bits_for(FL - 1))
        r1_y = Signal(range(max(2, HO)))
        r1_x = Signal(range(max(2, WO)))
        with m.Switch(r1_lane):
            for ln in range(P):
                with m.Case(ln):
                    m.d.comb += [r1_fl.eq(log_rd[ln].data.fl), r1_y.eq(log_rd[ln].data.y),
                                 r1_x.eq(log_rd[ln].data.x)]
        rq_fl, rq_y, rq_x = Signal.like(r1_fl), Signal.like(r1_y), Signal.like(r1_x)
        with m.If(adv):
            m.d.sync += [rq.eq(r1), rq_lane.eq(r1_lane), rq_fl.eq(r1_fl), rq_y.eq(r1_y),
                         rq_x.eq(r1_x)]
        # RQ: read the neuron's potential
        rq_addr = times_const(rq_fl, npos) + times_const(rq_y, WO) + rq_x
        for ln in range(P):
            m.d.comb += [v_rd[ln].addr.eq(Mux(walking, rq_addr, v_addr0[ln])),
                         v_rd[ln].en.eq(~walking | adv)]
        # R2: the potential
        r2_lane = Signal(range(max(2, P)))
        r2_f = Signal(bits_for(L.maps - 1))
        r2_y, r2_x = Signal.like(r1_y), Signal.like(r1_x)
        with m.If(adv):
            m.d.sync += [r2.eq(rq), r2_lane.eq(rq_lane), r2_y.eq(rq_y), r2_x.eq(rq_x),
                         r2_f.eq(times_const(rq_fl, P) + rq_lane)]
        r2_v = Signal(VB)
        with m.Switch(r2_lane):
            for ln in range(P):
                with m.Case(ln):
                    m.d.comb += r2_v.eq(v_rd[ln].data)

        spike = self.o_spike.payload
        m.d.comb += spike.t.eq(ts)
        if not pointwise:
            done = walking & ~left.any() & ~r1 & ~rq & ~r2
            with m.If(done):  # the timestep's end goes out last
                m.d.comb += [self.o_spike.valid.eq(1), spike.eot.eq(1)]
            with m.Else():
                m.d.comb += [self.o_spike.valid.eq(r2), spike.f.eq(r2_f), spike.y.eq(r2_y),
                             spike.x.eq(r2_x), spike.v.eq(r2_v)]
            with m.If(done & self.o_spike.ready):
                m.d.sync += [phase.eq(_Phase.IDLE), ts.eq(ts + 1)]
        else:
            busy_tail = r1 | rq | self._pointwise(m, s, r2, r2_f, r2_y, r2_x, r2_v)
            with m.If(walking & ~left.any() & ~busy_tail):
                m.d.sync += phase.eq(_Phase.EMIT)
        with m.If(phase == _Phase.DRAIN):
            m.d.sync += phase.eq(_Phase.RESOLVE)
        with m.If(self.start):
            m.d.sync += [x.eq(0) for x in rd]

    def _pointwise(self, m: Module, s: SimpleNamespace, r2, r2_f, r2_y, r2_x, r2_v) -> Value:
        """Pointwise inhibition: per position the best crossing of the timestep (R3), then
        one spike per position that got one (EMIT). Returns 'the R pipeline is busy'."""
        L = self._layer
        HO, WO, npos = s.HO, s.WO, s.npos
        VB = L.membrane_bits
        phase, ts, clearing, clear_addr = s.phase, s.ts, s.clearing, s.clear_addr
        pos_layout = data.StructLayout({"done": unsigned(1), "has": unsigned(1),
                                        "f": unsigned(bits_for(L.maps - 1)),
                                        "v": unsigned(VB)})
        pm = memory.Memory(shape=pos_layout, depth=npos, init=[])
        tl = memory.Memory(shape=data.StructLayout({"y": unsigned(bits_for(HO - 1)),
                                                    "x": unsigned(bits_for(WO - 1))}),
                           depth=npos, init=[])
        m.submodules.positions = pm
        m.submodules.touched = tl
        pm_wr = pm.write_port()
        pm_rd = pm.read_port(transparent_for=(pm_wr,))
        tl_wr = tl.write_port()
        tl_rd = tl.read_port()
        n_touched = Signal(range(npos + 1))
        emitting = phase == _Phase.EMIT

        # R2 reads the position word; R3 compares and writes it back (transparent read: two
        # crossings of one position in consecutive cycles see each other's write).
        r3 = Signal()
        r3_f = Signal.like(r2_f)
        r3_y, r3_x = Signal.like(r2_y), Signal.like(r2_x)
        r3_v = Signal(VB)
        r3_pos = Signal(range(max(2, npos)))
        m.d.sync += [r3.eq(r2), r3_f.eq(r2_f), r3_y.eq(r2_y), r3_x.eq(r2_x), r3_v.eq(r2_v),
                     r3_pos.eq(times_const(r2_y, WO) + r2_x)]
        old = pm_rd.data
        better = (r3_v > old.v) | ((r3_v == old.v) & (r3_f < old.f))
        write_best = r3 & ~old.done & (~old.has | better)
        append = r3 & ~old.done & ~old.has

        # EMIT: E0 reads the touched list, E1 registers its word (a block RAM read's
        # clock-to-out is long), EQ reads the position word, E2 sends the spike and marks the
        # position done; ``adv`` holds E0-E2 while the consumer is not ready.
        e_rd = Signal(range(npos + 1))
        e0, e1, eq, e2 = Signal(), Signal(), Signal(), Signal()
        adv = Signal()
        m.d.comb += adv.eq(~e2 | self.o_spike.ready)
        m.d.comb += e0.eq(emitting & (e_rd != n_touched) & adv)
        m.d.comb += [tl_rd.addr.eq(e_rd), tl_rd.en.eq(adv)]
        eq_y, eq_x = Signal.like(r2_y), Signal.like(r2_x)
        e2_y, e2_x = Signal.like(r2_y), Signal.like(r2_x)
        e2_pos = Signal(range(max(2, npos)))
        eq_pos = times_const(eq_y, WO) + eq_x
        with m.If(adv):
            m.d.sync += [e1.eq(e0), eq.eq(e1), e2.eq(eq), eq_y.eq(tl_rd.data.y),
                         eq_x.eq(tl_rd.data.x), e2_y.eq(eq_y), e2_x.eq(eq_x),
                         e2_pos.eq(eq_pos)]
        with m.If(e0):
            m.d.sync += e_rd.eq(e_rd + 1)
        m.d.comb += [pm_rd.addr.eq(Mux(emitting, eq_pos, times_const(r2_y, WO) + r2_x)),
                     pm_rd.en.eq(~emitting | adv)]

        m.d.comb += [tl_wr.addr.eq(n_touched), tl_wr.data.y.eq(r3_y), tl_wr.data.x.eq(r3_x),
                     tl_wr.en.eq(append)]
        with m.If(append):
            m.d.sync += n_touched.eq(n_touched + 1)

        pw = pm_wr.data
        with m.If(clearing):
            m.d.comb += [pm_wr.addr.eq(clear_addr), pm_wr.en.eq(clear_addr < npos)]
        with m.Elif(emitting):
            m.d.comb += [pm_wr.addr.eq(e2_pos), pm_wr.en.eq(e2 & self.o_spike.ready),
                         pw.eq(pm_rd.data), pw.done.eq(1)]
        with m.Else():
            m.d.comb += [pm_wr.addr.eq(r3_pos), pm_wr.en.eq(write_best), pw.has.eq(1),
                         pw.f.eq(r3_f), pw.v.eq(r3_v)]

        spike = self.o_spike.payload
        done = emitting & (e_rd == n_touched) & ~e1 & ~eq & ~e2
        with m.If(done):  # the timestep's end goes out last
            m.d.comb += [self.o_spike.valid.eq(1), spike.eot.eq(1)]
        with m.Else():
            m.d.comb += [self.o_spike.valid.eq(e2), spike.f.eq(pm_rd.data.f), spike.y.eq(e2_y),
                         spike.x.eq(e2_x), spike.v.eq(pm_rd.data.v)]
        with m.If(done & self.o_spike.ready):
            m.d.sync += [phase.eq(_Phase.IDLE), ts.eq(ts + 1), n_touched.eq(0), e_rd.eq(0)]
        with m.If(self.start):
            m.d.sync += [n_touched.eq(0), e_rd.eq(0)]
        return r2 | r3
