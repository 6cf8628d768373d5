"""Bitstreams from scratch: build each (config, board, target clock) with ``snnhw build`` into
an empty folder, one at a time, and print one BENCHMARKS.md table row per build from its
``build_report.json``.

    python bench/board_builds.py [--out DIR] [--only NAME ...] [--seeds N ...]

A build that misses timing still gives its row (fmax against target); one that does not fit
gives the fit check's line. ``--seeds`` builds each design once per nextpnr placement seed (a
row each): the paths between the iCE40's ``sync`` and SPRAM clocks are neither constrained nor
optimised by nextpnr, so whether a full UP5K design meets them is a matter of placement, and
one seed says little.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from snnhw.build import build
from snnhw.errors import SnnhwError

ROOT = Path(__file__).resolve().parent.parent

# name: (config, board, target MHz or None for the board's default)
BUILDS = {
    "m400-ulx3s-60": ("examples/learning/mnist_stdp_400.toml", "ulx3s-85f", 60.0),
    "m400-ulx3s-20": ("examples/learning/mnist_stdp_400.toml", "ulx3s-85f", 20.0),
    "m400-ecpix5-25": ("examples/learning/mnist_stdp_400.toml", "ecpix5-85f", 25.0),
    "l64-icebreaker": ("tests/data/learn_64x8_icebreaker.toml", "icebreaker", None),
    "m100-icebreaker": ("examples/learning/mnist_stdp_100.toml", "icebreaker", 24.0),
    "m100p-icebreaker": ("tests/data/mnist_100_prune_icebreaker.toml", "icebreaker", 24.0),
    # the TTFS conv network's SoC (issue 19)
    "ttfs-mnist-ulx3s-60": ("examples/ttfs/mnist.toml", "ulx3s-85f", 60.0),
    "ttfs-mnist-icebreaker-24": ("examples/ttfs/mnist_icebreaker.toml", "icebreaker", 24.0),
    "ttfs-mnist-icebreaker": ("examples/ttfs/mnist_icebreaker.toml", "icebreaker", None),
}


def _n(x: int) -> str:
    return f"{x:,}".replace(",", " ")


def row(name: str, report: dict) -> str:
    r = report
    timing = "met" if r["timing_met"] else "**not met**"
    minutes, seconds = divmod(round(r["build_seconds"]), 60)
    cross = " / ".join(f"{c['delay_ns']:.2f}" for c in r.get("cross_domain") or [])
    cross = f" (sync ↔ SPRAM clock {cross} of {r['cross_domain'][0]['budget_ns']:.2f} ns)" \
        if cross else ""
    return (f"| {name} | {r['seed']} | {r['board']} | {r['target_mhz']:g} MHz | "
            f"{r['fmax_mhz']:.2f} MHz{cross} | "
            f"{timing} | {_n(r['luts_used'])} / {_n(r['luts_available'])} | "
            f"{_n(r['ffs_used'])} | {r['bram_used']} / {r['bram_available']} | "
            f"{r['spram_used']} | {r['dsp_used']} / {r['dsp_available']} | "
            f"{minutes} min {seconds:02d} s |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench_builds"),
                    help="folder for the builds, emptied first (default: build/bench_builds)")
    ap.add_argument("--only", nargs="+", choices=sorted(BUILDS), metavar="NAME",
                    help=f"builds to run (default: all of {', '.join(BUILDS)})")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1], metavar="N",
                    help="nextpnr placement seeds, a build of each design per seed "
                         "(default: 1)")
    args = ap.parse_args()
    print("| build | seed | board | target | fmax | timing | LUTs | FFs | block RAM | SPRAM "
          "| DSP | time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.only or BUILDS:
        config, board, mhz = BUILDS[name]
        for seed in args.seeds:
            out = args.out / (name if args.seeds == [1] else f"{name}-seed{seed}")
            shutil.rmtree(out, ignore_errors=True)
            started = time.monotonic()
            try:
                result = build(ROOT / config, board, out, target_mhz=mhz, seed=seed)
            except SnnhwError as e:
                print(f"| {name} | {seed} | {board} | {mhz or '-'} MHz | - | {e} (after "
                      f"{time.monotonic() - started:.0f} s) |", flush=True)
                continue
            print(row(name, result.report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
