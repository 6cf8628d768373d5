"""PLL calculators: the tools' own settings for every target they make exactly, the closest
setting at or below for the others, frequencies that are exactly what the divider formula
says, and one-line errors outside the output range."""

from __future__ import annotations

from fractions import Fraction

import pytest

from snnhw.boards.pll import (
    ECP5_PFD_MHZ,
    ECP5_VCO_MHZ,
    ICE40_PFD_MHZ,
    ICE40_VCO_MHZ,
    PLLError,
    ecp5_pll,
    ice40_pll,
)

MHZ = 10**6

# yowasp-icepll -i 12 -o F (IceStorm's icepll): DIVR, DIVF, DIVQ, FILTER_RANGE
ICEPLL = {24: (0, 63, 5, 1), 30: (0, 79, 5, 1), 36: (0, 47, 4, 1), 48: (0, 63, 4, 1),
          60: (0, 79, 4, 1)}

# yowasp-ecppll -i IN -o OUT (Project Trellis' ecppll): CLKI_DIV, CLKFB_DIV, CLKOP_DIV,
# CLKOP_CPHASE
ECPPLL = {(25, 60): (5, 12, 10, 4), (25, 50): (1, 2, 12, 5), (25, 75): (1, 3, 8, 4),
          (25, 40): (5, 8, 15, 7), (100, 60): (5, 3, 10, 4), (100, 80): (5, 4, 7, 3)}


@pytest.mark.parametrize("mhz", sorted(ICEPLL), ids=lambda f: f"{f}MHz")
def test_ice40_matches_icepll(mhz):
    p = ice40_pll(12 * MHZ, mhz * MHZ)
    assert (p.divr, p.divf, p.divq, p.filter_range) == ICEPLL[mhz]
    assert p.f_out == mhz * MHZ and p.clk_hz == mhz * MHZ


@pytest.mark.parametrize("target", [16.2, 16.5, 17, 20.5, 23.9, 33.3, 47, 101.1, 274.9],
                         ids=lambda f: f"{f}MHz")
def test_ice40_closest_at_or_below(target):
    target_hz = round(target * MHZ)
    p = ice40_pll(12 * MHZ, target_hz)
    assert p.f_out == Fraction(12 * MHZ * (p.divf + 1), (p.divr + 1) * 2**p.divq)
    assert ICE40_PFD_MHZ[0] * MHZ <= p.f_pfd <= ICE40_PFD_MHZ[1] * MHZ
    assert ICE40_VCO_MHZ[0] * MHZ <= p.f_vco <= ICE40_VCO_MHZ[1] * MHZ
    assert p.f_out <= target_hz
    # no setting in the search space lies between it and the target
    for divf in range(128):
        vco = 12 * MHZ * (divf + 1)
        if ICE40_VCO_MHZ[0] * MHZ <= vco <= ICE40_VCO_MHZ[1] * MHZ:
            for divq in range(1, 7):
                assert not p.f_out < Fraction(vco, 2**divq) <= target_hz


def test_ice40_example_below():
    p = ice40_pll(12 * MHZ, 20_500_000)
    assert (p.divr, p.divf, p.divq, float(p.f_out)) == (0, 53, 5, 20_250_000.0)


@pytest.mark.parametrize("key", sorted(ECPPLL), ids=lambda k: f"{k[0]}to{k[1]}MHz")
def test_ecp5_matches_ecppll(key):
    f_in, f_out = key
    p = ecp5_pll(f_in * MHZ, f_out * MHZ)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.clkop_cphase) == ECPPLL[key]
    assert p.f_out == f_out * MHZ
    assert p.f_vco == Fraction(f_in * MHZ * p.clkfb_div * p.clkop_div, p.clki_div)


@pytest.mark.parametrize("target", [10.1, 33.3, 47, 66.6, 123, 399.9], ids=lambda f: f"{f}MHz")
def test_ecp5_closest_at_or_below(target):
    target_hz = round(target * MHZ)
    p = ecp5_pll(25 * MHZ, target_hz)
    assert p.f_out == Fraction(25 * MHZ * p.clkfb_div, p.clki_div) <= target_hz
    # no setting in ecppll's search space lies between it and the target
    for ci in range(1, 129):
        if ECP5_PFD_MHZ[0] * MHZ <= Fraction(25 * MHZ, ci):
            for fb in range(1, 81):
                out = Fraction(25 * MHZ * fb, ci)
                if any(ECP5_VCO_MHZ[0] * MHZ <= out * o <= ECP5_VCO_MHZ[1] * MHZ
                       for o in range(1, 129)):
                    assert not p.f_out < out <= target_hz
    assert ECP5_PFD_MHZ[0] * MHZ <= Fraction(25 * MHZ, p.clki_div) <= ECP5_PFD_MHZ[1] * MHZ
    assert ECP5_VCO_MHZ[0] * MHZ <= p.f_vco <= ECP5_VCO_MHZ[1] * MHZ


def test_ecp5_example_below():
    p = ecp5_pll(25 * MHZ, 66_600_000)  # ecppll picks 66.67 MHz, above the target
    assert (p.clki_div, p.clkfb_div, p.clkop_div, float(p.f_out)) == (8, 21, 9, 65_625_000.0)


def test_out_of_range():
    with pytest.raises(PLLError, match=r"^the iCE40 PLL makes 16 to 275 MHz from 12 MHz, not "
                                       r"300 MHz: choose another --target-mhz$"):
        ice40_pll(12 * MHZ, 300 * MHZ)
    with pytest.raises(PLLError, match=r"^the ECP5 PLL makes 10 to 400 MHz from 25 MHz, not "
                                       r"5 MHz: choose another --target-mhz$"):
        ecp5_pll(25 * MHZ, 5 * MHZ)
    with pytest.raises(PLLError, match=r"^the iCE40 PLL takes 10 to 133 MHz, not 8 MHz$"):
        ice40_pll(8 * MHZ, 24 * MHZ)


def test_nothing_at_or_below():
    # 16 MHz is in range, but from 12 MHz the lowest setting in range is 16.125 MHz
    with pytest.raises(PLLError, match=r"^the iCE40 PLL cannot make 16 MHz or a little less "
                                       r"from 12 MHz \(its output starts at 16 MHz\): choose a "
                                       r"higher --target-mhz$"):
        ice40_pll(12 * MHZ, 16 * MHZ)
    assert float(ice40_pll(12 * MHZ, 16_200_000).f_out) == 16_125_000
