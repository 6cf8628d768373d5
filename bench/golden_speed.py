"""Samples per second of the golden model's fast path, training and inference, on MNIST.

    python bench/golden_speed.py [--config examples/learning/mnist_stdp_100.toml]
                                 [--samples 5000] [--data-dir DIR]

Training runs ``--samples`` shuffled training images with learning on; inference runs the same
number of test images with learning off. The numba compile happens in a warm-up run first and
is not timed. Single process (training is sequential by nature).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
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
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)

    layer = resolve_layer(load_config(args.config))
    train = load_dataset("mnist", "train", args.data_dir)
    test = load_dataset("mnist", "test", args.data_dir)
    x_train = train.images.reshape(len(train), -1)[np.random.default_rng(0).permutation(
        len(train))[:args.samples]]
    x_test = test.images.reshape(len(test), -1)[:args.samples]
    state = LearningState.initial(layer)
    run_samples_fast(layer, state.copy(), x_train[:20], learn=True)  # compile
    run_samples_fast(layer, state.copy(), x_test[:20], learn=False)

    t = time.perf_counter()
    run_samples_fast(layer, state, x_train, learn=True)
    train_rate = args.samples / (time.perf_counter() - t)
    t = time.perf_counter()
    run_samples_fast(layer, state, x_test, learn=False)
    infer_rate = len(x_test) / (time.perf_counter() - t)
    print(json.dumps({
        "config": os.path.relpath(args.config, ROOT),
        "neurons": layer.n_out, "timesteps": layer.encoder.timesteps,
        "samples": args.samples,
        "training_samples_per_second": round(train_rate, 1),
        "inference_samples_per_second": round(infer_rate, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"CPython {platform.python_version()}",
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
