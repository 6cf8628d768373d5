"""The host link's CRC-16/CCITT-FALSE (:func:`snnhw.protocol.crc16_update`), a byte at a time."""

# no "from __future__ import annotations": the members are annotations Amaranth evaluates

import operator
from functools import reduce

from amaranth import Cat, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...protocol import crc16_update

__all__ = ["CRC16Update", "CRC_INIT", "crc16_byte"]

CRC_INIT = 0xFFFF  #: the CRC of no bytes


def _crc_taps() -> list[tuple[list[int], list[int]]]:
    """CRC-16/CCITT-FALSE is linear: bit ``b`` after a byte is the XOR of some bits of the old
    CRC and of the byte. Which ones, found by feeding each bit alone through the reference."""
    return [([i for i in range(16) if crc16_update(1 << i, 0) >> b & 1],
             [i for i in range(8) if crc16_update(0, 1 << i) >> b & 1]) for b in range(16)]


_CRC_TAPS = _crc_taps()


def crc16_byte(crc: Value, byte: Value) -> Value:
    """CRC-16/CCITT-FALSE after one more byte, as one XOR tree per bit (an unrolled shift
    register would copy its whole expression at each of the eight steps)."""
    bits = []
    for crc_taps, byte_taps in _CRC_TAPS:
        terms = [crc[i] for i in crc_taps] + [byte[i] for i in byte_taps]
        bits.append(reduce(operator.xor, terms))
    return Cat(*bits)


class CRC16Update(wiring.Component):
    """One byte more of CRC-16/CCITT-FALSE, combinational: :func:`snnhw.protocol.crc16_update`
    as one XOR tree per bit. The register that holds the running CRC is the user's, who
    decides when it takes a byte and when it starts again from :data:`CRC_INIT`.

    Members
    -------
    crc : In(16)
        The CRC so far.
    byte : In(8)
    updated : Out(16)
        The CRC after ``byte``.
    """

    crc: In(16)
    byte: In(8)
    updated: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.updated.eq(crc16_byte(self.crc, self.byte))
        return m
