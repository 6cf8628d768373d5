"""k winners with lateral inhibition, for the conv layer that learns (docs/semantics.md,
"Winners").

The layer's spikes of a timestep are listed as they arrive. At the timestep's ``eot`` the
block picks winners by passes over that list: a pass finds the best *eligible* spike (larger
potential, then lower ``(map, y, x)``: all have the same time), where eligible means its map
has not won and no earlier winner lies within Chebyshev distance ``radius``. The best becomes
the next winner and another pass follows; a pass that finds none, or the ``k``-th winner, ends
the timestep. This is the greedy walk of the golden model over the ranking: a spike ranked
above the best eligible one is ineligible now and stays so (eligibility only shrinks), so the
walk would have skipped it. Then the ``eot`` is taken, so the timestep's end reaches the
engine only once its winners are known.

The passes of a timestep with ``n`` listed spikes delay its ``eot`` by ``n + 2`` cycles each,
plus one (docs/semantics.md §32): a pass reads an entry (K0), registers it (K1: a block RAM
read's clock-to-out leaves no time for the judgement) and judges it (K2).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...ir import bits_for
from .conv import conv_spike_layout

__all__ = ["KWinners", "winner_layout"]


def winner_layout(maps: int, height: int, width: int, timestep_bits: int) -> data.StructLayout:
    """A winner: map, position and spike time."""
    return data.StructLayout({"f": unsigned(bits_for(maps - 1)),
                              "y": unsigned(bits_for(height - 1)),
                              "x": unsigned(bits_for(width - 1)), "t": unsigned(timestep_bits)})


class KWinners(wiring.Component):
    """Up to ``k`` winners of an image, in the order they win.

    Parameters
    ----------
    maps, height, width : int
        The learning layer's output shape.
    k, radius : int
        Winners per image and the Chebyshev radius of their inhibition.
    timestep_bits, v_bits : int
        Widths of the conv engine's spike layout.
    depth : int
        The most spikes one timestep can have (the list's size).

    Members
    -------
    i_spike : In(stream.Signature(conv_spike_layout(...)))
    reset : In(1)
        Begin an image: no winners.
    busy : Out(1)
    count : Out(range(k + 1))
        Winners so far.
    sel : In(range(k))
    win : Out(winner layout)
        Winner ``sel``: ``f, y, x, t``.
    """

    def __init__(self, *, maps: int, height: int, width: int, k: int, radius: int,
                 timestep_bits: int, v_bits: int, depth: int) -> None:
        for name, v in (("Map count", maps), ("Winner count", k), ("List depth", depth)):
            if not isinstance(v, int) or v < 1:
                raise TypeError(f"{name} must be a positive integer, not {v!r}")
        self._shape = (maps, height, width)
        self._k, self._r, self._depth = k, radius, depth
        self._t_bits, self._v_bits = timestep_bits, v_bits
        self.win_layout = winner_layout(maps, height, width, timestep_bits)
        super().__init__({
            "i_spike": In(stream.Signature(conv_spike_layout(maps, height, width,
                                                             timestep_bits, v_bits))),
            "reset": In(1),
            "busy": Out(1),
            "count": Out(range(k + 1)),
            "sel": In(range(max(2, k))),
            "win": Out(self.win_layout),
        })

    def elaborate(self, platform):
        m = Module()
        F, H, W = self._shape
        k, r = self._k, self._r
        entry = data.StructLayout({"f": unsigned(bits_for(F - 1)),
                                   "y": unsigned(bits_for(H - 1)),
                                   "x": unsigned(bits_for(W - 1)),
                                   "v": unsigned(self._v_bits)})
        lst = memory.Memory(shape=entry, depth=self._depth, init=[])
        m.submodules.spikes = lst
        l_wr = lst.write_port()
        l_rd = lst.read_port()

        wins = [Signal(self.win_layout, name=f"win_{i}") for i in range(k)]
        used = Signal(F)
        count = self.count
        n = Signal(range(self._depth + 1))
        sp = self.i_spike.payload

        scanning = Signal()
        rd = Signal(range(self._depth + 1))
        k1 = Signal()  # the entry read last cycle is on l_rd.data
        k2 = Signal()  # ... and the one before in ``e``, registered
        best_ok = Signal()
        best = Signal(entry)
        t_now = Signal(self._t_bits)

        # spikes are listed one a cycle; an eot waits (not ready) until its passes are done
        armed = Signal()  # the passes for the waiting eot are done
        m.d.comb += [
            self.i_spike.ready.eq(~self.reset & (~sp.eot | armed)),
            l_wr.addr.eq(n), l_wr.data.f.eq(sp.f), l_wr.data.y.eq(sp.y), l_wr.data.x.eq(sp.x),
            l_wr.data.v.eq(sp.v),
            l_wr.en.eq(self.i_spike.valid & ~sp.eot & ~self.reset & (count < k)),
            self.busy.eq(scanning | k1 | k2),
        ]
        with m.If(l_wr.en):
            m.d.sync += n.eq(n + 1)

        # an eot on the input starts the passes (once), then is taken when they end
        go = self.i_spike.valid & sp.eot & ~scanning & ~k1 & ~k2 & ~armed & ~self.reset
        with m.If(go):
            with m.If((n != 0) & (count < k)):
                m.d.sync += [scanning.eq(1), rd.eq(0), best_ok.eq(0), t_now.eq(sp.t)]
            with m.Else():
                m.d.sync += armed.eq(1)

        # a pass: K0 reads entry rd, K1 registers it, K2 judges it
        m.d.comb += [l_rd.addr.eq(rd), l_rd.en.eq(1)]
        with m.If(scanning):
            m.d.sync += [rd.eq(rd + 1), scanning.eq(rd + 1 != n)]
        e = Signal(entry)
        m.d.sync += [k1.eq(scanning), k2.eq(k1), e.eq(l_rd.data)]
        blocked = Cat(*[(i < count) & _near(e.y, wins[i].y, r) & _near(e.x, wins[i].x, r)
                        for i in range(k)]).any()
        eligible = ~used.bit_select(e.f, 1) & ~blocked
        key = Cat(e.x, e.y, e.f)
        best_key = Cat(best.x, best.y, best.f)
        better = ~best_ok | (e.v > best.v) | ((e.v == best.v) & (key < best_key))
        with m.If(k2 & eligible & better):
            m.d.sync += [best.eq(e), best_ok.eq(1)]
        # the pass ends in the cycle its last entry is judged
        pass_end = k2 & ~k1
        final_ok = best_ok | (k2 & eligible & better)
        final = Signal(entry)
        m.d.comb += final.eq(Mux(k2 & eligible & better, e, best))
        with m.If(pass_end):
            with m.If(final_ok):
                with m.Switch(count):
                    for i in range(k):
                        with m.Case(i):
                            m.d.sync += [wins[i].f.eq(final.f), wins[i].y.eq(final.y),
                                         wins[i].x.eq(final.x), wins[i].t.eq(t_now)]
                m.d.sync += [used.eq(used | (1 << final.f)), count.eq(count + 1)]
                with m.If(count + 1 < k):  # another pass
                    m.d.sync += [scanning.eq(1), rd.eq(0), best_ok.eq(0)]
                with m.Else():
                    m.d.sync += armed.eq(1)
            with m.Else():
                m.d.sync += armed.eq(1)

        take_eot = self.i_spike.valid & sp.eot & self.i_spike.ready
        with m.If(take_eot):
            m.d.sync += [armed.eq(0), n.eq(0)]

        with m.Switch(self.sel):
            for i in range(k):
                with m.Case(i):
                    m.d.comb += self.win.eq(wins[i])

        with m.If(self.reset):
            m.d.sync += [count.eq(0), used.eq(0), n.eq(0), armed.eq(0), scanning.eq(0),
                         k1.eq(0), k2.eq(0)]
        return m


def _near(a, b, r: int):
    """``|a - b| <= r`` for unsigned ``a`` and ``b``."""
    return Mux(a >= b, a - b, b - a) <= r
