"""The boards snnhw builds for, and how each is programmed.

A board names its FPGA, the amaranth-boards platform that knows its pins, the LED that shows
the core at work, the programmer that loads a bitstream into it, and how to recognise that FPGA
family's bitstream. ``snnhw program`` (:mod:`snnhw.program`) and ``snnhw build``
(:mod:`snnhw.build`) read this table; the per-board build settings that the platforms cannot
express (default clock, timing notes) live in ``constraints/<board>.toml``
(:func:`board_constraints`).
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["Board", "BOARDS", "FAMILY_SYNC", "get_board", "BoardConstraints",
           "board_constraints", "CONSTRAINTS_DIR"]

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
    platform_class: str = ""  # "module:Class" in amaranth_boards
    busy_led: tuple[str, int, str] = ("led", 0, "")  # resource, number, subsignal ("": whole)
    bitstream_suffix: str = ".bin"
    port: str = "/dev/ttyUSB0"  # where Linux usually puts the host link's serial port

    def platform(self):
        """A new instance of the board's amaranth-boards platform."""
        module, cls = self.platform_class.split(":")
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()


_APT_ICESTORM = "sudo apt install --no-install-recommends fpga-icestorm"
_APT_OFL = "sudo apt install openfpgaloader"

BOARDS = {b.name: b for b in (
    Board("icebreaker", "1BitSquared iCEBreaker", "ice40", "iCE40UP5K-SG48", "iceprog",
          "ICEPROG", (), _APT_ICESTORM, "FT2232H channel B",
          platform_class="icebreaker:ICEBreakerPlatform", busy_led=("led", 1, ""),  # green
          bitstream_suffix=".bin", port="/dev/ttyUSB1"),  # channel A is the flash
    Board("ulx3s-85f", "Radiona ULX3S 85F", "ecp5", "LFE5U-85F-6BG381C", "openFPGALoader",
          "OPENFPGALOADER", ("-b", "ulx3s"), _APT_OFL, "FT231X",
          platform_class="ulx3s:ULX3S_85F_Platform", busy_led=("led", 0, ""),
          bitstream_suffix=".bit"),
    Board("ecpix5-85f", "LambdaConcept ECPIX-5 85F", "ecp5", "LFE5UM5G-85F-8BG554I",
          "openFPGALoader", "OPENFPGALOADER", ("-b", "ecpix5"), _APT_OFL,
          "FT2232H channel B", platform_class="ecpix5:ECPIX585Platform",
          busy_led=("rgb_led", 0, "g"), bitstream_suffix=".bit", port="/dev/ttyUSB1"),
)}


def get_board(name: str) -> Board:
    """The board called ``name``; a one-line :class:`InputError` lists the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise InputError(f"--board {name}: unknown board; known: {', '.join(BOARDS)}") from None


# -- build settings the platforms cannot express --------------------------------------------

CONSTRAINTS_DIR = Path(__file__).resolve().parents[2] / "constraints"


@dataclass(frozen=True)
class BoardConstraints:
    """``constraints/<board>.toml``: what ``snnhw build`` needs beyond the platform."""

    target_mhz: float  # default --target-mhz: the sync clock the PLL makes
    notes: str  # timing notes, printed in build_report.txt
    nextpnr_opts: tuple[str, ...] = ()  # extra nextpnr options
    synth_opts: tuple[str, ...] = ()  # extra options of yosys' synth_ice40 / synth_ecp5


def board_constraints(board: Board, directory: Path | None = None) -> BoardConstraints:
    """Read ``constraints/<board.name>.toml`` (see constraints/README.md)."""
    path = (directory or CONSTRAINTS_DIR) / f"{board.name}.toml"
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise InputError(f"{path}: cannot read the board's constraints "
                         f"({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: {e}") from None
    clock, timing = doc.get("clock", {}), doc.get("timing", {})
    target = clock.get("target_mhz")
    if not isinstance(target, int | float) or isinstance(target, bool) or target <= 0:
        raise InputError(f"{path}: clock.target_mhz must be a positive number, not {target!r}")
    opts = {}
    for tool in ("nextpnr", "yosys"):
        o = doc.get(tool, {}).get("options", [])
        if not isinstance(o, list) or not all(isinstance(x, str) for x in o):
            raise InputError(f"{path}: {tool}.options must be a list of strings")
        opts[tool] = tuple(o)
    return BoardConstraints(target_mhz=float(target),
                            notes=" ".join(str(timing.get("notes", "")).split()),
                            nextpnr_opts=opts["nextpnr"], synth_opts=opts["yosys"])
