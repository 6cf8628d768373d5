"""A neuron's arithmetic in gateware: the saturating integration of one weight, the leak, the
adaptive threshold's compare and the refractory flag (``snnhw.golden.blocks.neuron``:
``integrate_events`` per event, ``fire_adaptive``). A core keeps the control: which of these
results an op writes back (its phase, a refractory neuron keeping its potential, reset)."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["NeuronLane", "margin_bits"]


def margin_bits(membrane_bits: int, theta_bits: int) -> int:
    """The width of a margin ``leaked - (threshold + theta)``: the leaked potential (one bit
    over the membrane) less a threshold and a theta, with room to spare."""
    return max(membrane_bits, theta_bits + 1) + 3


class NeuronLane(wiring.Component):
    """One neuron's update arithmetic, combinational.

    Inputs: ``i_v`` (membrane, ``membrane_bits`` signed), ``i_ref`` (refractory counter),
    ``i_w`` (a weight, unsigned), ``i_theta`` (adaptive threshold). Outputs:

    * ``o_integrated = clamp(v + (w << weight_shift), vmin, vmax)``;
    * ``o_leaked = v - (v >> leak_shift)`` (``v`` with no leak);
    * ``o_margin = leaked - (threshold + theta)``, :func:`margin_bits` wide;
    * ``o_refractory = ref != 0``; ``o_may_fire``: not refractory and ``margin >= 0``.
    """

    def __init__(self, *, membrane_bits: int, weight_bits: int, weight_shift: int,
                 leak_shift: int, threshold: int, theta_bits: int, ref_bits: int) -> None:
        for name, value, low in (("Membrane width", membrane_bits, 2),
                                 ("Weight width", weight_bits, 1),
                                 ("Weight shift", weight_shift, 0), ("Leak shift", leak_shift, 0),
                                 ("Theta width", theta_bits, 1),
                                 ("Refractory width", ref_bits, 0)):
            if not isinstance(value, int) or value < low:
                self._MustUse__silence = True  # never elaborated: don't warn about it
                raise ValueError(f"{name} must be an integer of at least {low}, not {value!r}")
        self._membrane_bits, self._weight_shift = membrane_bits, weight_shift
        self._leak_shift, self._threshold = leak_shift, threshold
        super().__init__({
            "i_v": In(signed(membrane_bits)), "i_ref": In(unsigned(ref_bits)),
            "i_w": In(unsigned(weight_bits)), "i_theta": In(unsigned(theta_bits)),
            "o_integrated": Out(signed(membrane_bits)),
            "o_leaked": Out(signed(membrane_bits + 1)),
            "o_margin": Out(signed(margin_bits(membrane_bits, theta_bits))),
            "o_refractory": Out(1), "o_may_fire": Out(1),
        })

    @property
    def vmin(self) -> int:
        return -2**(self._membrane_bits - 1)

    @property
    def vmax(self) -> int:
        return 2**(self._membrane_bits - 1) - 1

    @property
    def threshold(self) -> int:
        return self._threshold

    def elaborate(self, platform):
        m = Module()
        mb, v = self._membrane_bits, self.i_v
        total = Signal(signed(mb + 2), name="sum")
        m.d.comb += total.eq(v + (self.i_w << self._weight_shift))
        m.d.comb += [
            self.o_integrated.eq(Mux(total > self.vmax, self.vmax,
                                     Mux(total < self.vmin, self.vmin, total))),
            self.o_leaked.eq(v - (v >> self._leak_shift) if self._leak_shift else v),
            self.o_margin.eq(self.o_leaked - self._threshold - self.i_theta),
            self.o_refractory.eq(self.i_ref != 0),
            self.o_may_fire.eq(~self.o_refractory & (self.o_margin >= 0)),
        ]
        return m
