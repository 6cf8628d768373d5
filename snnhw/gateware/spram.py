"""Synapse memory in iCE40UP5K single-port RAM (``SB_SPRAM256KA``, 16384 x 16 bits each).

The learning core reads one weight and writes another in the same cycle (a column pass reads
input ``i`` while it writes back input ``i - 4``), as it does from a block RAM with a read and a
write port. An SPRAM block does one access per clock edge, so :class:`SPRAMStore` clocks it
twice per core cycle: the ``fast`` domain runs at twice the ``sync`` frequency, its rising
edges on the ``sync`` edges and half-way between them (the board top makes both clocks with one
PLL, ``GENCLK`` and ``GENCLK_HALF``).

Per core cycle ``n`` (from ``sync`` edge ``n`` to ``n + 1``):

* the half-way edge reads the word of ``rd_addr``; ``sync`` edge ``n + 1`` registers the
  weight out (``rd_data``, from ``sync`` registers only, valid from edge ``n + 1``: a read
  port's one-cycle latency);
* the ``sync``-aligned edge ``n + 1`` writes the write of cycle ``n - 1``, which a ``sync``
  register held (so the core's write data has a whole core cycle to settle, and only registers
  drive the SPRAM pins);
* that pending write is the only one the read cannot see yet: a read of its address takes the
  pending data instead. A read therefore returns the memory before this cycle's write and
  after every earlier one, as :class:`amaranth.lib.memory.Memory`'s read port (not transparent)
  does.

Weights narrower than a word share it (two of 5..8 bits, four of up to 4 bits, one nibble-
aligned slot each); a write enables only its slot's nibbles (``MASKWREN``), so it never reads
the word first. SPRAM has no initial contents: the host loads the weights after configuration.

A read address that comes late in the cycle (``late=True``): ``rd_late``, taken instead of
``rd_addr`` while ``rd_late_en``, reaches the SPRAM's address pins through one LUT. The paths
from ``sync`` into the ``fast`` SPRAM have only half a core cycle (the read edge), and nextpnr
neither constrains nor optimises paths between the two clocks, so a late signal (a block RAM's
read data, say) must not pass the whole address choice: everything else (``rd_addr``, the
pending write, the half) is chosen first, in a ``keep`` net that logic synthesis may not fold
into the late signal's LUTs.

Without forwarding (``forward=False``), a read of the word the previous cycle wrote returns the
word before that write: for a user that never reads a word in the cycle after writing it (the
learning core's alive bitmap: column passes write rows they do not read again in the next
cycle, the row walk and the host never follow a write by one cycle), the same reads for about
30 fewer logic cells (the address compare and the data choice).

Off the iCE40, and in simulation, each block is an equivalent :class:`Memory` of 16384 words
with nibble write enables (``SB_SPRAM256KA``'s behaviour for one access per edge).
"""

from __future__ import annotations

from amaranth import Cat, ClockSignal, Const, Instance, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..ir import SPRAM_DEPTH, SPRAM_WIDTH, ceil_log2, spram_layout

__all__ = ["SPRAMStore"]


class SPRAMStore(wiring.Component):
    """``depth`` words of ``width`` bits with a synchronous read port and a write port in
    ``sync``, held in ``SB_SPRAM256KA`` blocks clocked by ``fast`` (twice ``sync``, edges
    aligned). See the module's description for the timing.

    Members: ``rd_addr`` (in), ``rd_data`` (out, one cycle after), ``wr_addr``, ``wr_data``,
    ``wr_en`` (in; written at the end of the cycle, as a memory write port); with ``late``,
    ``rd_late`` and ``rd_late_en`` (in): the read address is ``rd_late`` while ``rd_late_en``.
    With ``forward=False`` a read must not follow a write of its word by one cycle.
    """

    def __init__(self, *, width: int, depth: int, late: bool = False,
                 forward: bool = True) -> None:
        self._slot, self._per, self._blocks = spram_layout(width, depth)
        self._width, self._depth, self._late, self._forward = width, depth, late, forward
        super().__init__({
            "rd_addr": In(range(max(2, depth))),
            "rd_data": Out(width),
            "wr_addr": In(range(max(2, depth))),
            "wr_data": In(width),
            "wr_en": In(1),
            **({"rd_late": In(range(max(2, depth))), "rd_late_en": In(1)} if late else {}),
        })

    @property
    def width(self) -> int:
        return self._width

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def blocks(self) -> int:
        return self._blocks

    def elaborate(self, platform):
        m = Module()
        slot, per, n = self._slot, self._per, self._blocks
        sb = ceil_log2(per)  # slot-select bits at the bottom of an address
        ab = ceil_log2(SPRAM_DEPTH)

        def split(addr):
            """(slot, word in block, block) of an address."""
            return addr[:sb] if sb else Const(0, 1), addr[sb:sb + ab], addr[sb + ab:]

        # sync side: the write of the previous cycle, pending; a toggle that tells the fast
        # domain which half of the core cycle it is in
        wq_addr = Signal.like(self.wr_addr)
        wq_data = Signal(self._width)
        wq_en = Signal()
        m.d.sync += [wq_addr.eq(self.wr_addr), wq_data.eq(self.wr_data), wq_en.eq(self.wr_en)]
        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        # fast side: ``seen`` copies the toggle on every fast edge, so it differs from it only
        # between a sync edge and the next half-way edge: the read half
        seen = Signal()
        m.d.fast += seen.eq(toggle)
        read_half = Signal()
        m.d.comb += read_half.eq(seen != toggle)

        rd_addr = self.rd_addr  # the read's address, late or not
        if self._late:
            rd_addr = Signal.like(self.rd_addr)
            m.d.comb += rd_addr.eq(Mux(self.rd_late_en, self.rd_late, self.rd_addr))
        r_slot, r_word, r_block = split(rd_addr)
        w_slot, w_word, w_block = split(wq_addr)
        addr = Signal(ab)
        block = Signal(range(max(2, n)))
        if self._late:
            # pins = t_early ? rd_addr : (t_late ? rd_late : write address): the late address
            # passes two LUTs, rd_addr (itself a choice in the user's logic) one; the nets are
            # kept so that logic synthesis cannot fold the late address deeper
            _, e_word, e_block = split(self.rd_addr)
            _, l_word, l_block = split(self.rd_late)
            t_late = Signal(attrs={"keep": 1})
            t_early = Signal(attrs={"keep": 1})
            early = Signal(ab, attrs={"keep": 1})
            early_block = Signal.like(block, attrs={"keep": 1})
            other = Signal(ab, attrs={"keep": 1})
            other_block = Signal.like(block, attrs={"keep": 1})
            m.d.comb += [t_late.eq(read_half & self.rd_late_en),
                         t_early.eq(read_half & ~self.rd_late_en),
                         early.eq(e_word), early_block.eq(e_block if n > 1 else 0),
                         other.eq(Mux(t_late, l_word, w_word)),
                         other_block.eq(Mux(t_late, l_block, w_block) if n > 1 else 0),
                         addr.eq(Mux(t_early, early, other)),
                         block.eq(Mux(t_early, early_block, other_block) if n > 1 else 0)]
        else:
            m.d.comb += [addr.eq(Mux(read_half, r_word, w_word)),
                         block.eq(Mux(read_half, r_block, w_block) if n > 1 else 0)]
        wren = Signal()
        m.d.comb += wren.eq(~read_half & wq_en)
        mask = Signal(4)  # the write's slot, in nibbles
        nib = slot // 4
        m.d.comb += mask.eq(Const((1 << nib) - 1, 4) << (w_slot * nib))
        din = Signal(SPRAM_WIDTH)
        m.d.comb += din.eq(Cat(*([wq_data, Const(0, slot - self._width)] * per)))

        outs = []
        for k in range(n):
            dout = Signal(SPRAM_WIDTH, name=f"dout_{k}")
            cs = Signal(name=f"cs_{k}")
            m.d.comb += cs.eq(block == k)
            if platform is not None and getattr(platform, "family", None) in ("ice40", "iCE40"):
                m.submodules[f"spram_{k}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=addr, i_DATAIN=din, i_MASKWREN=mask, i_WREN=wren,
                    i_CHIPSELECT=cs, i_CLOCK=ClockSignal("fast"), i_STANDBY=Const(0),
                    i_SLEEP=Const(0), i_POWEROFF=Const(1), o_DATAOUT=dout)
            else:
                mm = memory.Memory(shape=unsigned(SPRAM_WIDTH), depth=SPRAM_DEPTH, init=[])
                m.submodules[f"spram_{k}"] = mm
                wp = mm.write_port(domain="fast", granularity=4)
                rp = mm.read_port(domain="fast")
                m.d.comb += [wp.addr.eq(addr), wp.data.eq(din),
                             wp.en.eq(Mux(cs & wren, mask, 0)),
                             rp.addr.eq(addr), rp.en.eq(cs & ~wren), dout.eq(rp.data)]
            outs.append(dout)

        # the read half registers what the word read will need: its slot and block
        f_slot = Signal.like(r_slot)
        f_block = Signal.like(block)
        with m.If(read_half):
            m.d.fast += [f_slot.eq(r_slot), f_block.eq(block)]
        word = Signal(SPRAM_WIDTH)
        with m.Switch(f_block):
            for k in range(n):
                with m.Case(k):
                    m.d.comb += word.eq(outs[k])
        picked = Signal(self._width)
        m.d.comb += picked.eq(word.word_select(f_slot, slot)[:self._width] if per > 1
                              else word[:self._width])
        # the next sync edge ends the write half: the read's data out, held a whole cycle (a
        # sync register, so that what it feeds has the whole cycle, and timing analysis sees so)
        rd = Signal(self._width)
        if not self._forward:
            m.d.sync += rd.eq(picked)
            m.d.comb += self.rd_data.eq(rd)
            return m
        # whether the pending write (applied only at the end of this cycle) covers the read:
        # compared in sync, where the address has the whole cycle
        hit = Signal()
        m.d.comb += hit.eq(wq_en & (wq_addr == rd_addr))
        if n > 1:
            # the word has only half a cycle, through the block and slot choice: the pending
            # write's data and whether it is taken are registered too, and chosen after
            hit_r = Signal()
            hit_data = Signal(self._width)
            m.d.sync += [rd.eq(picked), hit_r.eq(hit), hit_data.eq(wq_data)]
            m.d.comb += self.rd_data.eq(Mux(hit_r, hit_data, rd))
        else:
            m.d.sync += rd.eq(Mux(hit, wq_data, picked))
            m.d.comb += self.rd_data.eq(rd)
        return m

