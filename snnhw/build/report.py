"""The build report: resource use and timing from nextpnr's ``--report`` JSON and yosys' cell
counts, the readable ``build_report.txt``, and the one-line reason a build failed, read from
the tools' logs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .ice40_dsp import ICE40_DSP_NS, _dsp_paths
from .logs import NAME

__all__ = ["format_report", "overflow", "parse_nextpnr_report", "timing_failures"]

_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def overflow(nextpnr_log: str) -> str | None:
    """What a design needs beyond the device, from nextpnr's "Device utilisation" table (which
    it prints before it gives up placing): ``"18 ICESTORM_DSP of 8, ..."``, or None."""
    over = [f"{used} {kind} of {have}" for kind, used, have in
            ((k, int(u), int(h)) for k, u, h in _UTILISATION.findall(nextpnr_log))
            if used > have]
    return ", ".join(over) or None


def _failure(work: Path) -> str:
    """The first error line of the tools' logs, for a one-line message; when the design
    overflows the device, what it needs instead of the placer's complaint."""
    for name in (f"{NAME}.tim", f"{NAME}.rpt", "build.log"):
        try:
            text = (work / name).read_text(errors="replace")
        except OSError:
            continue
        needs = overflow(text)
        if needs:
            return (f"the design does not fit: it needs {needs} (see {work / name}); choose "
                    "fewer inputs, neurons or lanes, or a bigger board")
        for line in text.splitlines():
            if line.startswith("ERROR:") or "Error" in line[:12]:
                return f"{line.strip()} (see {work / name})"
    return f"see {work / 'build.log'}"


# nextpnr --report utilization names, per family
_UTIL = {
    "ice40": {"luts": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP", "ffs": None},
    "ecp5": {"luts": "TRELLIS_COMB", "bram": "DP16KD", "spram": None, "dsp": "MULT18X18D",
             "ffs": "TRELLIS_FF"},
}


def parse_nextpnr_report(doc: dict[str, Any], family: str, clk_hz: int,
                         fast_hz: int | None = None, *, dsp_ns: float = ICE40_DSP_NS
                         ) -> dict[str, Any]:
    """Resource use and timing from nextpnr's ``--report`` JSON.

    ``fmax_mhz`` is the achieved frequency of the clock constrained to ``clk_hz`` (the ``sync``
    clock), else of the slowest clock; ``timing_met`` is whether it reached its constraint.

    ``fast_hz``: the design also has the SPRAM's ``fast`` clock (twice ``sync``, edges
    aligned). Its fmax must reach its constraint too, and so must the paths between the two
    clocks, which nextpnr reports but does not judge: each gets one ``fast`` period, the time
    from a ``sync`` edge to the next ``fast`` edge (``cross_domain``).

    iCE40: paths through DSPs are bounded by :func:`_dsp_paths` (``dsp_paths``) and judged as
    any other path between their clocks; the ``sync`` one also bounds ``fmax_mhz``. ``dsp_ns``:
    the delay per DSP (:func:`ice40_dsp_ns` of the netlist), reported as ``dsp_ns``.
    """
    util = doc.get("utilization", {})
    names = _UTIL[family]

    def used(key):
        return int(util.get(names[key], {}).get("used", 0)) if names[key] else 0

    def available(key):
        return int(util.get(names[key], {}).get("available", 0)) if names[key] else 0

    clocks = {name: (float(c["achieved"]), float(c["constraint"]))
              for name, c in doc.get("fmax", {}).items()}
    target = clk_hz / 1e6
    # nextpnr also times nets it promoted to global clocks (constant nets of unused block RAM
    # ports, the oscillator's pad): only the sync clock decides, when it is found.
    def named(mhz):
        """The clock constrained closest to ``mhz``, within 2 % (nextpnr derives the
        constraint of a PLL's GENCLK_HALF output itself, a little off half of GENCLK's)."""
        near = sorted((abs(c[1] - mhz), n) for n, c in clocks.items()
                      if abs(c[1] - mhz) <= 0.02 * mhz)
        return [near[0][1]] if near else []
    sync = [clocks[n] for n in named(target)]
    judged = sync or list(clocks.values())
    fmax = min((a for a, _ in judged), default=0.0)
    met = bool(judged) and all(a >= c for a, c in judged)
    cross = []
    if fast_hz is not None:
        fast_names = named(fast_hz / 1e6)
        met = met and bool(fast_names) and all(clocks[n][0] >= clocks[n][1]
                                                for n in fast_names)
        pair = {f"posedge {n}" for n in named(target) + fast_names}
        budget = 1e9 / fast_hz
        for p in doc.get("critical_paths", []):
            if p.get("from") in pair and p.get("to") in pair and p["from"] != p["to"]:
                delay = sum(float(x.get("delay", 0)) for x in p.get("path", []))
                cross.append({"from": p["from"], "to": p["to"], "delay_ns": round(delay, 2),
                              "budget_ns": round(budget, 2)})
        met = met and all(c["delay_ns"] <= c["budget_ns"] for c in cross)
        fast_fmax = clocks[fast_names[0]][0] if fast_names else 0.0
    dsp = []
    if family == "ice40" and sync:
        sync_name = f"posedge {named(target)[0]}"
        budgets = {(sync_name, sync_name): 1e3 / target}
        if fast_hz is not None and fast_names:
            fast_name = f"posedge {fast_names[0]}"
            budgets.update({(a, b): 1e9 / fast_hz for a in (sync_name, fast_name)
                            for b in (sync_name, fast_name) if (a, b) != (sync_name, sync_name)})
        dsp = _dsp_paths(doc, budgets, dsp_ns)
        met = met and all(d["delay_ns"] <= d["budget_ns"] for d in dsp)
        for d in dsp:
            if d["from"] == d["to"] == sync_name:
                fmax = min(fmax, 1e3 / d["delay_ns"])
    return {
        "luts_used": used("luts"), "luts_available": available("luts"),
        "ffs_used": used("ffs"), "ffs_available": available("ffs"),
        "bram_used": used("bram"), "bram_available": available("bram"),
        "spram_used": used("spram"), "spram_available": available("spram"),
        "dsp_used": used("dsp"), "dsp_available": available("dsp"),
        "fmax_mhz": round(fmax, 2),
        "timing_met": met,
        "clocks": {name: {"achieved_mhz": round(a, 2), "constraint_mhz": round(c, 2)}
                   for name, (a, c) in clocks.items()},
        **({"cross_domain": cross, "fast_fmax_mhz": round(fast_fmax, 2)}
           if fast_hz is not None else {}),
        **({"dsp_paths": dsp, "dsp_ns": dsp_ns} if family == "ice40" else {}),
    }


def _yosys_cells(path: Path) -> dict[str, int]:
    """Cell counts by type from ``stat -json`` of the synthesised design."""
    try:
        stat = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    design = stat.get("design") or next(iter(stat.get("modules", {}).values()), {})
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}


def timing_failures(r: dict[str, Any]) -> list[str]:
    """What misses timing in a build report, one phrase each (empty when timing is met): a
    clock below its constraint, a path between the ``sync`` and SPRAM clocks or through DSPs
    over its budget."""
    out = [f"{name} {c['achieved_mhz']:.2f} MHz < {c['constraint_mhz']:.4g} MHz"
           for name, c in r.get("clocks", {}).items()
           if c["achieved_mhz"] < c["constraint_mhz"]]
    if r["fmax_mhz"] < r["clk_hz"] / 1e6 and not out:
        out.append(f"fmax {r['fmax_mhz']:.2f} MHz < {r['clk_hz'] / 1e6:.4g} MHz")
    for kind, paths in (("path", r.get("cross_domain") or []), ("DSP path",
                                                              r.get("dsp_paths") or [])):
        out += [f"{kind} {p['from']} -> {p['to']} {p['delay_ns']:.2f} ns > {p['budget_ns']:.2f} "
                "ns" for p in paths if p["delay_ns"] > p["budget_ns"]]
    return out


def format_report(r: dict[str, Any]) -> str:
    """The readable ``build_report.txt``."""
    def share(used, avail):
        return f"{used} / {avail} ({100 * used / avail:.0f} %)" if avail else f"{used}"

    lines = [
        f"board        {r['board']} ({r['device']})",
        f"config       {r['config']} (hash {r['config_hash']})",
        f"clock        {r['clk_hz'] / 1e6:.4g} MHz from the PLL (asked {r['target_mhz']:g} MHz)"
        f", {r['baud']} baud",
        f"fmax         {r['fmax_mhz']:.2f} MHz: timing "
        f"{'met' if r['timing_met'] else 'NOT met'}",
        f"logic        {share(r['luts_used'], r['luts_available'])} "
        f"{'logic cells' if r['family'] == 'ice40' else 'LUT4s'}, {r['ffs_used']} flip-flops",
        f"block RAM    {share(r['bram_used'], r['bram_available'])}"
        f" (estimated {r['fit']['blocks']})",
    ]
    if r["family"] == "ice40":
        lines.append(f"SPRAM        {share(r['spram_used'], r['spram_available'])}"
                     + (" (synapse memory)" if r.get("synapse_ram") == "spram" else ""))
    if r.get("cross_domain") is not None:
        worst = max(r["cross_domain"], key=lambda c: c["delay_ns"], default=None)
        lines.append(f"SPRAM clock  {r['pll']['fast_hz'] / 1e6:.4g} MHz (twice sync): fmax "
                     f"{r['fast_fmax_mhz']:.2f} MHz"
                     + (f", sync/fast paths {worst['delay_ns']:.2f} of {worst['budget_ns']:.2f} ns"
                        if worst else ""))
    dsp_line = f"DSP          {share(r['dsp_used'], r['dsp_available'])}"
    if r.get("dsp_paths"):
        worst = max(r["dsp_paths"], key=lambda c: c["delay_ns"] / c["budget_ns"])
        dsp_line += (f", paths through them at most {worst['delay_ns']:.2f} of "
                     f"{worst['budget_ns']:.2f} ns ({r['dsp_ns']} ns per DSP, which nextpnr "
                     f"does not count)")
    lines += [
        dsp_line,
        f"bitstream    {r['bitstream']}",
        f"build        {r['build_seconds']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in r["stage_seconds"].items()) + ")",
        f"tools        yosys {r['tools']['yosys']}, {r['tools']['nextpnr']}",
    ]
    if r.get("notes"):
        lines.append(f"notes        {r['notes']}")
    return "\n".join(lines) + "\n"
