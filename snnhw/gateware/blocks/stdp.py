"""STDP in gateware: one input lane of the post-spike column update and one neuron lane of the
pre-spike row depression (pair STDP). ``snnhw.golden.blocks.stdp`` specifies both
(``stdp_column``, ``depress_row``); the cores own the memories, addresses and control, these
blocks only the arithmetic."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ColumnUpdate", "DX_BITS", "RowDepression", "depressed", "depression"]

DX_BITS = 10  # x - x_tar: a trace (0..255) less a target trace (0..255), signed


def _check_weights(owner, weight_bits, wmax):
    if not isinstance(weight_bits, int) or weight_bits < 1:
        owner._MustUse__silence = True  # never elaborated: don't warn about it
        raise ValueError(f"Weight width must be a positive integer, not {weight_bits!r}")
    if not isinstance(wmax, int) or not 0 <= wmax < 2**weight_bits:
        owner._MustUse__silence = True
        raise ValueError(f"Largest weight must be an integer in 0..{2**weight_bits - 1}, not "
                         f"{wmax!r}")


class ColumnUpdate(wiring.Component):
    """One input lane of the post-spike update: ``o_w = clip(w + ((dx * rate + u) >> 16), 0,
    wmax)`` for ``i_dx = x - x_tar``, ``i_u``, ``i_w``, where ``rate = i_eta_p if dx >= 0 else
    i_eta`` (``i_eta`` alone unless ``adaptive``).

    Two pipeline stages: the caller registers ``i_dx``, ``i_u`` and ``i_w`` straight into the
    inputs (they are its S3 registers; the rescale reads ``i_u`` and ``i_w`` there too), the
    product is registered with the weight (S4), and ``o_w`` is S4's clipped result,
    combinational, one cycle after the inputs. ``i_eta`` and ``i_eta_p`` are held steady.
    """

    def __init__(self, *, weight_bits: int, wmax: int, adaptive: bool = False) -> None:
        _check_weights(self, weight_bits, wmax)
        self._weight_bits, self._wmax, self._adaptive = weight_bits, wmax, bool(adaptive)
        super().__init__({
            "i_dx": In(signed(DX_BITS)), "i_u": In(16), "i_w": In(unsigned(weight_bits)),
            "i_eta": In(16), **({"i_eta_p": In(16)} if adaptive else {}),
            "o_w": Out(unsigned(weight_bits)),
        })

    @property
    def wmax(self) -> int:
        return self._wmax

    @property
    def adaptive(self) -> bool:
        return self._adaptive

    def elaborate(self, platform):
        m = Module()
        wb, a = self._weight_bits, self.adaptive
        rate = Mux(self.i_dx >= 0, self.i_eta_p, self.i_eta) if a else self.i_eta
        dw = Signal(signed(11), name="dw")  # |dw| <= 255 + 1
        w_d = Signal(unsigned(wb), name="w_d")
        m.d.sync += [dw.eq((self.i_dx * rate + self.i_u) >> 16), w_d.eq(self.i_w)]
        upd = Signal(signed(wb + 12), name="upd")
        m.d.comb += upd.eq(w_d + dw)
        m.d.comb += self.o_w.eq(Mux(upd < 0, 0, Mux(upd > self._wmax, self._wmax, upd)))
        return m


def depression(y, u, *, eta_pre: int):
    """The pre-spike depression of one weight, ``(y * eta_pre + u) >> 16``, as a Value (for
    a post trace ``y`` and a rounding offset ``u``): cores that assign it under their own
    control (an op's case) use it directly, :class:`RowDepression` wraps it."""
    return (y * eta_pre + u) >> 16


def depressed(w, dep):
    """``max(w - dep, 0)`` as a Value: the weight after a depression ``dep`` (a weight never
    rises here, so ``wmax`` needs no clip)."""
    return Mux(dep > w, 0, w - dep)


class RowDepression(wiring.Component):
    """One neuron lane of the pre-spike depression (pair STDP), combinational:
    ``o_w = max(i_w - ((i_y * eta_pre + i_u) >> 16), 0)`` for the neuron's post trace ``i_y``
    (:func:`depression`, :func:`depressed`)."""

    def __init__(self, *, weight_bits: int, eta_pre: int) -> None:
        _check_weights(self, weight_bits, 0)
        if not isinstance(eta_pre, int) or not 0 < eta_pre < 2**16:
            self._MustUse__silence = True
            raise ValueError(f"Pre-spike rate must be an integer in 1..65535, not {eta_pre!r}")
        self._eta_pre = eta_pre
        super().__init__({"i_y": In(8), "i_u": In(16), "i_w": In(unsigned(weight_bits)),
                          "o_w": Out(unsigned(weight_bits))})

    @property
    def eta_pre(self) -> int:
        return self._eta_pre

    def elaborate(self, platform):
        m = Module()
        dep = Signal(32, name="dep")
        m.d.comb += dep.eq(depression(self.i_y, self.i_u, eta_pre=self._eta_pre))
        m.d.comb += self.o_w.eq(depressed(self.i_w, dep))
        return m
