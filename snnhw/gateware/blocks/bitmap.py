"""A bitmap that clears fast: ``n`` entries of ``g`` bits, packed :data:`~snnhw.ir_conv.
CLEAR_WORD` entries to a memory word, so a sweep clears it in
:func:`~snnhw.ir_conv.clear_cycles` ``(n)`` cycles (docs/semantics.md, "Cycle model of the
conv engine").

The conv core keeps one beside each memory it would otherwise sweep word by word at the start
of a run (a membrane, a position word, an input time): a word whose bit is clear reads as 0,
and writing the word sets its bit. The pool's window bits are such a bitmap themselves.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ...ir import bits_for
from ...ir_conv import CLEAR_WORD, clear_cycles
from ..common import times_const

__all__ = ["BitMap"]


class BitMap(wiring.Component):
    """``entries`` entries of ``width`` bits, cleared a word of ``CLEAR_WORD`` entries a cycle.

    Parameters
    ----------
    entries : int
    width : int
        Bits per entry.

    Members
    -------
    clear : In(1)
        Zero every entry: a sweep of ``clear_cycles(entries)`` cycles from the next cycle.
    busy : Out(1)
        ``clear`` or the sweep.
    r_addr, r_en : In
        Read entry ``r_addr``; its bits are on ``r_data`` the next cycle (held while ``r_en``
        is low). The read sees a ``set`` of the same cycle (transparent).
    r_data : Out(width)
    s_addr, s_bits, s_en : In
        Set the bits ``s_bits`` of entry ``s_addr`` (the others keep their value).
    """

    def __init__(self, *, entries: int, width: int = 1) -> None:
        if not isinstance(entries, int) or entries < 1:
            raise TypeError(f"Entry count must be a positive integer, not {entries!r}")
        if not isinstance(width, int) or width < 1:
            raise TypeError(f"Entry width must be a positive integer, not {width!r}")
        self._entries, self._width = entries, width
        super().__init__({
            "clear": In(1), "busy": Out(1),
            "r_addr": In(range(entries)), "r_en": In(1), "r_data": Out(width),
            "s_addr": In(range(entries)), "s_bits": In(width), "s_en": In(1),
        })

    @property
    def entries(self) -> int:
        return self._entries

    @property
    def width(self) -> int:
        return self._width

    def elaborate(self, platform):
        m = Module()
        n, g = self._entries, self._width
        words = clear_cycles(n)
        lb = bits_for(CLEAR_WORD - 1)  # CLEAR_WORD is a power of two: the low bits pick
        mem = memory.Memory(shape=unsigned(CLEAR_WORD * g), depth=words, init=[])
        m.submodules.words = mem
        wr = mem.write_port(granularity=1)
        rd = mem.read_port(transparent_for=(wr,))

        def word(addr):
            return addr[lb:] if len(addr) > lb else Const(0, 1)

        def slot(addr):
            return addr[:lb]

        clearing = Signal()
        clear_addr = Signal(range(words + 1))
        m.d.comb += self.busy.eq(clearing | self.clear)
        with m.If(self.clear):
            m.d.sync += [clearing.eq(1), clear_addr.eq(0)]
        with m.Elif(clearing):
            m.d.sync += clear_addr.eq(clear_addr + 1)
            with m.If(clear_addr == words - 1):
                m.d.sync += clearing.eq(0)

        with m.If(clearing):
            m.d.comb += [wr.addr.eq(clear_addr), wr.data.eq(0),
                         wr.en.eq(Const(-1, CLEAR_WORD * g))]
        with m.Else():
            at = times_const(slot(self.s_addr), g)  # the entry's first bit in its word
            m.d.comb += [wr.addr.eq(word(self.s_addr)), wr.data.eq(Const(-1, CLEAR_WORD * g)),
                         wr.en.eq(Mux(self.s_en, self.s_bits.as_unsigned() << at, 0))]

        r_slot = Signal(lb)
        m.d.comb += [rd.addr.eq(word(self.r_addr)), rd.en.eq(self.r_en)]
        with m.If(self.r_en):
            m.d.sync += r_slot.eq(slot(self.r_addr))
        m.d.comb += self.r_data.eq(rd.data.word_select(r_slot, g))
        return m
