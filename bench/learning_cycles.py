"""Cycles per sample of the learning core on MNIST, learning and inference, against the ideal
of one weight read-modify-write per memory bank per cycle.

    python bench/learning_cycles.py [--config examples/learning/mnist_stdp_100.toml]
                                    [--samples 2000] [--data-dir DIR]

The cycles come from the cycle model of the learning core, which the RTL's busy-cycle counter
equals exactly (tests/gateware/test_learning.py, sim/test_learning.py). The network learns
``--samples`` shuffled training images, then infers as many test images.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from snnhw.config import load_config
from snnhw.datasets import load_dataset
from snnhw.families import resolve_layer
from snnhw.golden.networks.diehl_cook import LearningState
from snnhw.golden.networks.diehl_cook_fast import run_samples_fast

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "examples" / "learning" /
                                           "mnist_stdp_100.toml"))
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)

    layer = resolve_layer(load_config(args.config))
    train = load_dataset("mnist", "train", args.data_dir)
    test = load_dataset("mnist", "test", args.data_dir)
    order = np.random.default_rng(0).permutation(len(train))[:args.samples]
    state = LearningState.initial(layer)
    _, tries_l, busy_l, ideal_l = run_samples_fast(
        layer, state, train.images.reshape(len(train), -1)[order], learn=True)
    _, tries_i, busy_i, ideal_i = run_samples_fast(
        layer, state, test.images.reshape(len(test), -1)[:args.samples], learn=False)
    print(json.dumps({
        "config": os.path.relpath(args.config, ROOT),
        "neurons": layer.n_out, "lanes": layer.lanes, "timesteps": layer.encoder.timesteps,
        "samples": args.samples,
        "learning": {"cycles_per_sample": round(float(busy_l.mean()), 1),
                     "ideal_per_sample": round(float(ideal_l.mean()), 1),
                     "ratio": round(float(busy_l.sum() / ideal_l.sum()), 4),
                     "presentations_per_sample": round(float(tries_l.mean()), 3)},
        "inference": {"cycles_per_sample": round(float(busy_i.mean()), 1),
                      "ideal_per_sample": round(float(ideal_i.mean()), 1),
                      "ratio": round(float(busy_i.sum() / ideal_i.sum()), 4),
                      "presentations_per_sample": round(float(tries_i.mean()), 3)},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
