"""Inference cycles of the TTFS conv core against the ideal (docs/semantics.md §32), measured
on trained models.

    python bench/ttfs_rtl.py MODEL [MODEL ...] [--unpruned DIR ...] [--images N]
                             [--data-dir DIR]

For each model folder written by ``snnhw train`` (a ``ttfs_conv`` network), the golden model's
fast path takes the first ``--images`` test images (default: all) through the folder's final
weights, and the core's cycle model (``run_cycles``) counts each inference run: cycles per
image, synaptic updates (alive taps whose output exists, over every input event), the ideal
``updates / lanes`` (every lane updates a membrane every cycle) and the ratio of the cycles to
it, against the target of 1.15. A second table shows where the cycles go, by phase and layer:
the clear sweeps, the kernel rows split into the ideal, the lane imbalance (an event takes as
many cycles as its busiest lane spends on its rows) and the events with no alive tap in range
(one cycle a row), the per-timestep items and drains, the crossings' resolution, the emission and
the pool's windows.

Learning figures come from each folder's ``report.json`` (``snnhw train`` counts every learning
run as it trains). ``snnhw train`` keeps only the pruned model: the unpruned twin (the same
config and seed, every ``[layer.pruning] enabled = false``, trained with ``--no-float``) is
given as ``--unpruned DIR``, once per MODEL and in the same order; its runs are then counted
too, the inference speed-up per image is measured, and the pruned report's
``cycles_per_image_inference_unpruned`` is checked against it.

Prints, ready for BENCHMARKS.md: the command, the commit, the machine and the tables.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's snnhw, not an installed one

from ttfs_speed import _commit  # noqa: E402
from ttfs_targets import _machine, _shown  # noqa: E402

from snnhw.config import load_config  # noqa: E402
from snnhw.families import require_network, resolve  # noqa: E402
from snnhw.golden.networks import ttfs_conv_fast as fast  # noqa: E402
from snnhw.golden.networks.ttfs_conv_cycles import ideal_cycles, run_cycles  # noqa: E402
from snnhw.ir_conv import ConvNetworkIR, resolved_dict  # noqa: E402
from snnhw.modelfile import read_report  # noqa: E402
from snnhw.train_conv import _unpruned, load_conv_model, load_splits  # noqa: E402

TARGET = 1.15  #: the core's cycles over the ideal, at most
#: rows of the breakdown: (label, the phases of RunCycles.parts it sums)
PHASES = [
    ("clear sweeps (the longest memory, once per image)", ("clear",)),
    ("kernel rows, busiest lane", ("rows",)),
    ("kernel rows of events with no alive tap in range (1 cycle each)", ("empty_rows",)),
    ("timestep items, drains, stage ends", ("items", "drain", "stage_end")),
    ("resolve crossings (1 each + tail, or 1 per timestep)", ("resolve",)),
    ("emit spikes (pointwise inhibition)", ("emit",)),
    ("pool windows beyond a spike's first", ("pool",)),
    ("k winners, STDP", ("winners", "stdp")),
]
REPORT_KEYS = ("cycles_per_image_learning", "cycles_per_image_learning_unpruned",
               "speedup_learning", "cycles_learning_total", "cycles_learning_total_unpruned",
               "speedup_learning_total", "cycles_per_image_inference",
               "cycles_per_image_inference_unpruned", "speedup_inference")


@dataclass
class Measured:
    """A model folder's inference runs, summed over the images."""

    folder: Path
    net: ConvNetworkIR
    report: dict[str, Any]
    images: int = 0
    cycles: int = 0
    updates: int = 0
    parts: Counter = field(default_factory=Counter)
    layer_updates: Counter = field(default_factory=Counter)

    def per_image(self, value: float) -> float:
        return value / self.images

    @property
    def ideal(self) -> float:
        return ideal_cycles(self.updates, self.net.lanes)

    @property
    def ratio(self) -> float:
        return self.cycles / self.ideal


def measure(folder: Path, data_dir: str | None, images: int | None) -> Measured:
    """Count the inference runs of ``folder``'s model over its first ``images`` test images."""
    from tqdm import tqdm

    net = resolve(load_config(folder / "config.toml"))
    require_network(net, "evaluate")
    state, _ = load_conv_model(folder, net)
    report = read_report(folder)
    test = load_splits(net, report["dataset"], data_dir).test[:images]
    m = Measured(folder, net, report)
    for image in tqdm(test, desc=f"{folder.name}: inference runs", unit="image", leave=False):
        _, maps = fast.features_of_times(net, state, fast.encode(net, image).astype(np.int64))
        run = run_cycles(net, state.weights, state.alive, maps)
        m.images += 1
        m.cycles += run.cycles
        m.updates += run.updates
        m.parts.update(run.parts)
        m.layer_updates.update(run.layer_updates)
    return m


def _command(argv: list[str]) -> str:
    """The command as run, with ``$SNNHW_DATA`` when it found the datasets."""
    env = ("" if "--data-dir" in argv or "SNNHW_DATA" not in os.environ else
           f"SNNHW_DATA={shlex.quote(os.environ['SNNHW_DATA'])} ")
    return env + shlex.join([sys.executable, _shown(Path(__file__)), *argv])


def _n(x: float) -> str:
    """A figure per image, with thin-space thousands as BENCHMARKS.md writes them."""
    return f"{x:,.0f}".replace(",", " ")


def _report(report: dict[str, Any]) -> dict[str, Any]:
    """``report``, its cycle counts written as :func:`_n` writes them."""
    return {k: _n(v) if k.startswith("cycles") else v for k, v in report.items()}


def ratio_table(models: list[Measured]) -> list[str]:
    rows = ["| model | lanes | test images | cycles / image | synaptic updates / image | "
            "ideal (updates / lanes) | cycles / ideal | within 1.15x | report.json cycles "
            "/ image |", "|---|---|---|---|---|---|---|---|---|"]
    for m in models:
        rows.append(
            f"| `{_shown(m.folder)}` | {m.net.lanes} | {m.images} | "
            f"{_n(m.per_image(m.cycles))} | {_n(m.per_image(m.updates))} | "
            f"{_n(m.per_image(m.ideal))} | **{m.ratio:.2f}** | "
            f"{'yes' if m.ratio <= TARGET else 'no'} | "
            f"{_report(m.report).get('cycles_per_image_inference', '-')} |")
    return rows


def breakdown(m: Measured) -> list[str]:
    """Cycles per image by phase (rows) and layer (columns), the kernel rows split at the
    ideal."""
    layers = [c.name for c in m.net.conv_layers if (c.name, "items") in m.parts]
    cols = ["", *layers]  # "": the run's own phases

    def cell(where: str, phases: tuple[str, ...]) -> float:
        return m.per_image(sum(m.parts[where, p] for p in phases))

    total = m.per_image(m.cycles)
    head = f"| cycles per image | {' | '.join(layers)} | whole run | share |"
    rows = [f"**`{_shown(m.folder)}`** ({m.images} images)", "", head,
            "|---" * (len(layers) + 3) + "|"]

    def line(label: str, values: list[float]) -> str:
        s = sum(values)
        return (f"| {label} | {' | '.join(_n(v) if v else '-' for v in values[1:])} | "
                f"{_n(s)} | {100 * s / total:.1f} % |")

    for label, phases in PHASES:
        values = [cell(w, phases) for w in cols]
        if not any(values):
            continue
        if phases == ("rows",):  # split at the ideal
            ideal = [0.0] + [m.per_image(ideal_cycles(m.layer_updates[x], m.net.lanes))
                             for x in layers]
            rows.append(line("kernel rows: ideal (updates / lanes)", ideal))
            rows.append(line("kernel rows: lane imbalance (busiest lane - ideal)",
                             [v - i for v, i in zip(values, ideal, strict=True)]))
            continue
        if label.startswith("clear"):
            rows.append(f"| {label} | {' | '.join('-' for _ in layers)} | {_n(values[0])} | "
                        f"{100 * values[0] / total:.1f} % |")
            continue
        rows.append(line(label, values))
    every = tuple(p for _, ps in PHASES for p in ps)
    per_layer = " | ".join(_n(cell(x, every)) for x in layers)
    rows.append(f"| **total** | {per_layer} | **{_n(total)}** | 100 % |")
    return rows


def speedup_table(pairs: list[tuple[Measured, Measured | None]]) -> list[str]:
    rows = ["| model | inference cycles / image, pruned | unpruned | speed-up (≥ 2.83) | "
            "learning cycles / image, pruned | unpruned | speed-up (≥ 2.1) | whole training, "
            "speed-up |", "|---|---|---|---|---|---|---|---|"]
    for m, twin in pairs:
        r = _report(m.report)
        if twin is not None:
            inf = (f"{_n(m.per_image(m.cycles))} | {_n(twin.per_image(twin.cycles))} | "
                   f"**{twin.per_image(twin.cycles) / m.per_image(m.cycles):.3f}x**")
        else:
            inf = (f"{r.get('cycles_per_image_inference', '-')} | "
                   f"{r.get('cycles_per_image_inference_unpruned', '-')} | "
                   f"{r.get('speedup_inference', '-')}x (report.json)")
        rows.append(f"| `{_shown(m.folder)}` | {inf} | {r.get('cycles_per_image_learning', '-')}"
                    f" | {r.get('cycles_per_image_learning_unpruned', '-')} | "
                    f"**{r.get('speedup_learning', '-')}x** | "
                    f"{r.get('speedup_learning_total', '-')}x |")
    return rows


def twin_check(m: Measured, twin: Measured) -> str:
    """One line: is ``twin`` the unpruned run of ``m``, and does it count what ``m``'s report
    counted for its unpruned run."""
    if resolved_dict(_unpruned(m.net)) != resolved_dict(twin.net):
        raise SystemExit(f"{twin.folder}: not the unpruned twin of {m.folder} (its resolved "
                         "config differs by more than the pruning)")
    want = m.report.get("cycles_per_image_inference_unpruned")
    got = round(twin.per_image(twin.cycles), 1)
    if want is None or twin.images != m.report.get("test_images"):
        return f"`{_shown(twin.folder)}`: {got} cycles per image (not checked against report)"
    same = "equal to" if got == want else "**differs from**"
    return (f"`{_shown(twin.folder)}`: {got} cycles per image, {same} `{_shown(m.folder)}`'s "
            f"`cycles_per_image_inference_unpruned` {want}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL",
                   help="model folders written by snnhw train")
    p.add_argument("--unpruned", action="append", type=Path, default=[], metavar="DIR",
                   help="the unpruned twin of each MODEL, in order (default: none; the "
                        "inference speed-up is then report.json's)")
    p.add_argument("--images", type=int, default=None,
                   help="test images per model (default: all)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the datasets (default: $SNNHW_DATA, else the user "
                        "cache)")
    args = p.parse_args(argv)
    if args.images is not None and args.images < 1:
        p.error("--images must be at least 1")
    if len(args.unpruned) > len(args.models):
        p.error("--unpruned: one at most per MODEL")
    models = [measure(d, args.data_dir, args.images) for d in args.models]
    twins = [measure(d, args.data_dir, args.images) for d in args.unpruned]
    pairs = [(m, twins[i] if i < len(twins) else None) for i, m in enumerate(models)]
    checks = [twin_check(m, t) for m, t in pairs if t is not None]

    lines = ["```sh", _command(argv), "```", "",
             f"Commit {_commit()}; machine: {_machine()}.", ""]
    lines += ratio_table(models + twins) + [""]
    for m in models + twins:
        lines += breakdown(m) + [""]
    lines += speedup_table(pairs)
    if checks:
        lines += [""] + [f"Check: {c}." for c in checks]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
