"""Small pieces of logic both cores use."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, Value

__all__ = ["at_most_one", "saturating_counters", "times_const"]


def times_const(x: Value, c: int) -> Value:
    """``x * c`` for a constant ``c >= 0``, as shifted adds and subtracts (its non-adjacent
    form): no multiplier, so yosys never puts it in a DSP (an iCE40 SB_MAC16 used without its
    registers is slow, and nextpnr does not time it)."""
    if c < 0:
        raise ValueError(f"times_const needs c >= 0, not {c}")
    terms, k = [], 0
    while c:
        if c & 1:
            d = 2 - (c & 3)  # +1 or -1: the digit that leaves c divisible by 4
            terms.append((d, k))
            c -= d
        c >>= 1
        k += 1
    if not terms:
        return Const(0, 1)
    out = None
    width = len(x) + k + 1
    for d, shift in sorted(terms, key=lambda t: -t[0]):  # the positive terms first
        term = (x << shift).as_unsigned()
        out = term if out is None else (out + term if d > 0 else out - term)
    out = out.as_unsigned()  # never negative: the positive terms come first
    return out[:width] if len(out) > width else out


def at_most_one(x: Value) -> Value:
    """Whether at most one bit of ``x`` is set (``x & (x - 1) == 0``), as a tree of ORs and
    ANDs: a few LUT levels, no carry chain."""
    level = [(x[i], Const(0, 1)) for i in range(len(x))]  # (any bit set, two or more set)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (a_any, a_two), (b_any, b_two) = level[i], level[i + 1]
            nxt.append((a_any | b_any, a_two | b_two | (a_any & b_any)))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return ~level[0][1] if level else Const(1, 1)


def saturating_counters(m: Module, counters: dict[str, tuple[Value, Value]], bits: int,
                        clear: Value) -> None:
    """Add ``increment`` to each ``counter`` every cycle, saturating at ``2**bits - 1``;
    ``clear`` sets them all to zero instead (that cycle's increments are dropped)."""
    top = 2**bits - 1
    for name, (counter, increment) in counters.items():
        width = max(bits, len(Value.cast(increment))) + 1  # the sum never wraps
        nxt = Signal(width, name=f"{name}_next")
        m.d.comb += nxt.eq(counter + increment)
        # above the top exactly when a bit from ``bits`` up is set: with an increment no wider
        # than the counter, the sum's carry out alone (no comparator after the adder)
        over = nxt[bits] if width == bits + 1 else nxt[bits:].any()
        with m.If(clear):
            m.d.sync += counter.eq(0)
        with m.Else():
            m.d.sync += counter.eq(Mux(over, top, nxt[:bits]))
