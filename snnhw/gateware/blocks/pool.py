"""Pooling as a stage of the spike stream: the earliest spike of each window goes on
(docs/semantics.md, "Pool layer").

Spikes arrive in timestep order, so the first spike to reach a window is its earliest: the
stage keeps one bit per map and window ("has spiked") and passes a spike on for each window
it is the first to reach. A spike costs one cycle per window that holds it (at least one);
``eot`` items pass through in order.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...ir import bits_for
from ...ir_conv import PoolLayerIR
from ..common import times_const
from .conv import conv_event_layout, conv_spike_layout

__all__ = ["PoolStage", "pool_windows"]


def pool_windows(p: int, size: int, stride: int, padding: int, n_out: int) -> tuple[int, int]:
    """``(first, last)`` pooled index whose window holds input index ``p`` (first > last:
    none)."""
    q = p + padding
    first = max(0, -((size - 1 - q) // stride))  # ceil((q - size + 1) / stride)
    return first, min(n_out - 1, q // stride)


class PoolStage(wiring.Component):
    """Earliest spike per window, as a stream stage.

    Parameters
    ----------
    layer : PoolLayerIR
    timestep_bits, v_bits : int
        Widths of the incoming spike layout (the conv engine's ``o_spike``).

    Members
    -------
    i_spike : In(stream.Signature(conv_spike_layout(...)))
    o_event : Out(stream.Signature(conv_event_layout(...), always_ready=True))
        The pooled spikes as the next layer's input events, and the ``eot`` items.
    start : In(1)
        Begin an image: clear the window bits (``Hp * Wp`` cycles).
    busy : Out(1)
    """

    def __init__(self, layer: PoolLayerIR, *, timestep_bits: int, v_bits: int) -> None:
        if not isinstance(layer, PoolLayerIR):
            raise TypeError(f"Layer must be a PoolLayerIR, not {layer!r}")
        self._layer = layer
        c, h, w = layer.in_shape
        _, ho, wo = layer.out_shape
        super().__init__({
            "i_spike": In(stream.Signature(conv_spike_layout(c, h, w, timestep_bits, v_bits))),
            "o_event": Out(stream.Signature(conv_event_layout(c, ho, wo), always_ready=True)),
            "start": In(1),
            "busy": Out(1),
        })

    @property
    def layer(self) -> PoolLayerIR:
        return self._layer

    def elaborate(self, platform):
        m = Module()
        L = self._layer
        C, H, W = L.in_shape
        _, HP, WP = L.out_shape
        npos = HP * WP

        # window ranges of each input row and column: small ROMs (no dividers)
        def rom(n, n_out, name):
            rng = [pool_windows(p, L.size, L.stride, L.padding, n_out) for p in range(n)]
            lay = data.StructLayout({"lo": unsigned(bits_for(n_out)),
                                     "hi": unsigned(bits_for(n_out))})
            # an empty range is stored as lo = n_out (past every window)
            words = [{"lo": lo if lo <= hi else n_out, "hi": max(hi, 0)} for lo, hi in rng]
            mem = memory.Memory(shape=lay, depth=n, init=words)
            m.submodules[name] = mem
            return mem.read_port(domain="comb")

        rows, cols = rom(H, HP, "row_windows"), rom(W, WP, "col_windows")
        bits = memory.Memory(shape=unsigned(C), depth=npos, init=[])
        m.submodules.window_bits = bits
        b_wr = bits.write_port(granularity=1)
        b_rd = bits.read_port(transparent_for=(b_wr,))

        clearing = Signal()
        clear_addr = Signal(range(npos + 1))
        pending = Signal()  # windows of the held spike (or its eot) left to issue
        is_eot = Signal()
        f = Signal(bits_for(C - 1))
        t = Signal.like(self.i_spike.payload.t)
        py, px = Signal(range(HP + 1)), Signal(range(WP + 1))
        py_hi, px_lo, px_hi = Signal.like(py), Signal.like(px), Signal.like(px)
        last = Signal()
        m.d.comb += last.eq(is_eot | ((py == py_hi) & (px == px_hi)))
        sp = self.i_spike.payload
        m.d.comb += [rows.addr.eq(sp.y), cols.addr.eq(sp.x)]
        p1 = Signal()  # P1 holds a window (its eot reaches the list at P2)
        m.d.comb += [self.i_spike.ready.eq(~clearing & ~self.start & (~pending | last)),
                     self.busy.eq(clearing | pending | self.start | p1)]

        # P0: issue the window (py, px): read its bits
        issue = pending
        m.d.comb += [b_rd.addr.eq(times_const(py, WP) + px), b_rd.en.eq(1)]
        with m.If(issue):
            with m.If(last):
                m.d.sync += pending.eq(0)
            with m.Elif(px == px_hi):
                m.d.sync += [py.eq(py + 1), px.eq(px_lo)]
            with m.Else():
                m.d.sync += px.eq(px + 1)
        with m.If(self.i_spike.valid & self.i_spike.ready):
            empty = (rows.data.lo > rows.data.hi) | (cols.data.lo > cols.data.hi)
            m.d.sync += [pending.eq(sp.eot | ~empty), is_eot.eq(sp.eot), f.eq(sp.f),
                         t.eq(sp.t), py.eq(rows.data.lo), py_hi.eq(rows.data.hi),
                         px.eq(cols.data.lo), px_lo.eq(cols.data.lo), px_hi.eq(cols.data.hi)]

        # P1: the window's bit for this map (a bit of a C-bit word: registered, the select
        # and the write's C bit enables do not fit one cycle)
        p1_eot = Signal()
        p1_f = Signal.like(f)
        p1_y, p1_x = Signal.like(py), Signal.like(px)
        p1_pos = Signal(range(max(2, npos)))
        m.d.sync += [p1.eq(issue), p1_eot.eq(is_eot), p1_f.eq(f), p1_y.eq(py), p1_x.eq(px),
                     p1_pos.eq(times_const(py, WP) + px)]
        # P2: a window whose bit is clear passes the spike on and sets it. Its word was read
        # before the previous cycle's write (the window before, at P2): that write is
        # forwarded (the same window and map: the bit is set).
        p2, p2_eot, p2_set = Signal(), Signal(), Signal()
        p2_f, p2_y, p2_x, p2_pos = (Signal.like(p1_f), Signal.like(p1_y), Signal.like(p1_x),
                                    Signal.like(p1_pos))
        m.d.sync += [p2.eq(p1), p2_eot.eq(p1_eot), p2_set.eq(b_rd.data.bit_select(p1_f, 1)),
                     p2_f.eq(p1_f), p2_y.eq(p1_y), p2_x.eq(p1_x), p2_pos.eq(p1_pos)]
        w_last, w_last_f = Signal(), Signal.like(p1_f)
        w_last_pos = Signal.like(p1_pos)
        first = Signal()
        m.d.comb += first.eq(p2 & ~p2_eot & ~p2_set &
                             ~(w_last & (w_last_pos == p2_pos) & (w_last_f == p2_f)))
        m.d.sync += [w_last.eq(first), w_last_f.eq(p2_f), w_last_pos.eq(p2_pos)]
        ev = self.o_event.payload
        m.d.comb += [self.o_event.valid.eq(first | (p2 & p2_eot)), ev.eot.eq(p2_eot),
                     ev.c.eq(p2_f), ev.y.eq(p2_y), ev.x.eq(p2_x)]
        with m.If(clearing):
            m.d.comb += [b_wr.addr.eq(clear_addr), b_wr.data.eq(0),
                         b_wr.en.eq(Const(-1, C))]
        with m.Else():
            m.d.comb += [b_wr.addr.eq(p2_pos), b_wr.data.eq(Const(-1, C)),
                         b_wr.en.eq(Mux(first, Const(1, C) << p2_f, 0))]

        with m.If(self.start):
            m.d.sync += [clearing.eq(1), clear_addr.eq(0), pending.eq(0)]
        with m.Elif(clearing):
            m.d.sync += clear_addr.eq(clear_addr + 1)
            with m.If(clear_addr == npos - 1):
                m.d.sync += clearing.eq(0)
        return m
