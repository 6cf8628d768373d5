"""The STDP unit of shared kernels: multiplicative STDP with stochastic rounding, and tap
pruning (docs/semantics.md, "Learning" and "Kernel pruning").

It keeps the learning layer's input spike times (the time map, written as the input events
pass) and, after the image, walks each winner's kernel through the conv engine's kernel
port: row by row ``(c, i)``, the row's alive taps of the winner's map one a cycle (the lowest
set bit of the row's mask first, as the golden model's raster order), so pruned taps cost no
cycle and draw no random number. Per tap, a five-stage pipeline:

* T0: read the weight and the input's spike time; step the generator (``u``);
* T1: ``ltp`` = the input spiked no later than the winner; the weight is registered (the
  kernel port's read comes through the lanes' multiplexer, too late for a multiplier);
* T1Q: ``q = w * (2**B - w)``;
* T2: ``p = a * q`` (``a`` = a+ or a-);
* T3: ``d = ((p >> B) + u) >> 16``; the new weight, saturated; at or below the pruning
  threshold (when pruning is on) the weight is written 0 and the alive bit cleared in the
  same cycle.

A winner's taps are all different weights, and a map wins at most once per image, so the
pipeline has no hazard; it drains (``TAIL`` cycles) before the next winner, whose map may sit
in another lane.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ...ir import bits_for
from ...ir_conv import DRAW_BITS, RATE_BITS, ConvLayerIR
from ..common import times_const
from .conv import KernelPortSignature, lowest_bit
from .rng import xorshift16

__all__ = ["KernelLearner", "TAIL"]

TAIL = 4  #: cycles after a winner's last tap: its pipeline drains


class KernelLearner(wiring.Component):
    """Learning of one conv layer's winners, and its input time map.

    Parameters
    ----------
    layer : ConvLayerIR
        The learning layer (its STDP and pruning parameters).
    lanes, maps_per_lane, mask_stride : int
        The conv engine's organisation (:class:`~.conv.ConvEngine`).
    timesteps : int
    kernel_port : dict
        The engine's :meth:`~.conv.ConvEngine.kernel_port_widths`.
    win_layout : Layout
        The winners' layout (:class:`~.kwta.KWinners`).

    Members
    -------
    i_pre_valid, i_pre_c, i_pre_y, i_pre_x, i_pre_t : In
        An input spike of the layer (no backpressure): stored in the time map.
    clear : In(1)
        Begin an image: empty the time map (``H * W`` cycles).
    start : In(1)
        Learn from ``n_winners`` winners, read through ``sel`` / ``win``.
    rates : In(a_plus, a_minus), prune_on : In(1)
        This image's rates and whether an update may prune.
    kernel : Out(KernelPortSignature)
    busy : Out(1)
    gen : Out(16)
        The rounding generator's state; ``gen_load`` sets it to ``gen_value``.
    updated, pruned : Out(1)
        A weight is written / a tap is pruned this cycle.
    """

    def __init__(self, layer: ConvLayerIR, *, lanes: int, maps_per_lane: int,
                 mask_stride: int, timesteps: int, kernel_port: dict, k: int,
                 win_layout) -> None:
        if layer.stdp is None:
            raise ValueError(f"Layer {layer.name} does not learn")
        self._layer = layer
        self._P, self._FL, self._FL2 = lanes, maps_per_lane, mask_stride
        self._T = timesteps
        self._k = k
        self.tb = bits_for(timesteps)  # a stored time: t + 1, 0 for no spike
        # the ladder's a- can pass 16 bits (a+ * a_minus // a_plus with a_minus > a_plus)
        self.rate_bits = max(RATE_BITS, *(bits_for(max(r)) for r in layer.stdp.rates))
        c, h, w = layer.in_shape
        super().__init__({
            "i_pre_valid": In(1), "i_pre_c": In(bits_for(c - 1)),
            "i_pre_y": In(bits_for(h - 1)), "i_pre_x": In(bits_for(w - 1)),
            "i_pre_t": In(bits_for(timesteps - 1)),
            "clear": In(1),
            "start": In(1),
            "n_winners": In(range(k + 1)),
            "sel": Out(range(max(2, k))),
            "win": In(win_layout),
            "a_plus": In(self.rate_bits), "a_minus": In(self.rate_bits),
            "prune_on": In(1),
            "kernel": Out(KernelPortSignature(**kernel_port)),
            "busy": Out(1),
            "gen": Out(16, init=layer.stdp.generator_state),
            "gen_load": In(1), "gen_value": In(16),
            "updated": Out(1), "pruned": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self._layer
        P, FL, FL2, tb = self._P, self._FL, self._FL2, self.tb
        C, H, W = L.in_shape
        F = L.maps
        K, PAD, B = L.kernel, L.padding, L.weight_bits
        kp = self.kernel

        # -- the time map: one word per input position, a field of tb bits per channel --
        tmap = memory.Memory(shape=unsigned(C * tb), depth=H * W, init=[])
        m.submodules.time_map = tmap
        tm_wr = tmap.write_port(granularity=tb)
        tm_rd = tmap.read_port()
        clearing = Signal()
        clear_addr = Signal(range(H * W + 1))
        pre_addr = Signal(range(max(2, H * W)))
        m.d.comb += pre_addr.eq(times_const(self.i_pre_y, W) + self.i_pre_x)
        with m.If(clearing):
            m.d.comb += [tm_wr.addr.eq(clear_addr), tm_wr.data.eq(0),
                         tm_wr.en.eq((1 << C) - 1)]
        with m.Else():
            m.d.comb += [tm_wr.addr.eq(pre_addr),
                         tm_wr.data.eq((self.i_pre_t + 1)[:tb].replicate(C)),
                         tm_wr.en.eq(Mux(self.i_pre_valid, 1 << self.i_pre_c, 0))]
        with m.If(self.clear):
            m.d.sync += [clearing.eq(1), clear_addr.eq(0)]
        with m.Elif(clearing):
            m.d.sync += clear_addr.eq(clear_addr + 1)
            with m.If(clear_addr == H * W - 1):
                m.d.sync += clearing.eq(0)

        # -- the walk: winners, rows, alive taps --
        lane_of = memory.Memory(shape=data.StructLayout({"lane": unsigned(bits_for(P - 1)),
                                                         "fl": unsigned(bits_for(FL - 1))}),
                                depth=F, init=[{"lane": f % P, "fl": f // P}
                                               for f in range(F)])
        m.submodules.lane_of = lane_of
        lo_rd = lane_of.read_port(domain="comb")

        running = Signal()
        setup = Signal()  # this cycle reads winner ``sel``, next cycle its first row
        tail = Signal(range(TAIL + 1))
        n_win = Signal.like(self.n_winners)
        wi = Signal(range(self._k + 1))
        lane = Signal(bits_for(P - 1))
        fl = Signal(bits_for(FL - 1))
        wy = Signal.like(self.win.y)
        wx = Signal.like(self.win.x)
        wt = Signal.like(self.win.t)
        c = Signal(range(max(2, C)))
        i = Signal(range(max(2, K)))
        row = Signal(range(max(2, C * K)))
        first = Signal()
        mk = Signal(K)
        rows_on = Signal()

        m.d.comb += [self.sel.eq(wi), lo_rd.addr.eq(self.win.f)]
        row_bits = Cat(*[kp.m_rdata.bit_select(j * FL2 + fl, 1) if FL2 > 1 else kp.m_rdata[j]
                         for j in range(K)])
        cur = Signal(K)
        m.d.comb += cur.eq(Mux(first, row_bits, mk))
        one_hot, j = lowest_bit(cur)
        rest = cur & ~one_hot
        row_end = rows_on & (rest == 0)
        issue = rows_on & (cur != 0)
        m.d.sync += mk.eq(rest)
        m.d.comb += [kp.en.eq(running), kp.lane.eq(Mux(setup, lo_rd.data.lane, lane)),
                     kp.m_raddr.eq(Mux(setup, 0, row + 1))]
        m.d.comb += self.busy.eq(running | clearing | self.start)

        with m.If(self.start):
            m.d.sync += [running.eq(1), n_win.eq(self.n_winners), wi.eq(0),
                         setup.eq(self.n_winners != 0)]
            with m.If(self.n_winners == 0):
                m.d.sync += running.eq(0)
        with m.If(setup):
            m.d.sync += [setup.eq(0), rows_on.eq(1), first.eq(1), lane.eq(lo_rd.data.lane),
                         fl.eq(lo_rd.data.fl), wy.eq(self.win.y), wx.eq(self.win.x),
                         wt.eq(self.win.t), c.eq(0), i.eq(0), row.eq(0)]
        with m.If(rows_on):
            m.d.sync += first.eq(row_end)
            with m.If(row_end):
                with m.If(row == C * K - 1):
                    m.d.sync += [rows_on.eq(0), tail.eq(TAIL)]
                with m.Else():
                    m.d.sync += row.eq(row + 1)
                    with m.If(i == K - 1):
                        m.d.sync += [i.eq(0), c.eq(c + 1)]
                    with m.Else():
                        m.d.sync += i.eq(i + 1)
        with m.If(tail != 0):
            m.d.sync += tail.eq(tail - 1)
            with m.If(tail == 1):
                with m.If(wi + 1 == n_win):
                    m.d.sync += running.eq(0)
                with m.Else():
                    m.d.sync += [wi.eq(wi + 1), setup.eq(1)]

        # T0: the tap (c, i, j): weight and input time reads, a draw
        yi = wy + i  # padded input row of the tap
        xj = wx + j
        inside = (yi >= PAD) & (yi < H + PAD) & (xj >= PAD) & (xj < W + PAD)
        m.d.comb += [kp.w_raddr.eq(times_const(row, K * FL) + times_const(j, FL) + fl),
                     tm_rd.addr.eq(times_const(yi - PAD, W) + (xj - PAD)), tm_rd.en.eq(1)]
        gen = self.gen
        u0 = xorshift16(gen)
        with m.If(self.gen_load):
            m.d.sync += gen.eq(self.gen_value)
        with m.Elif(issue):
            m.d.sync += gen.eq(u0)

        # T1
        t1 = Signal()
        t1_in, t1_c, t1_u = Signal(), Signal.like(c), Signal(16)
        t1_waddr = Signal.like(kp.w_raddr)
        t1_row = Signal.like(row)
        t1_bit = Signal(range(max(2, K * FL2)))
        m.d.sync += [t1.eq(issue), t1_in.eq(inside), t1_c.eq(c), t1_u.eq(u0),
                     t1_waddr.eq(kp.w_raddr), t1_row.eq(row), t1_bit.eq(times_const(j, FL2) + fl)]
        w_old = kp.w_rdata
        pre = tm_rd.data.word_select(t1_c, tb) if C > 1 else tm_rd.data
        ltp1 = t1_in & (pre != 0) & (pre <= wt + 1)
        # T1Q
        tq, tq_ltp = Signal(), Signal()
        tq_w = Signal(B)
        tq_u, tq_waddr, tq_row, tq_bit = (Signal.like(t1_u), Signal.like(t1_waddr),
                                          Signal.like(t1_row), Signal.like(t1_bit))
        m.d.sync += [tq.eq(t1), tq_ltp.eq(ltp1), tq_w.eq(w_old), tq_u.eq(t1_u),
                     tq_waddr.eq(t1_waddr), tq_row.eq(t1_row), tq_bit.eq(t1_bit)]
        # T2
        t2, t2_ltp = Signal(), Signal()
        t2_w = Signal(B)
        t2_q = Signal(2 * B)
        t2_u, t2_waddr, t2_row, t2_bit = (Signal.like(t1_u), Signal.like(t1_waddr),
                                          Signal.like(t1_row), Signal.like(t1_bit))
        m.d.sync += [t2.eq(tq), t2_ltp.eq(tq_ltp), t2_w.eq(tq_w),
                     t2_q.eq(tq_w * ((1 << B) - tq_w)), t2_u.eq(tq_u),
                     t2_waddr.eq(tq_waddr), t2_row.eq(tq_row), t2_bit.eq(tq_bit)]
        # T3
        t3, t3_ltp = Signal(), Signal()
        t3_w = Signal(B)
        t3_p = Signal(self.rate_bits + 2 * B)
        t3_u, t3_waddr, t3_row, t3_bit = (Signal.like(t1_u), Signal.like(t1_waddr),
                                          Signal.like(t1_row), Signal.like(t1_bit))
        m.d.sync += [t3.eq(t2), t3_ltp.eq(t2_ltp), t3_w.eq(t2_w),
                     t3_p.eq(Mux(t2_ltp, self.a_plus, self.a_minus) * t2_q),
                     t3_u.eq(t2_u), t3_waddr.eq(t2_waddr), t3_row.eq(t2_row),
                     t3_bit.eq(t2_bit)]
        d = ((t3_p >> (RATE_BITS + B - DRAW_BITS)) + t3_u) >> DRAW_BITS
        up = t3_w + d
        new = Signal(B)
        m.d.comb += new.eq(Mux(t3_ltp, Mux(up > (1 << B) - 1, (1 << B) - 1, up),
                               Mux(d > t3_w, 0, t3_w - d)))
        cut = Signal()
        if L.prune_threshold is not None:
            m.d.comb += cut.eq(self.prune_on & (new <= L.prune_threshold))
        m.d.comb += [kp.w_waddr.eq(t3_waddr), kp.w_wdata.eq(Mux(cut, 0, new)), kp.w_we.eq(t3),
                     kp.m_waddr.eq(t3_row), kp.m_wdata.eq(0),
                     kp.m_wbits.eq(1 << t3_bit), kp.m_we.eq(t3 & cut),
                     self.updated.eq(t3), self.pruned.eq(t3 & cut)]
        return m
