"""Train a learning network on a dataset with the bit-exact golden model, label its neurons and
evaluate it: the Python API behind ``snnhw train`` and ``snnhw evaluate``.

Protocol (Diehl & Cook): the network learns without labels on ``samples`` training images,
shown in a seeded shuffled order (a new permutation per pass). Then, frozen, it is shown
``label_samples`` training images; each neuron is assigned the class for which its mean spike
count is highest. A test image is classified as the class whose assigned neurons have the
highest mean spike count (ties: the lower class).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, load_config
from .datasets import CALTECH, check_input_size, load_dataset, sample_order
from .errors import InputError
from .export import make_dir
from .families import require, resolve_layer
from .golden.networks.diehl_cook import LearningState
from .golden.networks.diehl_cook_fast import run_samples_fast
from .ir import LayerIR, dump_resolved
from .modelfile import load_model, read_report, save_model
from .readout import N_CLASSES, assign_labels, predict

__all__ = ["assign_labels", "predict", "train", "evaluate", "TrainResult", "N_CLASSES",
           "baseline_memory_bits", "train_cli", "evaluate_cli"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], Callable[[int], None]]


def baseline_memory_bits(layer: LayerIR) -> int:
    """Memory of the float32 Diehl & Cook network with the same number of excitatory neurons:
    input weights (n_in * N), excitatory-to-inhibitory (N, one to one), inhibitory-to-excitatory
    (N * (N - 1)) and the adaptive thresholds (N)."""
    n = layer.n_out
    return 32 * (layer.n_in * n + n + n * (n - 1) + n)


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    report: dict[str, Any]


def train(config_path: str | Path, *, dataset: str = "mnist", samples: int = 60000,
          out_dir: str | Path, data_dir: str | Path | None = None, seed: int = 0,
          label_samples: int = 10000, test_samples: int = 10000, curve_points: int = 20,
          float_reference: bool = True, progress: Progress | None = None) -> TrainResult:
    """Train, label and evaluate; write weights, plots and ``report.json`` into ``out_dir``.

    Parameters
    ----------
    samples : int
        Training images shown while learning (several passes if above the training set).
    seed : int
        Seed of the shuffled training order.
    label_samples, test_samples : int
        Training images used to label the neurons; test images evaluated.
    float_reference : bool
        Also run the same training with exact (float) arithmetic and report its accuracy as
        ``float_accuracy``, to measure the loss due to the hardware's integer formats.
    curve_points : int
        Points of the learning curve: after each block of ``samples / curve_points`` images,
        the block is classified with labels assigned from the previous block's responses.
    progress : callable, optional
        ``progress(stage, total)`` returns a function called with the samples just finished.
    """
    config = load_config(config_path)
    layer = resolve_layer(config)
    if samples < 1 or label_samples < 1 or test_samples < 1:
        raise InputError("samples, label samples and test samples must be at least 1")
    train_set = load_dataset(dataset, "train", data_dir)
    test_set = load_dataset(dataset, "test", data_dir)
    require(layer, "train")
    check_input_size(layer.n_in, train_set)
    out = make_dir(out_dir)
    bar = progress or (lambda stage, total: (lambda n: None))

    state = LearningState.initial(layer)
    order = sample_order(len(train_set), samples, seed)
    label_idx = sample_order(len(train_set), label_samples, seed + 1)
    fit = _fit(layer, state, order, train_set, curve_points, bar("training", samples))
    curve, tries_total, cycles, train_seconds, connectivity = fit
    assignments = _label(layer, state, label_idx, train_set, bar("labelling", label_samples))
    save_model(out, state, assignments)
    shutil.copyfile(config_path, out / "config.toml")
    dump_resolved(config, layer, out / "resolved_config.json")
    report = _evaluate(layer, state, assignments, test_set, test_samples, bar("testing",
                                                                               test_samples))
    if float_reference:
        # The same run, seeds and order, with exact arithmetic instead of the hardware's.
        fstate = LearningState.initial(layer)
        fstate = LearningState(fstate.weights.astype(np.float64),
                               fstate.theta.astype(np.float64), fstate.gens, fstate.alive)
        _fit(layer, fstate, order, train_set, curve_points, bar("float reference", samples))
        fassign = _label(layer, fstate, label_idx, train_set, bar("float labelling",
                                                                   label_samples))
        fl = _evaluate(layer, fstate, fassign, test_set, test_samples, bar("float testing",
                                                                            test_samples))
        report["float_accuracy"] = fl["accuracy"]
        report["quantization_loss"] = round(fl["accuracy"] - report["accuracy"], 4)
    if layer.pruning is not None:
        # The same run, seeds and order, with every connection kept.
        full = replace(layer, pruning=None)
        ustate = LearningState.initial(full)
        ufit = _fit(full, ustate, order, train_set, curve_points, bar("unpruned", samples))
        uassign = _label(full, ustate, label_idx, train_set, bar("unpruned labelling",
                                                                  label_samples))
        un = _evaluate(full, ustate, uassign, test_set, test_samples, bar("unpruned testing",
                                                                          test_samples))
        report.update({
            "connectivity": round(float(state.alive.mean()), 4),
            "prune_threshold": state.prune_threshold,
            "accuracy_unpruned": un["accuracy"],
            "pruning_loss": round(un["accuracy"] - report["accuracy"], 4),
            "cycles_per_sample_learning_unpruned": round(ufit[2][0] / samples, 1),
            "cycles_per_sample_inference_unpruned": un["cycles_per_sample_inference"],
        })
        report["speedup_learning"] = round(report["cycles_per_sample_learning_unpruned"] /
                                           (cycles[0] / samples), 3)
        report["speedup_inference"] = round(un["cycles_per_sample_inference"] /
                                            report["cycles_per_sample_inference"], 3)
        report["connectivity_curve"] = [{"samples": n, "connectivity": round(c, 4)}
                                        for n, c in connectivity]
    report.update({
        "dataset": dataset,
        "samples_trained": samples,
        "passes": round(samples / len(train_set), 3),
        "presentations_per_sample": round(tries_total / samples, 3),
        "label_samples": label_samples,
        "seed": seed,
        "neurons": layer.n_out,
        "weight_bits": layer.weight_bits,
        "weight_memory_bits": layer.n_in * layer.n_out * layer.weight_bits,
        "baseline_memory_bits": baseline_memory_bits(layer),
        "samples_per_second": round(samples / train_seconds, 1),
        "cycles_per_sample_learning": round(cycles[0] / samples, 1),
        "ideal_cycles_per_sample_learning": round(cycles[1] / samples, 1),
        "learning_curve": [{"samples": s, "accuracy": round(a, 4)} for s, a in curve],
    })
    report["memory_reduction"] = round(report["baseline_memory_bits"] /
                                       report["weight_memory_bits"], 3)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot_fields(out / "receptive_fields.png", layer, state.weights, assignments)
    _plot_curve(out / "accuracy.png", curve, report["accuracy"], samples)
    if layer.pruning is not None:
        _plot_connectivity(out / "connectivity.png", connectivity, samples,
                           layer.pruning.warmup)
    return TrainResult(out, report)


def _fit(layer: LayerIR, state: LearningState, order: np.ndarray, train_set, curve_points: int,
         tick: Callable[[int], None]
         ) -> tuple[list[tuple[int, float]], int, np.ndarray, float, list[tuple[int, float]]]:
    """Learn from ``train_set`` in ``order``. Returns the learning curve, the number of
    presentations, the learning core's busy and ideal cycles, the seconds taken, and (with
    pruning) the fraction of connections alive after each block."""
    samples = len(order)
    images = train_set.images.reshape(len(train_set), -1)
    block = max(1, samples // max(1, curve_points))
    curve: list[tuple[int, float]] = []
    prev = None
    tries_total = 0
    cycles = np.zeros(2, dtype=np.int64)  # busy, ideal
    connectivity: list[tuple[int, float]] = [] if state.alive is None else [(0, 1.0)]
    start = time.perf_counter()
    for first in range(0, samples, block):
        idx = order[first:first + block]
        counts, tries, busy, ideal = run_samples_fast(layer, state, images[idx], learn=True,
                                                      first_sample=first, progress=tick)
        tries_total += int(tries.sum())
        cycles += (int(busy.sum()), int(ideal.sum()))
        labels = train_set.labels[idx]
        if state.alive is not None:
            connectivity.append((first + len(idx), float(state.alive.mean())))
        if prev is not None:
            acc = float((predict(counts, assign_labels(*prev)) == labels).mean())
            curve.append((first + len(idx), acc))
        prev = (counts, labels)
    return curve, tries_total, cycles, time.perf_counter() - start, connectivity


def _label(layer: LayerIR, state: LearningState, idx: np.ndarray, train_set,
           tick: Callable[[int], None]) -> np.ndarray:
    images = train_set.images.reshape(len(train_set), -1)
    counts, *_ = run_samples_fast(layer, state, images[idx], learn=False, progress=tick)
    return assign_labels(counts, train_set.labels[idx])


def _evaluate(layer: LayerIR, state: LearningState, assignments: np.ndarray, test_set,
              test_samples: int, tick: Callable[[int], None]) -> dict[str, Any]:
    n = min(test_samples, len(test_set))
    images = test_set.images.reshape(len(test_set), -1)[:n]
    start = time.perf_counter()
    counts, _, busy, ideal = run_samples_fast(layer, state, images, learn=False, progress=tick)
    seconds = time.perf_counter() - start
    pred = predict(counts, assignments)
    labels = test_set.labels[:n]
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    return {
        "accuracy": round(float((pred == labels).mean()), 4),
        "test_samples": n,
        "inference_samples_per_second": round(n / seconds, 1),
        "cycles_per_sample_inference": round(float(busy.mean()), 1),
        "ideal_cycles_per_sample_inference": round(float(ideal.mean()), 1),
        "confusion": confusion.tolist(),
    }


def evaluate(model_dir: str | Path, *, data_dir: str | Path | None = None,
             test_samples: int = 10000, progress: Progress | None = None) -> dict[str, Any]:
    """Re-evaluate a model saved by :func:`train` on the test set; returns the figures and
    writes them to ``evaluation.json`` in ``model_dir``."""
    d = Path(model_dir)
    if not (d / "model.npz").is_file() or not (d / "config.toml").is_file():
        raise InputError(f"{d}: not a model folder (no model.npz and config.toml); train one "
                         "with snnhw train")
    config: Config = load_config(d / "config.toml")
    layer = resolve_layer(config)
    require(layer, "evaluate")
    state, assignments = load_model(d, layer)
    if assignments is None:
        raise InputError(f"{d}: the model has no neuron labels (assignments); label it with "
                         "snnhw run --label N")
    report = read_report(d)
    test_set = load_dataset(report.get("dataset", "mnist"), "test", data_dir)
    bar = progress or (lambda stage, total: (lambda n: None))
    result = _evaluate(layer, state, assignments, test_set, test_samples,
                       bar("testing", test_samples))
    (d / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _plot_fields(path: Path, layer: LayerIR, weights: np.ndarray,
                 assignments: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = layer.n_out
    side = int(round(np.sqrt(layer.n_in)))
    cols = int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), dpi=100)
    for k, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.set_axis_off()
        if k < n and side * side == layer.n_in:
            ax.imshow(weights[:, k].reshape(side, side), cmap="hot_r", vmin=0,
                      vmax=layer.wmax)
            ax.set_title(str(assignments[k]), fontsize=6, pad=1)
    fig.suptitle(f"{layer.name}: receptive fields (title: assigned class)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_curve(path: Path, curve: list[tuple[int, float]], final: float, samples: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if curve:
        s, a = zip(*curve, strict=True)
        ax.plot(s, a, marker=".", label="training stream (labels from the previous block)")
    ax.axhline(final, color="k", linestyle="--", label=f"test set, frozen: {final:.4f}")
    ax.set_xlabel("training samples")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, samples)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_connectivity(path: Path, connectivity: list[tuple[int, float]], samples: int,
                       warmup: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    s, c = zip(*connectivity, strict=True)
    ax.plot(s, c, marker=".")
    if 0 < warmup < samples:
        ax.axvline(warmup, color="k", linestyle=":", label=f"pruning starts ({warmup})")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("training samples")
    ax.set_ylabel("connections alive (fraction)")
    ax.set_xlim(0, samples)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def train_cli(args: Any, progress: Progress) -> int:
    """``snnhw train`` for a Diehl & Cook network: train, print the figures."""
    if args.dataset == CALTECH:
        raise InputError(f"--dataset {CALTECH}: a Diehl & Cook network learns 28 x 28 IDX "
                         "datasets (mnist, fashion-mnist); caltech-facemotor is for conv "
                         "networks (examples/ttfs)")
    if args.no_unpruned:
        raise InputError("--no-unpruned: only for conv networks")
    result = train(args.config, dataset=args.dataset,
                   samples=60000 if args.samples is None else args.samples,
                   out_dir=args.out, data_dir=args.data_dir,
                   seed=0 if args.seed is None else args.seed,
                   label_samples=10000 if args.label_samples is None else args.label_samples,
                   test_samples=10000 if args.test_samples is None else args.test_samples,
                   float_reference=not args.no_float, progress=progress)
    r = result.report
    fl = f" (float reference {r['float_accuracy']:.4f})" if "float_accuracy" in r else ""
    print(f"accuracy {r['accuracy']:.4f}{fl} on {r['test_samples']} test samples after "
          f"{r['samples_trained']} training samples ({r['samples_per_second']} samples/s); "
          f"weights {r['weight_memory_bits']} bits ({r['memory_reduction']}x less than float32 "
          f"Diehl & Cook); wrote {result.out_dir}")
    if "connectivity" in r:
        print(f"pruning: {100 * r['connectivity']:.1f} % of the connections alive, accuracy "
              f"{r['accuracy_unpruned']:.4f} unpruned; RTL cycles per sample "
              f"{r['speedup_learning']}x fewer learning, {r['speedup_inference']}x fewer "
              f"inferring")
    return 0


def evaluate_cli(args: Any, progress: Progress) -> int:
    """``snnhw evaluate`` for a Diehl & Cook model folder."""
    r = evaluate(args.model, data_dir=args.data_dir,
                 test_samples=10000 if args.test_samples is None else args.test_samples,
                 progress=progress)
    print(f"accuracy {r['accuracy']:.4f} on {r['test_samples']} test samples "
          f"({r['inference_samples_per_second']} samples/s)")
    return 0
