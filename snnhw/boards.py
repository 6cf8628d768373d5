"""The boards snnhw builds for, and how each is programmed.

A board names its FPGA, the programmer that loads a bitstream into it, and how to recognise
that FPGA family's bitstream. ``snnhw program`` (:mod:`snnhw.program`) reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError

__all__ = ["Board", "BOARDS", "FAMILY_SYNC", "get_board"]

# A bitstream of each family carries this word near its start (after an optional comment
# block): the iCE40 sync word, and the ECP5 preamble.
FAMILY_SYNC = {"ice40": bytes.fromhex("7eaa997e"), "ecp5": bytes.fromhex("ffffbdb3")}


@dataclass(frozen=True)
class Board:
    """One supported board."""

    name: str
    title: str
    family: str  # "ice40" or "ecp5"
    device: str
    programmer: str  # command name, found on PATH or through ``env``
    env: str  # environment variable that points at the programmer
    args: tuple[str, ...]  # arguments before the bitstream path
    install: str  # how to install the programmer
    uart: str  # the host link


_APT_ICESTORM = "sudo apt install --no-install-recommends fpga-icestorm"
_APT_OFL = "sudo apt install openfpgaloader"

BOARDS = {b.name: b for b in (
    Board("icebreaker", "1BitSquared iCEBreaker", "ice40", "iCE40UP5K-SG48", "iceprog",
          "ICEPROG", (), _APT_ICESTORM, "FT2232H channel B"),
    Board("ulx3s-85f", "Radiona ULX3S 85F", "ecp5", "LFE5U-85F-6BG381C", "openFPGALoader",
          "OPENFPGALOADER", ("-b", "ulx3s"), _APT_OFL, "FT231X"),
    Board("ecpix5-85f", "LambdaConcept ECPIX-5 85F", "ecp5", "LFE5UM5G-85F-8BG554I",
          "openFPGALoader", "OPENFPGALOADER", ("-b", "ecpix5"), _APT_OFL,
          "FT2232H channel B"),
)}


def get_board(name: str) -> Board:
    """The board called ``name``; a one-line :class:`InputError` lists the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise InputError(f"--board {name}: unknown board; known: {', '.join(BOARDS)}") from None
