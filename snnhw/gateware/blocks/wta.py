"""Winner-take-all in gateware: the FIRE pass's candidates, one per lane, reduced to the best
(``snnhw.golden.blocks.wta.hard_wta``: the largest margin fires, ties to the lowest index)."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["WinnerTree", "better", "candidate_layout"]


def candidate_layout(*, margin_bits: int, k_bits: int, lane_bits: int,
                     count_bits: int) -> data.StructLayout:
    """A FIRE candidate: whether the neuron may fire, its margin (membrane above its
    threshold), its group ``k`` and lane (neuron ``k * P + lane``), its spike count."""
    return data.StructLayout({"valid": unsigned(1), "margin": signed(margin_bits),
                              "k": unsigned(k_bits), "lane": unsigned(lane_bits),
                              "count": unsigned(count_bits)})


def better(a, b):
    """``b`` beats ``a``, which holds lower neuron numbers: strictly larger margin (ties
    keep the lower index)."""
    return b.valid & (~a.valid | (b.margin > a.margin))


class WinnerTree(wiring.Component):
    """The best of ``count`` candidates, ascending in neuron number: a pairwise reduction tree
    of :func:`better`, combinational (``ceil(log2(count))`` compare-and-select levels).

    ``i_cands``: the candidates; ``o_best``: the best (``valid`` low if none is)."""

    def __init__(self, layout: data.StructLayout, *, count: int) -> None:
        if not isinstance(count, int) or count < 1:
            self._MustUse__silence = True
            raise ValueError(f"Candidate count must be a positive integer, not {count!r}")
        self._layout, self._count = layout, count
        super().__init__({"i_cands": In(layout).array(count), "o_best": Out(layout)})

    @property
    def count(self) -> int:
        return self._count

    def elaborate(self, platform):
        m = Module()
        tree = list(self.i_cands)
        while len(tree) > 1:
            level = []
            for i in range(0, len(tree), 2):
                if i + 1 == len(tree):
                    level.append(tree[i])
                    continue
                pick = Signal(self._layout, name=f"fire_tree_{len(tree)}_{i}")
                m.d.comb += pick.eq(Mux(better(tree[i], tree[i + 1]), tree[i + 1], tree[i]))
                level.append(pick)
            tree = level
        m.d.comb += self.o_best.eq(tree[0])
        return m
