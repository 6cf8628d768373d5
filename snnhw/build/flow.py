"""The build itself (:func:`build`): the cheap checks, the board top elaborated into Amaranth's
build plan, the tools run, the report and the artefacts written; and the choices it makes on
the way (the PLL, where the weights go, which memories need no initial contents)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..boards import Board, board_constraints, get_board
from ..boards.pll import ECP5PLL, ICE40PLL, PLLError, ecp5_pll, ice40_pll
from ..config import Config, load_config
from ..errors import ConfigError, InputError, ToolError
from ..export import make_dir
from ..families import load, require_network, resolve
from ..fit import DEVICES, check_fit
from ..protocol import DEFAULT_BAUD
from .ice40_dsp import ICE40_DSP_NS, ice40_dsp_ns
from .logs import NAME, Progress, _run_plan
from .plans import SocPlan
from .report import _failure, _yosys_cells, format_report, parse_nextpnr_report
from .tools import TOOLS, _tool_version, _yosys_version, find_tools

__all__ = ["BuildResult", "build", "choose_pll", "synapse_ram", "strip_zero_init",
           "DEFAULT_BAUD", "DEFAULT_TIMEOUT_MS"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 20.0


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


def _plan(config: Config, config_path: str | Path, board: Board) -> SocPlan:
    """The build plan of the config's family (:mod:`.plans`), if it can build."""
    net = resolve(config)
    family = require_network(net, "build", str(config_path))
    if family.soc_plan is None:  # pragma: no cover - every family that builds names one
        raise ConfigError([f"{net.name}: the {family.name} family has no SoC"])
    return load(family.soc_plan)(config, net, board)


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
    soc_plan = _plan(config, config_path, board)
    cons = board_constraints(board)
    target_mhz = cons.target_mhz if target_mhz is None else target_mhz
    if not target_mhz > 0:
        raise InputError(f"--target-mhz {target_mhz:g}: must be positive")
    platform = board.platform()
    osc_hz = int(platform.default_clk_frequency)
    target_hz = round(target_mhz * 1e6)
    ram = soc_plan.synapse_ram
    pll = choose_pll(board, osc_hz, target_hz, double=ram == "spram")
    clk_hz = (pll.half_hz if ram == "spram" else pll.clk_hz) if pll else osc_hz

    from ..gateware.uart import baud_divisor  # gateware only once the cheap checks pass

    try:
        baud_divisor(clk_hz, baud)
    except ValueError as e:
        raise InputError(f"--baud {baud}: {e}") from None
    if not timeout_ms > 0:
        raise InputError(f"--timeout-ms {timeout_ms:g}: must be positive")
    timeout_cycles = max(1, round(timeout_ms * 1e-3 * clk_hz))
    fit = check_fit(soc_plan.fit_subject, board.device) if fit_check else None
    env = {**os.environ, **find_tools(board.family)}

    out = make_dir(out_dir)
    work = make_dir(out / "work")
    for stale in (f"{NAME}.rpt", f"{NAME}.tim", f"{NAME}.report.json", f"{NAME}.stat.json"):
        (work / stale).unlink(missing_ok=True)
    soc_plan.write_resolved(out / "resolved_config.json")
    log.info("%s on %s: %s MHz asked, %s Hz from the PLL", soc_plan.name, board.name,
             target_mhz, clk_hz)

    elaborating = time.monotonic()
    if progress is not None:
        progress("elaborating", elaborating - started)
    from ..boards.top import BoardTop

    top = BoardTop(board, soc_plan.make(clk_hz=clk_hz, baud=baud,
                                        timeout_cycles=timeout_cycles), pll)
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
    bitstream = out / f"{soc_plan.name}-{board.name}{suffix}"
    shutil.copyfile(work / f"{NAME}{suffix}", bitstream)
    try:
        nextpnr = json.loads((work / f"{NAME}.report.json").read_text())
    except (OSError, ValueError) as e:
        raise ToolError(f"nextpnr wrote no readable report ({e}): see {out / 'nextpnr.log'}"
                        ) from None
    cells = _yosys_cells(work / f"{NAME}.stat.json")
    report: dict[str, Any] = {
        "board": board.name, "device": board.device, "family": board.family,
        "config": str(config_path), "config_hash": f"{soc_plan.config_hash:08x}",
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
