"""Train a TTFS conv network with the bit-exact golden model, fit its SVM readout and evaluate
it: ``snnhw train`` and ``snnhw evaluate`` for the ``ttfs_conv`` family.

Protocol (Kheradpisheh et al. 2018): the conv layers learn one after the other, without
labels, each from ``stdp.images`` images of the learning split in a seeded shuffled order
(seed ``network.seed + layer index``), stopping early when the layer's convergence
``C = mean(w (1 - w))`` falls below ``stdp.convergence``. Then, frozen, the network turns the
readout's training images into features, a linear SVM is fitted on them (each feature divided
by its largest training value), and the test split is classified.

Splits: caltech-facemotor learns on LearningSet, fits the SVM on TrainingSet and tests on
TestingSet; mnist and fashion-mnist learn on and fit with the training set (the SVM on the
first ``readout.svm_images`` of a seeded order, all when 0) and test on the test set.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .config import load_config
from .conv_model import (
    Splits,
    fit_svm,
    load_conv_model,
    load_splits,
    predict_svm,
    save_conv_model,
)
from .datasets import sample_order
from .errors import InputError
from .families import require_network, resolve
from .golden.blocks.mstdp import convergence
from .golden.networks import ttfs_conv_fast as fast
from .golden.networks import ttfs_conv_float as floatref
from .golden.networks.ttfs_conv import ConvState
from .golden.networks.ttfs_conv_cycles import run_cycles
from .ir_conv import ConvLayerIR, ConvNetworkIR, resolved_dict
from .modelfile import REPORT_FILE, read_report
from .outdir import atomic_dir

__all__ = ["train_conv", "evaluate_conv", "train_cli", "evaluate_cli", "Splits", "load_splits",
           "CURVE_POINTS", "fit_svm", "predict_svm", "save_conv_model", "load_conv_model"]

Progress = Callable[[str, int], Callable[[int], None]]
CURVE_POINTS = 50  #: convergence and connectivity points recorded per layer


def _encode_all(engine: ModuleType, net: ConvNetworkIR, images: np.ndarray,
                tick: Callable[[int], None]) -> np.ndarray:
    out = np.empty((len(images), *net.encoder.out_shape), dtype=np.uint8)
    for n, image in enumerate(images):
        out[n] = engine.encode(net, image)
        tick(1)
    return out


@dataclass
class LayerLog:
    """What training one layer recorded."""

    images: int = 0
    seconds: float = 0.0
    curve: list[dict[str, float]] | None = None
    cycles: int = 0


def _learn_layer(engine: ModuleType, net: ConvNetworkIR, state: ConvState, layer: ConvLayerIR,
                 codes: np.ndarray, tick: Callable[[int], None], count_cycles: bool) -> LayerLog:
    """Train conv layer ``layer`` until its image budget or convergence."""
    order = sample_order(len(codes), layer.stdp.images, net.seed + layer.index)
    every = max(1, layer.stdp.images // CURVE_POINTS)
    log = LayerLog(curve=[])
    t0 = time.perf_counter()
    for n, idx in enumerate(order, start=1):
        maps = engine.forward(net, state, codes[idx].astype(np.int64), upto=layer.index)
        # the kernels as the image found them, for the cycle model
        alive = {**state.alive, layer.index: state.alive[layer.index].copy()}
        weights = {**state.weights, layer.index: state.weights[layer.index].copy()}
        winners, out = engine.learn_times(net, state, layer.index, maps[-1])
        if count_cycles:  # not part of the model's learning time
            t_model = time.perf_counter()
            log.cycles += run_cycles(net, weights, alive, maps, learn=layer.index,
                                     learn_out=out, winners=winners).cycles
            t0 += time.perf_counter() - t_model
        w = state.weights[layer.index]
        c_now = (convergence(w, layer.weight_bits) if engine is fast else
                 float(np.mean(w * (1 - w))))
        done = c_now < layer.stdp.convergence
        if n % every == 0 or n == len(order) or done:
            log.curve.append({"images": n, "convergence": round(c_now, 5),
                              "connectivity": round(state.connectivity(layer.index), 5)})
        tick(1)
        log.images = n
        if done:
            break
    log.seconds = time.perf_counter() - t0
    return log


def _features(engine: ModuleType, net: ConvNetworkIR, state: ConvState, codes: np.ndarray,
              tick: Callable[[int], None], count_cycles: bool) -> tuple[np.ndarray, int, float]:
    """Features of every code, total inference cycles, seconds (of the model; counting the
    cycles is not timed)."""
    feats = np.zeros((len(codes), net.feature_count), dtype=np.float64)
    cycles = 0
    seconds = 0.0
    for n, code in enumerate(codes):
        t0 = time.perf_counter()
        f, maps = engine.features_of_times(net, state, code.astype(np.int64))
        seconds += time.perf_counter() - t0
        feats[n] = f
        if count_cycles:
            cycles += run_cycles(net, state.weights, state.alive, maps).cycles
        tick(1)
    return feats, cycles, seconds


@dataclass
class Run:
    """One training of the network: its state, logs, readout and figures."""

    state: ConvState
    layers: dict[int, LayerLog]
    svm: dict[str, np.ndarray]
    accuracy: float
    cycles_inference: float
    features_seconds: float
    encode_seconds: float
    sample_maps: list[np.ndarray]


def _run(engine: ModuleType, net: ConvNetworkIR, splits: Splits, bar: Progress, tag: str,
         count_cycles: bool, codes: dict[str, np.ndarray] | None = None) -> Run:
    state = (ConvState.initial(net) if engine is fast else floatref.initial_float_state(net))
    t0 = time.perf_counter()
    if codes is None:
        codes = {name: _encode_all(engine, net, getattr(splits, name),
                                   bar(f"{tag}encoding {name}", len(getattr(splits, name))))
                 for name in ("learn", "fit", "test")}
    enc_s = (time.perf_counter() - t0) / sum(len(v) for v in codes.values())
    logs = {}
    for layer in net.conv_layers:
        if layer.stdp is not None:
            logs[layer.index] = _learn_layer(engine, net, state, layer, codes["learn"],
                                             bar(f"{tag}{layer.name} STDP", layer.stdp.images),
                                             count_cycles)
    fit_f, _, _ = _features(engine, net, state, codes["fit"],
                            bar(f"{tag}readout features", len(codes["fit"])), False)
    svm = fit_svm(fit_f, splits.fit_labels, net.svm_c)
    test_f, cycles, secs = _features(engine, net, state, codes["test"],
                                     bar(f"{tag}test features", len(codes["test"])),
                                     count_cycles)
    accuracy = float(np.mean(predict_svm(svm, test_f) == splits.test_labels))
    sample = engine.forward(net, state, codes["test"][0].astype(np.int64))
    return Run(state, logs, svm, accuracy, cycles / len(codes["test"]),
               secs / len(codes["test"]), enc_s, sample)


def _unpruned(net: ConvNetworkIR) -> ConvNetworkIR:
    layers = tuple(replace(x, prune_threshold=None) if isinstance(x, ConvLayerIR) else x
                   for x in net.layers)
    return replace(net, layers=layers)


def train_conv(config_path: str | Path, *, dataset: str, out_dir: str | Path,
               data_dir: str | Path | None = None, float_reference: bool = True,
               unpruned_reference: bool = True, seed: int | None = None,
               progress: Progress | None = None) -> tuple[Path, dict[str, Any]]:
    """Train, fit the readout, evaluate; write ``model.npz``, ``report.json`` and the plots
    into ``out_dir`` (all at once: a failed or interrupted run leaves it as it was).

    With ``float_reference`` the same network is trained again in float arithmetic
    (``float_accuracy``); with pruning and ``unpruned_reference`` again with every tap kept
    (``accuracy_unpruned`` and the cycle speed-ups). ``seed`` replaces ``network.seed``."""
    from .plots_conv import write_plots

    config = load_config(config_path)
    if seed is not None:
        if not 0 <= seed < 2**32:
            raise InputError(f"--seed {seed}: must be 0 to 2**32 - 1 (network.seed)")
        config = replace(config, network=replace(config.network, seed=seed))
    net = resolve(config)
    require_network(net, "train")
    splits = load_splits(net, dataset, data_dir)
    bar = progress or (lambda stage, total: (lambda n: None))
    with atomic_dir(out_dir) as out:
        codes = {name: _encode_all(fast, net, getattr(splits, name),
                                   bar(f"encoding {name}", len(getattr(splits, name))))
                 for name in ("learn", "fit", "test")}
        run = _run(fast, net, splits, bar, "", True, codes)
        report = _report(net, run, dataset, splits)
        report["seed"] = net.seed
        report["encode_ms_per_image"] = round(1e3 * _time_encoding(net, splits.test[:200]), 4)
        if float_reference:
            fl = _run(floatref, net, splits, bar, "float: ", False)
            report["float_accuracy"] = round(fl.accuracy, 4)
            report["quantization_loss"] = round(fl.accuracy - run.accuracy, 4)
        pruned = any(c.prune_threshold is not None for c in net.conv_layers)
        unpruned = None
        if pruned and unpruned_reference:
            unpruned = _run(fast, _unpruned(net), splits, bar, "unpruned: ", True, codes)
            report["accuracy_unpruned"] = round(unpruned.accuracy, 4)
            report["pruning_loss"] = round(unpruned.accuracy - run.accuracy, 4)
            report["cycles_per_image_learning_unpruned"] = _learning_cycles(unpruned)
            report["cycles_per_image_inference_unpruned"] = round(unpruned.cycles_inference, 1)
            report["speedup_learning"] = round(
                report["cycles_per_image_learning_unpruned"] /
                max(report["cycles_per_image_learning"], 1), 3)
            report["speedup_inference"] = round(unpruned.cycles_inference /
                                                run.cycles_inference, 3)
            report["cycles_learning_total_unpruned"] = _total_learning_cycles(unpruned)
            report["speedup_learning_total"] = round(
                report["cycles_learning_total_unpruned"] / max(report["cycles_learning_total"], 1),
                3)
        save_conv_model(out, net, run.state, run.svm)
        _write_config(Path(config_path), out / "config.toml", net.seed)
        (out / "resolved_config.json").write_text(json.dumps(resolved_dict(net), indent=2)
                                                  + "\n")
        (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        write_plots(out, net, run, unpruned)
    return Path(out_dir), report


def _write_config(src: Path, dst: Path, seed: int) -> None:
    """Copy the config, with ``network.seed`` set to the seed the run used (so that training
    from the model folder's config reproduces the run)."""
    text = src.read_text(encoding="utf-8")
    if load_config(src).network.seed != seed:
        head = re.search(r"^\[network\][ \t]*$", text, flags=re.M)
        if head is None:
            text = f"[network]\nseed = {seed}\n\n{text}"
        else:
            end = re.search(r"^\s*\[", text[head.end():], flags=re.M)
            body_end = head.end() + (end.start() if end else len(text) - head.end())
            body = text[head.end():body_end]
            new, n = re.subn(r"^seed\s*=.*$", f"seed = {seed}", body, count=1, flags=re.M)
            if not n:
                new = f"\nseed = {seed}" + body
            text = text[:head.end()] + new + text[body_end:]
    dst.write_text(text, encoding="utf-8")


def _time_encoding(net: ConvNetworkIR, images: np.ndarray) -> float:
    t0 = time.perf_counter()
    for image in images:
        fast.encode(net, image)
    return (time.perf_counter() - t0) / max(1, len(images))


def _total_learning_cycles(run: Run) -> int:
    """Learning cycles of the whole training: every layer, every image it learned from."""
    return int(sum(x.cycles for x in run.layers.values()))


def _learning_cycles(run: Run) -> float:
    """Learning cycles per image: each layer's mean over its training images, summed."""
    return round(sum(x.cycles / max(1, x.images) for x in run.layers.values()), 1)


def _report(net: ConvNetworkIR, run: Run, dataset: str, splits: Splits) -> dict[str, Any]:
    layers = []
    for c in net.conv_layers:
        log = run.layers.get(c.index, LayerLog())
        layers.append({
            "name": c.name, "maps": c.maps, "kernel": c.kernel, "taps": c.taps,
            "connectivity": round(run.state.connectivity(c.index), 5),
            "images_trained": log.images,
            "stdp_ms_per_image": round(1e3 * log.seconds / max(1, log.images), 4),
            "learning_cycles_per_image": round(log.cycles / max(1, log.images), 1),
            "convergence_curve": log.curve or [],
        })
    taps = sum(c.taps for c in net.conv_layers)
    alive = sum(int(run.state.alive[c.index].sum()) for c in net.conv_layers)
    return {
        "network": net.name,
        "dataset": dataset,
        "accuracy": round(run.accuracy, 4),
        "test_images": len(splits.test),
        "readout_images": len(splits.fit),
        "features": net.features,
        "feature_count": net.feature_count,
        "connectivity": round(alive / taps, 5),
        "layers": layers,
        "lanes": net.lanes,
        "cycles_per_image_learning": _learning_cycles(run),
        "cycles_learning_total": _total_learning_cycles(run),
        "cycles_per_image_inference": round(run.cycles_inference, 1),
        "features_ms_per_image": round(1e3 * run.features_seconds, 4),
        "images_per_second_inference": round(1 / max(run.features_seconds, 1e-9), 1),
        "weight_memory_bits": sum(c.taps * c.weight_bits for c in net.conv_layers),
        "alive_memory_bits": taps,
    }


def evaluate_conv(model_dir: str | Path, *, data_dir: str | Path | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Re-evaluate a model folder written by :func:`train_conv` on its test split; writes
    ``evaluation.json``."""
    d = Path(model_dir)
    net = resolve(load_config(d / "config.toml"))
    require_network(net, "evaluate")
    state, svm = load_conv_model(d, net)
    dataset = read_report(d).get("dataset")
    if not isinstance(dataset, str):
        raise InputError(f"{d / REPORT_FILE}: names no dataset")
    splits = load_splits(net, dataset, data_dir)
    bar = progress or (lambda stage, total: (lambda n: None))
    codes = _encode_all(fast, net, splits.test, bar("encoding test", len(splits.test)))
    feats, cycles, secs = _features(fast, net, state, codes, bar("test features", len(codes)),
                                    True)
    result = {
        "accuracy": round(float(np.mean(predict_svm(svm, feats) == splits.test_labels)), 4),
        "test_images": len(codes),
        "cycles_per_image_inference": round(cycles / len(codes), 1),
        "images_per_second_inference": round(len(codes) / max(secs, 1e-9), 1),
    }
    tmp = d / f".evaluation.json.partial-{os.getpid()}"
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(d / "evaluation.json")  # all at once: never a half-written file
    return result


_DC_ONLY = {"samples": "--samples", "label_samples": "--label-samples",
            "test_samples": "--test-samples"}
_DC_WHY = {"samples": "the training budget of a conv network is stdp.images per layer in its "
                      "config",
           "label_samples": "a conv network's readout is an SVM (readout.svm_images)",
           "test_samples": "a conv network is tested on the whole test split"}


def train_cli(args: Any, progress: Progress) -> int:
    """``snnhw train`` for a conv network: train, print the figures."""
    bad = [f"{_DC_ONLY[k]}: {_DC_WHY[k]}" for k in _DC_ONLY if getattr(args, k) is not None]
    if bad:
        raise InputError(bad[0])
    out, r = train_conv(args.config, dataset=args.dataset, out_dir=args.out,
                        data_dir=args.data_dir, float_reference=not args.no_float,
                        unpruned_reference=not args.no_unpruned, seed=args.seed,
                        progress=progress)
    fl = f" (float reference {r['float_accuracy']:.4f})" if "float_accuracy" in r else ""
    print(f"accuracy {r['accuracy']:.4f}{fl} on {r['test_images']} test images; "
          f"{100 * r['connectivity']:.2f} % of the taps alive; "
          f"{r['images_per_second_inference']} images/s to features; wrote {out}")
    if "speedup_learning" in r:
        print(f"pruning: accuracy {r['accuracy_unpruned']:.4f} unpruned; engine cycles per "
              f"image {r['speedup_learning']}x fewer learning, {r['speedup_inference']}x fewer "
              "inferring")
    return 0


def evaluate_cli(args: Any, progress: Progress) -> int:
    """``snnhw evaluate`` for a conv model folder."""
    if args.test_samples is not None:
        raise InputError(f"--test-samples: {_DC_WHY['test_samples']}")
    r = evaluate_conv(args.model, data_dir=args.data_dir, progress=progress)
    print(f"accuracy {r['accuracy']:.4f} on {r['test_images']} test images "
          f"({r['images_per_second_inference']} images/s)")
    return 0
