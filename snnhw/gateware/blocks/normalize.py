"""Weight normalisation's divider: ``K = min((target << 16) // sum, K_MAX)``, one quotient bit
per cycle (restoring division). ``snnhw.golden.blocks.normalize`` specifies it; the rescale
``(w * K + u) >> 16`` itself runs in the column pipeline, next to STDP's multiplier."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...ir import dividend_bits

__all__ = ["Divider", "K_MAX"]

K_MAX = 2**24 - 1  # the largest factor (Q16): the column pipeline's multiplier is 24 bits


class Divider(wiring.Component):
    """``quotient = min((target << 16) // divisor, K_MAX)``, 0 for a divisor of 0.

    Pulse ``start`` (the divisor must be stable from then on): the divider then works on its
    own, one quotient bit per cycle, :attr:`cycles` of them, with ``done`` low. ``quotient`` is
    valid while ``done`` is high, until the next ``start``. Out of reset it is done (with a
    quotient of 0).

    There is no ``run`` input: the caller waits for ``done`` anyway, and gating the steps with
    its phase would put the caller's state decode into the registers' enable for nothing.
    """

    def __init__(self, *, target: int, divisor_bits: int) -> None:
        if not isinstance(target, int) or target < 0:
            self._MustUse__silence = True  # never elaborated: don't warn about it
            raise ValueError(f"Target must be a non-negative integer, not {target!r}")
        if not isinstance(divisor_bits, int) or divisor_bits < 1:
            self._MustUse__silence = True
            raise ValueError(f"Divisor width must be a positive integer, not {divisor_bits!r}")
        self._target = target
        self._cycles = dividend_bits(target)
        super().__init__({"start": In(1), "divisor": In(divisor_bits),
                          "done": Out(1), "quotient": Out(24)})

    @property
    def target(self) -> int:
        return self._target

    @property
    def cycles(self) -> int:
        """Cycles of ``run`` a division takes: the dividend's bits."""
        return self._cycles

    def elaborate(self, platform):
        m = Module()
        dividend_bits = self._cycles
        col_sum = self.divisor
        # restoring division keeps the remainder below the divisor (when the divisor is 0 no
        # bit fits, the quotient is 0 and the remainder unused): the divisor's width holds it
        div_rem = Signal(min(dividend_bits + 1, len(col_sum)))
        # the quotient's low 24 bits, and whether a bit above them is set (then K = K_MAX)
        div_q = Signal(min(dividend_bits, 24))
        div_big = Signal()
        div_n = Signal(range(dividend_bits + 1))
        dividend = Const(self._target << 16, dividend_bits)
        m.d.comb += [self.done.eq(div_n == 0), self.quotient.eq(Mux(div_big, K_MAX, div_q))]
        with m.If(self.start):
            m.d.sync += [div_rem.eq(0), div_q.eq(0), div_big.eq(0), div_n.eq(dividend_bits)]
        with m.Elif(~self.done):
            bit_at = Signal(range(dividend_bits + 1))
            m.d.comb += bit_at.eq(div_n - 1)
            rem2 = Cat(dividend.bit_select(bit_at, 1), div_rem)
            fits = (col_sum != 0) & (rem2 >= col_sum)
            m.d.sync += [div_rem.eq(Mux(fits, rem2 - col_sum, rem2)),
                         div_q.eq(Cat(fits, div_q)), div_n.eq(div_n - 1)]
            if len(div_q) == 24:  # a set bit shifts out past bit 23
                with m.If(div_q[23]):
                    m.d.sync += div_big.eq(1)
        return m
