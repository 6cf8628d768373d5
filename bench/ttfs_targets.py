"""Accuracy and pruning targets of the TTFS conv network (issue 18), measured by training.

    python bench/ttfs_targets.py --out DIR [--data-dir DIR] [--network caltech|mnist|both]
                                 [--caltech CONFIG] [--mnist CONFIG] [--seeds 2,3]

Trains each network with ``snnhw train`` (the bit-exact golden model, its float reference and,
with pruning, the run that keeps every tap), keeps the model folders under ``--out``, and
prints one Markdown table per network: each target, the figure from ``report.json``, and
whether it is met. Defaults: ``examples/ttfs/caltech_facemotor.toml`` and
``examples/ttfs/mnist.toml``. ``--seeds`` trains the Caltech network again at other seeds
(``snnhw train --seed``, no float reference) and tabulates the spread of the pruning figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (report key, description, comparison, target); comparison "ge", "le" or "within" (of
#: float_accuracy, in accuracy points)
TARGETS = {
    "caltech": [
        ("accuracy", "test accuracy, bit-exact integer model", "ge", 0.97),
        ("quantization_loss", "float_accuracy - accuracy", "le", 0.01),
        ("connectivity", "connectivity (alive taps / taps)", "le", 0.0717),
        ("pruning_loss", "accuracy_unpruned - accuracy", "le", 0.005),
        ("speedup_learning", "learning cycles per image, unpruned / pruned", "ge", 2.1),
        ("speedup_inference", "inference cycles per image, unpruned / pruned", "ge", 2.83),
    ],
    "mnist": [
        ("accuracy", "test accuracy, bit-exact integer model", "ge", 0.98),
        ("quantization_loss", "float_accuracy - accuracy", "le", 0.01),
    ],
}
DATASETS = {"caltech": "caltech-facemotor", "mnist": "mnist"}


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import os

    return f"{platform.machine()}, {cpu}, {os.cpu_count()} cores"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (for pasting commands)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _table(name: str, report: dict) -> list[str]:
    rows = [f"#### {name}: {report['network']}", "",
            "| target | required | measured | met |", "|---|---|---|---|"]
    for key, what, cmp, target in TARGETS[name]:
        got = report.get(key)
        if got is None:
            rows.append(f"| {what} (`{key}`) | {cmp} {target} | not measured | no |")
            continue
        ok = got >= target if cmp == "ge" else got <= target
        rows.append(f"| {what} (`{key}`) | {'≥' if cmp == 'ge' else '≤'} {target} | {got} | "
                    f"{'yes' if ok else 'no'} |")
    rows.append("")
    rows.append("| layer | connectivity | images learned | final convergence C | STDP ms/image |")
    rows.append("|---|---|---|---|---|")
    for layer in report["layers"]:
        c = layer["convergence_curve"][-1]["convergence"] if layer["convergence_curve"] else "-"
        rows.append(f"| {layer['name']} | {layer['connectivity']} | {layer['images_trained']} "
                    f"| {c} | {layer['stdp_ms_per_image']} |")
    extra = {k: report[k] for k in ("accuracy_unpruned", "float_accuracy",
                                    "cycles_per_image_learning",
                                    "cycles_per_image_learning_unpruned",
                                    "cycles_per_image_inference",
                                    "cycles_per_image_inference_unpruned",
                                    "cycles_learning_total", "cycles_learning_total_unpruned",
                                    "speedup_learning_total",
                                    "images_per_second_inference", "weight_memory_bits")
             if k in report}
    rows.append("")
    rows.append(", ".join(f"`{k}` {v}" for k, v in extra.items()))
    return rows


def _seed_table(snnhw, args, seeds: list[int]) -> list[str]:
    rows = ["#### caltech at other seeds (`--seed S --no-float`)", "",
            "| seed | accuracy | unpruned | loss (pp) | connectivity | learning speed-up | "
            "inference speed-up | whole training |", "|---|---|---|---|---|---|---|---|"]
    for seed in seeds:
        out = args.out / f"caltech_seed{seed}"
        cmd = ["train", str(args.caltech), "--dataset", DATASETS["caltech"], "--out", str(out),
               "--seed", str(seed), "--no-float"]
        if args.data_dir:
            cmd += ["--data-dir", str(args.data_dir)]
        if snnhw(cmd) != 0:
            raise SystemExit(1)
        r = json.loads((out / "report.json").read_text())
        rows.append(f"| {seed} | {r['accuracy']} | {r.get('accuracy_unpruned', '-')} | "
                    f"{round(100 * r.get('pruning_loss', 0), 2)} | {r['connectivity']} | "
                    f"{r.get('speedup_learning', '-')} | {r.get('speedup_inference', '-')} | "
                    f"{r.get('speedup_learning_total', '-')} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the model folders")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $SNNHW_DATA)")
    p.add_argument("--network", choices=("caltech", "mnist", "both"), default="both",
                   help="which network to train (default: both)")
    p.add_argument("--caltech", type=Path, default=ROOT / "examples/ttfs/caltech_facemotor.toml",
                   help="Caltech config (default: examples/ttfs/caltech_facemotor.toml)")
    p.add_argument("--mnist", type=Path, default=ROOT / "examples/ttfs/mnist.toml",
                   help="MNIST config (default: examples/ttfs/mnist.toml)")
    p.add_argument("--seeds", default="",
                   help="comma-separated extra seeds for the Caltech network (default: none)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from snnhw.cli import main as snnhw

    names = ["caltech", "mnist"] if args.network == "both" else [args.network]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True).stdout.strip()
    lines = [f"commit {commit}; machine: {_machine()}", ""]
    for name in names:
        out = args.out / name
        cmd = ["train", str(getattr(args, name)), "--dataset", DATASETS[name], "--out", str(out)]
        if args.data_dir:
            cmd += ["--data-dir", str(args.data_dir)]
        shown = [_shown(getattr(args, name)) if c == str(getattr(args, name)) else c
                 for c in cmd]
        lines.append(f"`snnhw {' '.join(shown)}`")
        lines.append("")
        if snnhw(cmd) != 0:
            return 1
        lines += _table(name, json.loads((out / "report.json").read_text()))
        lines.append("")
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    if seeds and "caltech" in names:
        lines += _seed_table(snnhw, args, seeds)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
