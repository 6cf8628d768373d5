"""The rate encoder's draw in gateware: one list slot's generator steps and its pixel spikes if
the new state is below ``value * rate`` (``snnhw.golden.blocks.encoder.encode_step``, where
``rate = rate_scale * intensity``). The encoder engine of a network runs P of them side by
side, one per list bank, and compacts their spikes into events."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .rng import xorshift16

__all__ = ["EncoderLane"]


class EncoderLane(wiring.Component):
    """One list slot's draw, combinational.

    ``i_gen``: the slot's generator state; ``i_value``: its pixel; ``i_rate``:
    ``rate_scale * intensity``. ``o_gen``: the generator's next state (the draw, written back);
    ``o_spike``: the draw is below ``i_value * i_rate``.
    """

    def __init__(self, *, value_bits: int = 8, rate_bits: int = 16) -> None:
        for name, bits in (("Pixel", value_bits), ("Rate", rate_bits)):
            if not isinstance(bits, int) or bits < 1:
                self._MustUse__silence = True  # never elaborated: don't warn about it
                raise ValueError(f"{name} width must be a positive integer, not {bits!r}")
        self._value_bits, self._rate_bits = value_bits, rate_bits
        super().__init__({"i_gen": In(16), "i_value": In(value_bits), "i_rate": In(rate_bits),
                          "o_gen": Out(16), "o_spike": Out(1)})

    @property
    def value_bits(self) -> int:
        return self._value_bits

    @property
    def rate_bits(self) -> int:
        return self._rate_bits

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o_gen.eq(xorshift16(self.i_gen)),
                     self.o_spike.eq(self.o_gen < self.i_value * self.i_rate)]
        return m
