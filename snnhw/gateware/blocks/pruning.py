"""Connection pruning in gateware: the cut after a column pass writes a weight, and one step
of a lane's walk over the alive bits of a bitmap word (``snnhw.golden.blocks.pruning``:
``prune_column``; a lane walks each word in ``max(alive bits, 1)`` cycles, ``row_cycles``).
The core keeps the walk's registers and when they load; these blocks are combinational."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..common import at_most_one

__all__ = ["PruneCut", "WordWalk"]


class PruneCut(wiring.Component):
    """``o_cut = i_alive & (i_w <= i_threshold)``: a weight just written by an alive synapse
    at or below the threshold is pruned (its alive bit cleared, the weight written as 0)."""

    def __init__(self, *, weight_bits: int) -> None:
        if not isinstance(weight_bits, int) or weight_bits < 1:
            self._MustUse__silence = True  # never elaborated: don't warn about it
            raise ValueError(f"Weight width must be a positive integer, not {weight_bits!r}")
        super().__init__({"i_alive": In(1), "i_w": In(weight_bits),
                          "i_threshold": In(weight_bits), "o_cut": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o_cut.eq(self.i_alive & (self.i_w <= self.i_threshold))
        return m


class WordWalk(wiring.Component):
    """One cycle of a lane's walk over a bitmap word of ``chunk_bits`` alive bits.

    The word walked is ``i_fresh ? i_word : i_rem`` (a word just read, or what is left of
    one); ``i_rem_single``: ``i_rem`` has at most one bit set (registered with it, so that
    no carry chain decides ``o_last``). Outputs: ``o_any``, a bit is set (a synapse to
    integrate); ``o_low``, the lowest set bit; ``o_rest``, the word without it (the next
    ``i_rem``) and ``o_rest_single``, whether that has at most one bit; ``o_last``, the word
    is used up after this cycle (it had at most one bit, or none).
    """

    def __init__(self, *, chunk_bits: int) -> None:
        if not isinstance(chunk_bits, int) or chunk_bits < 1:
            self._MustUse__silence = True
            raise ValueError(f"Chunk width must be a positive integer, not {chunk_bits!r}")
        self._chunk_bits = chunk_bits
        super().__init__({"i_fresh": In(1), "i_word": In(chunk_bits), "i_rem": In(chunk_bits),
                          "i_rem_single": In(1), "o_any": Out(1),
                          "o_low": Out(range(max(2, chunk_bits))), "o_rest": Out(chunk_bits),
                          "o_rest_single": Out(1), "o_last": Out(1)})

    @property
    def chunk_bits(self) -> int:
        return self._chunk_bits

    def elaborate(self, platform):
        m = Module()
        word = Signal(self._chunk_bits)
        m.d.comb += word.eq(Mux(self.i_fresh, self.i_word, self.i_rem))
        m.d.comb += [
            self.o_rest.eq(word & (word - 1)),  # the lowest alive bit taken
            self.o_rest_single.eq(at_most_one(self.o_rest)),
            self.o_last.eq(Mux(self.i_fresh, at_most_one(self.i_word), self.i_rem_single)),
            self.o_any.eq(word != 0),
        ]
        for t in reversed(range(self._chunk_bits)):  # priority encoder: the lowest set bit
            with m.If(word[t]):
                m.d.comb += self.o_low.eq(t)
        return m
