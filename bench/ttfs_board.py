"""Images per second of the TTFS conv SoC on a board, from the build's clock and the core's
cycle model (which the RTL equals), beside the golden model's images per second on this
machine.

    python bench/ttfs_board.py BUILD_DIR MODEL_DIR [BUILD_DIR MODEL_DIR ...]
                               [--learn N] [--images N] [--data-dir DIR]

For each pair, ``BUILD_DIR`` is an ``snnhw build`` output folder (its ``build_report.json``
gives the clock the SoC runs at, whether timing was met, and fmax: a build that misses timing
is rated at its fmax, the clock a rebuild asking for it would run at) and ``MODEL_DIR`` an
``snnhw train`` folder of the same config (the config hash is checked).

- Learning: every learning layer learns its first ``--learn`` images (default 100) from the
  config's initial state on the golden backend of the host runtime (``snnhw.host.conv``,
  the path ``snnhw run`` takes), which counts the core's cycles per image; a board learns
  ``clock / cycles`` images per second per layer.
- Inference: the model's state infers the first ``--images`` test images (default 200).
- The golden model's images per second time its fast path alone (the same images, without
  the cycle counting).
- The link: the bytes of the WRITE_MEMs that carry a test image's events (the mean over the
  test images; 8 bytes of frame and 6 of header each), at the build's baud rate.

Prints, ready for BENCHMARKS.md: the command, the commit, the machine and one table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's snnhw, not an installed one

from ttfs_speed import _commit  # noqa: E402
from ttfs_targets import _machine  # noqa: E402

from snnhw.config import load_config  # noqa: E402
from snnhw.conv_model import load_conv_model, load_splits  # noqa: E402
from snnhw.errors import InputError  # noqa: E402
from snnhw.families import resolve  # noqa: E402
from snnhw.golden.networks import ttfs_conv_fast as fast  # noqa: E402
from snnhw.golden.networks.ttfs_conv import ConvState  # noqa: E402
from snnhw.host.conv import ConvGoldenBackend, ConvNetwork  # noqa: E402
from snnhw.ir_conv import pack_events  # noqa: E402
from snnhw.protocol_conv import (  # noqa: E402
    CONV_MAX_PAYLOAD,
    ConvSpace,
    conv_banks,
    conv_hash,
)


def _dataset(model: Path) -> str:
    return json.loads((model / "report.json").read_text())["dataset"]


def learning(net, splits, n: int) -> list[dict]:
    """Per learning layer: cycles per image on the core, and the golden model's seconds per
    image (its fast path alone), over the layer's first ``n`` images from the initial
    state."""
    from snnhw.datasets import sample_order

    cnet = ConvNetwork(ConvGoldenBackend(net))
    state = ConvState.initial(net)  # the golden model's own copy, for the timing
    rows = []
    for s, c in enumerate(cnet.backend.stages):
        if c.stdp is None:
            continue
        log = cnet.learn_layer(s, splits.learn, count=n)
        order = sample_order(len(splits.learn), log["images"], net.seed + c.index)
        codes = [fast.encode(net, splits.learn[i]).astype(np.int64) for i in order]
        t0 = time.perf_counter()
        for code in codes:
            maps = fast.forward(net, state, code, upto=c.index)
            fast.learn_times(net, state, c.index, maps[-1])
        seconds = time.perf_counter() - t0
        rows.append({"layer": c.name, "images": log["images"],
                     "cycles": log["cycles"] / log["images"],
                     "golden_ips": log["images"] / seconds})
    return rows


def inference(net, model: Path, splits, n: int) -> dict:
    state, _ = load_conv_model(model, net)
    be = ConvGoldenBackend(net)
    be.write_state(state)
    codes = [fast.encode(net, im).astype(np.int64) for im in splits.test[:n]]
    cycles = sum(be.run(code).cycles for code in codes)
    # the events the host sends per image: list 0's items (spikes and eots), as words
    items = np.mean([len(pack_events(code, net.timesteps)) for code in codes])
    t0 = time.perf_counter()
    for code in codes:
        fast.features_of_times(net, state, code)
    seconds = time.perf_counter() - t0
    return {"images": len(codes), "cycles": cycles / len(codes),
            "golden_ips": len(codes) / seconds, "items": float(items)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pairs", nargs="+", metavar="DIR", help="BUILD_DIR MODEL_DIR, repeated")
    p.add_argument("--learn", type=int, default=100, help="images per learning layer")
    p.add_argument("--images", type=int, default=200, help="test images")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    if len(args.pairs) % 2:
        p.error("give BUILD_DIR MODEL_DIR pairs")
    print(f"command: `{' '.join(shlex.quote(a) for a in ['python', *sys.argv])}`")
    print(f"commit: {_commit()}; machine: {_machine()} ({os.cpu_count()} cores)\n")
    print("| network | board | clock (fmax) | timing | layer | images | core cycles / image "
          "| board images/s | golden model images/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    links = []
    for build_dir, model in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        build_dir, model = Path(build_dir), Path(model)
        rep = json.loads((build_dir / "build_report.json").read_text())
        net = resolve(load_config(model / "config.toml"))
        if rep["config_hash"] != f"{conv_hash(net):08x}":
            raise InputError(f"{build_dir} was built from another network than {model}")
        splits = load_splits(net, _dataset(model), args.data_dir)
        # the clock the build runs at; where it misses timing, the fmax it reaches
        clk = rep["clk_hz"] if rep["timing_met"] else rep["fmax_mhz"] * 1e6
        head = (f"| {net.name} | {rep['board']} | {clk / 1e6:.2f} MHz "
                f"({rep['fmax_mhz']:.2f}) | {'met' if rep['timing_met'] else 'not met: at fmax'} ")
        for r in learning(net, splits, args.learn):
            print(f"{head}| {r['layer']} learning | {r['images']} | {r['cycles']:,.0f} | "
                  f"{clk / r['cycles']:.1f} | {r['golden_ips']:.1f} |")
        r = inference(net, model, splits, args.images)
        print(f"{head}| inference | {r['images']} | {r['cycles']:,.0f} | "
              f"{clk / r['cycles']:.1f} | {r['golden_ips']:.1f} |")
        links.append((net, rep, r["items"]))
    for net, rep, items in links:
        # WRITE_MEM frames of the events (8 bytes of header and CRC each), 10 bits a byte
        word = conv_banks(net)[(ConvSpace.EVENTS, 0)].nbytes
        per = (CONV_MAX_PAYLOAD - 6) // word
        frames = -(-int(round(items)) // per)
        ms = 1e3 * 10 * (items * word + frames * 14) / rep["baud"]
        print(f"\n{net.name}: {items:.1f} event items per test image, {word} bytes each: "
              f"{ms:.1f} ms per image on the link at {rep['baud']} baud "
              f"({1e3 / ms:.1f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
