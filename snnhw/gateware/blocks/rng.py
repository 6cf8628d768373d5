"""The hardware's 16-bit random generator in gateware: :func:`snnhw.ir.xorshift16` itself,
applied to an Amaranth value (it uses only ``^``, ``<<``, ``>>`` and ``& 0xFFFF``, which
Amaranth values support), so the algorithm is defined once, in ``ir``.

Each use is a few XOR gates: the encoder's slot generators (S2), the input generators of the
column pipeline (S2) and the neurons' depression generators (pair STDP, S2)."""

from __future__ import annotations

from amaranth import Value
from amaranth.hdl import ValueCastable

from ... import ir

__all__ = ["xorshift16"]


def xorshift16(state: Value | ValueCastable) -> Value:
    """The generator's next state, 16 bits wide, from a 16-bit ``state``.

    ``ir.xorshift16`` masks each left shift with ``& 0xFFFF``: on a value that leaves the bits
    above 15 zero (not fewer bits), so the result is sliced back to 16 bits."""
    state = Value.cast(state)
    if len(state) != 16:
        raise ValueError(f"Generator state must be 16 bits wide, not {len(state)}")
    return Value.cast(ir.xorshift16(state))[:16]
