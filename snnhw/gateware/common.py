"""Small pieces of logic both cores use."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value

__all__ = ["saturating_counters"]


def saturating_counters(m: Module, counters: dict[str, tuple[Value, Value]], bits: int,
                        clear: Value) -> None:
    """Add ``increment`` to each ``counter`` every cycle, saturating at ``2**bits - 1``;
    ``clear`` sets them all to zero instead (that cycle's increments are dropped)."""
    top = 2**bits - 1
    for name, (counter, increment) in counters.items():
        nxt = Signal(bits + 1, name=f"{name}_next")
        m.d.comb += nxt.eq(counter + increment)
        with m.If(clear):
            m.d.sync += counter.eq(0)
        with m.Else():
            m.d.sync += counter.eq(Mux(nxt > top, top, nxt))
