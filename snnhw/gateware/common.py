"""Small pieces of logic both cores use."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, Value

__all__ = ["at_most_one", "at_most_two", "lowest_index", "lowest_two", "saturating_counters",
           "times_const"]


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


def at_most_two(x: Value) -> Value:
    """Whether at most two bits of ``x`` are set (at most one once the lowest is cleared), as
    a tree of ORs and ANDs like :func:`at_most_one` (no adders: yosys would make carry
    chains of them)."""
    zero = Const(0, 1)
    level = [(x[i], zero, zero) for i in range(len(x))]  # one, two, three or more set
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (a1, a2, a3), (b1, b2, b3) = level[i], level[i + 1]
            nxt.append((a1 | b1, a2 | b2 | (a1 & b1), a3 | b3 | (a2 & b1) | (a1 & b2)))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return ~level[0][2] if level else Const(1, 1)


def lowest_index(x: Value) -> Value:
    """The index of the lowest set bit of ``x`` (0 when ``x`` is 0), as a balanced tree of
    2-way priority muxes: ``log2(len(x))`` LUT levels straight from ``x``, no carry chain
    (``x & -x`` and an OR per index bit would wait for the carry through every bit)."""
    level = [(x[i], Const(0, 0)) for i in range(len(x))]  # (any bit set, index in the group)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (a_any, a_idx), (b_any, b_idx) = level[i], level[i + 1]
            nxt.append((a_any | b_any, Cat(Mux(a_any, a_idx, b_idx), ~a_any)))
        if len(level) % 2:  # the odd group out pads its index (its bits are the highest)
            a_any, a_idx = level[-1]
            nxt.append((a_any, Cat(a_idx, Const(0, 1))))
        level = nxt
    idx = level[0][1]
    return idx if len(idx) else Const(0, 1)


def lowest_two(x: Value) -> tuple[Value, Value]:
    """The indices of the lowest and the second lowest set bits of ``x`` (any value for a bit
    that is not there), as one balanced tree of priority muxes like :func:`lowest_index`:
    the second index is that of ``x`` with its lowest bit cleared, without the carry chain
    of ``x & (x - 1)``."""
    # per group: (any bit set, two or more set, lowest index, second lowest index)
    level = [(x[i], Const(0, 1), Const(0, 0), Const(0, 0)) for i in range(len(x))]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (a_any, a_two, a1, a2), (b_any, b_two, b1, b2) = level[i], level[i + 1]
            nxt.append((a_any | b_any, a_two | b_two | (a_any & b_any),
                        Cat(Mux(a_any, a1, b1), ~a_any),
                        Cat(Mux(a_two, a2, Mux(a_any, b1, b2)), ~a_two)))
        if len(level) % 2:  # the odd group out pads its indices (its bits are the highest)
            a_any, a_two, a1, a2 = level[-1]
            nxt.append((a_any, a_two, Cat(a1, Const(0, 1)), Cat(a2, Const(0, 1))))
        level = nxt
    _, _, i1, i2 = level[0]
    return (i1 if len(i1) else Const(0, 1)), (i2 if len(i2) else Const(0, 1))


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
