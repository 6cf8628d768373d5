"""Build a bitstream for a board (``snnhw build``): the SoC of a learning config behind the
board's PLL, synthesised by yosys, placed and routed by nextpnr, packed by icepack / ecppack.

The steps, in order, each failing on one line before the next costs time:

1. resolve the config; choose the PLL settings for the target clock (:mod:`snnhw.boards.pll`)
   and check the baud rate against the achieved clock;
2. check that the memories fit the device's block RAM (:mod:`snnhw.fit`);
3. find the tools: ``$YOSYS``, ``$NEXTPNR_ICE40``, ``$ICEPACK``, ``$NEXTPNR_ECP5``,
   ``$ECPPACK`` if set (a system toolchain), else the YoWASP tools installed beside this
   Python;
4. elaborate the board top (:class:`snnhw.boards.top.BoardTop`) into Amaranth's build plan,
   run it in ``DIR/work`` while a progress hook follows the tools' logs;
5. read nextpnr's ``--report`` and yosys' cell counts into ``DIR/build_report.json`` and
   ``DIR/build_report.txt``, copy the bitstream and the logs into ``DIR``.

Timing that is not met is not an exception: the report says ``"timing_met": false`` and the
CLI exits non-zero.

One module per job: :mod:`.flow` (the steps above), :mod:`.tools` (step 3),
:mod:`.logs` (following the tools' logs in step 4), :mod:`.report` (step 5) and
:mod:`.ice40_dsp` (the bound on iCE40 paths through DSPs that the report adds to nextpnr's).
"""

from .flow import (
    DEFAULT_BAUD,
    DEFAULT_TIMEOUT_MS,
    BuildResult,
    build,
    choose_pll,
    strip_zero_init,
    synapse_ram,
)
from .ice40_dsp import ICE40_DSP_ADD_NS, ICE40_DSP_NS, ice40_dsp_ns
from .report import format_report, overflow, parse_nextpnr_report, timing_failures
from .tools import TOOLS, find_tools

__all__ = ["BuildResult", "build", "find_tools", "parse_nextpnr_report", "TOOLS",
           "DEFAULT_BAUD", "DEFAULT_TIMEOUT_MS", "format_report",
           "choose_pll", "synapse_ram", "strip_zero_init", "overflow",
           "ice40_dsp_ns", "ICE40_DSP_NS", "ICE40_DSP_ADD_NS", "timing_failures"]
