"""The iCE40 DSP timing bound: nextpnr-ice40 does not time a path through an unregistered
SB_MAC16 as one path, so the build bounds those paths itself from nextpnr's critical paths and
the DSP delays of the iCEcube2 timing data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["ICE40_DSP_ADD_NS", "ICE40_DSP_NS", "ice40_dsp_ns"]

# nextpnr-ice40 times every SB_MAC16 as a register (0.1 ns setup and clock-to-out) whatever its
# configuration, and yosys uses them unregistered: a path through a DSP is cut in two halves, into
# it and out of it, each timed against a pseudo-clock (the constant net on the DSP's CLK pin), and
# the multiplier's own delay is not counted. This is the slowest arc of SB_MAC16_MUL_U_16X16_BYPASS
# in the iCEcube2 timing data project IceStorm extracted (icefuzz/timings_up5k.txt), in ns.
ICE40_DSP_NS = 9.05
# A DSP whose output comes from its adder (yosys folds an addition after the multiply into it,
# OUTPUT_SELECT 0 or 1) is slower: the slowest arc of SB_MAC16_MAC_U_16X16_BYPASS, multiplier
# and 32-bit adder (B to CO), in the same data.
ICE40_DSP_ADD_NS = 11.23
_DSP_OUT = re.compile(r"^O_\d+$")
_DSP_IN = re.compile(r"^[ABCD]_\d+$")


def _path_ns(p: dict[str, Any]) -> float:
    return sum(float(x.get("delay", 0)) for x in p.get("path", []))


def _dsp_paths(doc: dict[str, Any], budgets: dict[tuple[str, str], float],
               dsp_ns: float = ICE40_DSP_NS) -> list[dict[str, Any]]:
    """Bounds on the iCE40 paths through DSPs between the clocks of ``budgets`` (pairs of report
    names, "posedge X", and their budgets in ns):
    the slowest half into a DSP from the source clock, plus the DSP's delay, plus the slowest
    half out to the destination clock (plus one more DSP and the path between them, when one
    DSP feeds another), with ``dsp_ns`` per DSP. Halves are only reported per pair of clocks,
    so the bound pairs the slowest of each: it can only overstate a path."""
    paths = doc.get("critical_paths", [])
    clocks = {name for pair in budgets for name in pair}

    def ports(p):
        hops = p.get("path", [])
        return ((hops[0].get("from", {}).get("port", ""), hops[-1].get("to", {}).get("port", ""))
                if hops else ("", ""))
    dsp = ({p["from"] for p in paths if _DSP_OUT.match(ports(p)[0])}
           | {p["to"] for p in paths if _DSP_IN.match(ports(p)[1])})
    into = {}  # clock -> slowest half into a DSP
    out = {}  # clock -> slowest half out of a DSP
    chain = 0.0  # slowest DSP -> DSP half
    for p in paths:
        ns = _path_ns(p) - 0.1  # the pseudo-register's setup or clock-to-out
        if p.get("from") in clocks and p.get("to") in dsp:
            into[p["from"]] = max(into.get(p["from"], 0.0), ns)
        elif p.get("from") in dsp and p.get("to") in clocks:
            out[p["to"]] = max(out.get(p["to"], 0.0), ns)
        elif p.get("from") in dsp and p.get("to") in dsp:
            chain = max(chain, ns - 0.1 + dsp_ns)
    bounds = []
    for src, a in into.items():
        for dst, b in out.items():
            bounds.append({"from": src, "to": dst,
                           "delay_ns": round(a + dsp_ns + chain + b, 2),
                           "budget_ns": round(budgets[src, dst], 2)})
    return bounds


def ice40_dsp_ns(path: Path) -> float:
    """The delay to count per iCE40 DSP of the synthesised netlist (yosys JSON) at ``path``:
    :data:`ICE40_DSP_ADD_NS` if any SB_MAC16 takes an output from its adder, else
    :data:`ICE40_DSP_NS` (the worse one when the netlist cannot be read)."""
    try:
        netlist = json.loads(path.read_text())
    except (OSError, ValueError):
        return ICE40_DSP_ADD_NS
    for module in netlist.get("modules", {}).values():
        for cell in module.get("cells", {}).values():
            if cell.get("type") != "SB_MAC16":
                continue
            params = cell.get("parameters", {})
            for half in ("TOPOUTPUT_SELECT", "BOTOUTPUT_SELECT"):
                try:
                    select = int(str(params.get(half, "0")), 2)
                except ValueError:
                    return ICE40_DSP_ADD_NS
                if select in (0, 1):
                    return ICE40_DSP_ADD_NS
    return ICE40_DSP_NS
