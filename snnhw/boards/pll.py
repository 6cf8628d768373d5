"""PLL settings: the divider values that turn a board's oscillator into the ``sync`` clock.

Both calculators search the same divider space, with the same frequency limits, as the
vendor-neutral tools do (IceStorm's ``icepll`` for the iCE40 ``SB_PLL40``, Project Trellis'
``ecppll`` for the ECP5 ``EHXPLLL``), with one difference: they choose the closest frequency
*at or below* the target, never above it, so that a design meets the timing it was asked to
meet. For a target the PLL can make exactly, they give the tools' own settings. A target
outside the PLL's output range raises :class:`PLLError`; within it the steps are fine enough
for a clock within a few per cent below the target (0.375 MHz below 33 MHz for the iCE40 from
12 MHz; from 25 MHz the ECP5 makes 25 MHz x CLKFB_DIV / CLKI_DIV with CLKI_DIV <= 8, e.g.
32.14 MHz for 33.3), and the build reports the achieved frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import InputError

__all__ = ["PLLError", "ICE40PLL", "ECP5PLL", "ice40_pll", "ecp5_pll"]


class PLLError(InputError):
    """The PLL cannot make a clock close enough to the requested one."""


def _mhz(hz) -> str:
    return f"{float(hz) / 1e6:.4g} MHz"


def _check_range(family: str, f_in_hz: int, target_hz: int,
                 limits: tuple[float, float]) -> None:
    lo, hi = limits
    if not lo * 10**6 <= target_hz <= hi * 10**6:
        raise PLLError(f"the {family} PLL makes {lo:g} to {hi:g} MHz from {_mhz(f_in_hz)}, not "
                       f"{_mhz(target_hz)}: choose another --target-mhz")


def _none_below(family: str, f_in_hz: int, target_hz: int,
                limits: tuple[float, float]) -> None:
    raise PLLError(f"the {family} PLL cannot make {_mhz(target_hz)} or a little less from "
                   f"{_mhz(f_in_hz)} (its output starts at {limits[0]:g} MHz): choose a higher "
                   "--target-mhz")


# -- iCE40: SB_PLL40_{PAD,CORE}, FEEDBACK_PATH "SIMPLE" ---------------------------------------

ICE40_IN_MHZ = (10, 133)
ICE40_PFD_MHZ = (10, 133)
ICE40_VCO_MHZ = (533, 1066)
ICE40_OUT_MHZ = (16, 275)


@dataclass(frozen=True)
class ICE40PLL:
    """``SB_PLL40`` settings in simple feedback mode:
    ``f_out = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)``."""

    f_in_hz: int
    divr: int  # reference divider - 1, 0..15
    divf: int  # feedback divider - 1, 0..127
    divq: int  # output divider log2, 1..6
    filter_range: int  # loop filter for the PFD frequency, 1..6

    @property
    def f_pfd(self) -> Fraction:
        return Fraction(self.f_in_hz, self.divr + 1)

    @property
    def f_vco(self) -> Fraction:
        return self.f_pfd * (self.divf + 1)

    @property
    def f_out(self) -> Fraction:
        """The achieved output frequency in Hz, exactly."""
        return self.f_vco / 2**self.divq

    @property
    def clk_hz(self) -> int:
        return round(self.f_out)

    @property
    def half_hz(self) -> int:
        """The GENCLK_HALF output (``sync`` when ``f_out`` clocks the SPRAM)."""
        return round(self.f_out / 2)


def ice40_filter_range(f_pfd_mhz: float) -> int:
    """``FILTER_RANGE`` for a PFD frequency, as icepll chooses it."""
    for bound, value in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
        if f_pfd_mhz < bound:
            return value
    return 6


def ice40_pll(f_in_hz: int, target_hz: int) -> ICE40PLL:
    """The SB_PLL40 settings closest at or below ``target_hz`` (icepll's search: DIVR, then
    DIVF, then DIVQ ascending, the first of equally close settings)."""
    lo, hi = ICE40_IN_MHZ
    if not lo * 10**6 <= f_in_hz <= hi * 10**6:
        raise PLLError(f"the iCE40 PLL takes {lo} to {hi} MHz, not {_mhz(f_in_hz)}")
    _check_range("iCE40", f_in_hz, target_hz, ICE40_OUT_MHZ)
    best: tuple[Fraction, int, int, int] | None = None
    for divr in range(16):
        f_pfd = Fraction(f_in_hz, divr + 1)
        if not ICE40_PFD_MHZ[0] * 10**6 <= f_pfd <= ICE40_PFD_MHZ[1] * 10**6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not ICE40_VCO_MHZ[0] * 10**6 <= f_vco <= ICE40_VCO_MHZ[1] * 10**6:
                continue
            for divq in range(1, 7):
                f_out = f_vco / 2**divq
                if (ICE40_OUT_MHZ[0] * 10**6 <= f_out <= target_hz
                        and (best is None or f_out > best[0])):
                    best = (f_out, divr, divf, divq)
    if best is None:
        _none_below("iCE40", f_in_hz, target_hz, ICE40_OUT_MHZ)
    _, divr, divf, divq = best
    return ICE40PLL(f_in_hz, divr, divf, divq,
                    ice40_filter_range(float(Fraction(f_in_hz, divr + 1)) / 1e6))


# -- ECP5: EHXPLLL, feedback from CLKOP ---------------------------------------------------------

ECP5_IN_MHZ = (8, 400)
ECP5_OUT_MHZ = (10, 400)
ECP5_PFD_MHZ = (3.125, 400)
ECP5_VCO_MHZ = (400, 800)


@dataclass(frozen=True)
class ECP5PLL:
    """``EHXPLLL`` settings with CLKOP fed back: ``f_out = f_in * CLKFB_DIV / CLKI_DIV``,
    ``f_vco = f_out * CLKOP_DIV``."""

    f_in_hz: int
    clki_div: int  # 1..128
    clkfb_div: int  # 1..80
    clkop_div: int  # 1..128
    clkop_cphase: int  # coarse phase of CLKOP, in VCO cycles

    @property
    def f_out(self) -> Fraction:
        """The achieved output frequency in Hz, exactly."""
        return Fraction(self.f_in_hz * self.clkfb_div, self.clki_div)

    @property
    def f_vco(self) -> Fraction:
        return self.f_out * self.clkop_div

    @property
    def clk_hz(self) -> int:
        return round(self.f_out)


def _ecp5_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, f, o = np.meshgrid(np.arange(1, 129), np.arange(1, 81), np.arange(1, 129),
                          indexing="ij")
    return i.ravel(), f.ravel(), o.ravel()  # ecppll's loop order: CLKI, CLKFB, CLKOP


def ecp5_pll(f_in_hz: int, target_hz: int) -> ECP5PLL:
    """The EHXPLLL settings closest at or below ``target_hz``, found as ecppll finds them: in
    single precision, over CLKI_DIV, CLKFB_DIV and CLKOP_DIV ascending, preferring of equally
    close settings the one whose VCO is nearest 600 MHz, then the first. ``CLKOP_CPHASE`` is
    ecppll's half-period shift, ``CLKOP_DIV / 2`` truncated in its arithmetic."""
    lo, hi = ECP5_IN_MHZ
    if not lo * 10**6 <= f_in_hz <= hi * 10**6:
        raise PLLError(f"the ECP5 PLL takes {lo} to {hi} MHz, not {_mhz(f_in_hz)}")
    _check_range("ECP5", f_in_hz, target_hz, ECP5_OUT_MHZ)
    f32 = np.float32
    fin, fwant = f32(f_in_hz / 1e6), f32(target_hz / 1e6)
    i, f, o = _ecp5_grid()
    with np.errstate(all="ignore"):
        fpfd = (fin / i.astype(f32)).astype(f32)
        fvco = ((fpfd * f.astype(f32)).astype(f32) * o.astype(f32)).astype(f32)
        fout = (fvco / o.astype(f32)).astype(f32)
    ok = ((fpfd >= f32(ECP5_PFD_MHZ[0])) & (fpfd <= f32(ECP5_PFD_MHZ[1]))
          & (fvco >= f32(ECP5_VCO_MHZ[0])) & (fvco <= f32(ECP5_VCO_MHZ[1]))
          & (fout <= fwant) & (fout >= f32(ECP5_OUT_MHZ[0])))
    if not ok.any():
        _none_below("ECP5", f_in_hz, target_hz, ECP5_OUT_MHZ)
    err = np.abs(fout - fwant).astype(f32)
    dvco = np.abs(fvco - f32(600)).astype(f32)
    idx = np.flatnonzero(ok)
    best = idx[np.lexsort((idx, dvco[idx], err[idx]))[0]]
    ns_phase = f32(1 / (float(fout[best]) * 1e6) * 0.5)  # ecppll: float ns_phase = ...
    cphase = int(float(ns_phase) * (float(fvco[best]) * 1e6))
    return ECP5PLL(f_in_hz, int(i[best]), int(f[best]), int(o[best]), cphase)
