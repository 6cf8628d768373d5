"""Learn, label and infer a dataset on any backend: the Python API behind ``snnhw run``."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import load_config
from ..datasets import check_input_size, load_dataset, sample_order
from ..errors import InputError
from ..export import make_dir
from ..families import require, resolve_layer
from ..ir import dump_resolved
from . import Network, Responses, open_backend

__all__ = ["RunResult", "run"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    report: dict[str, Any]


def run(config_path: str | Path, *, backend: str = "serial", port: str | None = None,
        baud: int | None = None, dataset: str = "mnist", data_dir: str | Path | None = None,
        learn: int = 0, label: int | None = None, infer: int = 1000,
        model: str | Path | None = None, seed: int = 0, out_dir: str | Path | None = None,
        progress: Progress | None = None, **options: Any) -> RunResult:
    """Load a model (or the config's initial weights), learn, label and infer dataset samples
    on a backend, and write the result into ``out_dir``.

    Parameters
    ----------
    backend : {"golden", "rtl", "serial"}
        Where the network runs; ``port`` and ``baud`` reach the serial port (``baud`` also
        sets the simulated SoC's nominal rate). ``options`` go to the backend.
    learn : int
        Training samples learned, in the shuffled order of ``snnhw train`` with ``seed``.
    label : int, optional
        Training samples (``snnhw train``'s labelling order) shown without learning to label
        the neurons. Default: 1000 when the network has no labels yet or has just learned,
        else 0 (keep the model's labels).
    infer : int
        Test samples classified (the first ones), for the accuracy.
    model : path, optional
        A model folder from ``snnhw train`` or ``snnhw run``.

    The folder gets ``model.npz`` (the state read back from the backend, and the labels),
    ``config.toml``, ``resolved_config.json`` and ``report.json``; with the rtl backend also
    ``rtl/`` (the SoC's Verilog, the Verilator build, ``sim.log``).
    """
    config = load_config(config_path)
    layer = resolve_layer(config)
    require(layer, "run", str(config_path))
    if learn < 0 or infer < 0 or (label is not None and label < 0):
        raise InputError("--learn, --label and --infer take counts of 0 or more")
    if dataset not in ("mnist", "fashion-mnist"):
        raise InputError(f"--dataset {dataset}: a {layer.name} network takes mnist or "
                         "fashion-mnist")
    bar = progress or (lambda stage, total: (lambda n: None))
    need_train = learn > 0 or label != 0
    train_set = load_dataset(dataset, "train", data_dir) if need_train else None
    test_set = load_dataset(dataset, "test", data_dir) if infer else None
    for d in (train_set, test_set):
        if d is not None:
            require(layer, "train")
            check_input_size(layer.n_in, d)
    out = make_dir(out_dir or Path("build") / "run" / layer.name)

    if backend == "rtl":
        options.setdefault("out_dir", out / "rtl")  # Verilog, simulator build and logs
    report: dict[str, Any] = {"backend": backend, "dataset": dataset}
    with Network(open_backend(layer, backend, port=port, baud=baud, **options)) as net:
        info = net.backend.info()
        report["info"] = {"clk_hz": info.clk_hz, "baud": info.baud,
                          "spike_buffer": info.spike_buffer, "lanes": info.lanes}
        if model is not None:
            net.load_model(model)
        report["model"] = None if model is None else str(model)
        if learn:
            images = train_set.images.reshape(len(train_set), -1)
            order = sample_order(len(train_set), learn, seed)
            report["learning"] = _stage(net, "learning", lambda tick: net.learn(
                images[order], progress=tick), learn, bar)
        if label is None:
            label = 1000 if learn or net.assignments is None else 0
        if label:
            images = train_set.images.reshape(len(train_set), -1)
            idx = sample_order(len(train_set), label, seed + 1)
            report["labelling"] = _stage(net, "labelling", lambda tick: net.label(
                images[idx], train_set.labels[idx], progress=tick), label, bar)
        if infer:
            if net.assignments is None:
                raise InputError("the neurons have no labels to classify with: label them "
                                 "(--label N) or load a labelled model (--model)")
            n = min(infer, len(test_set))
            images = test_set.images.reshape(len(test_set), -1)[:n]
            report["inference"] = _stage(net, "inference", lambda tick: net.infer(
                images, progress=tick), n, bar, truth=test_set.labels[:n])
            report["accuracy"] = report["inference"]["accuracy"]
        net.save_model(out)
        report["samples_learned"] = net.samples_learned
    if not (out / "config.toml").is_file() or not (out / "config.toml").samefile(config_path):
        shutil.copyfile(config_path, out / "config.toml")
    dump_resolved(config, layer, out / "resolved_config.json")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return RunResult(out, report)


def _stage(net: Network, name: str, body: Callable[[Callable[[int], None]], Responses],
           samples: int, bar: Progress, *, truth: np.ndarray | None = None
           ) -> dict[str, Any]:
    """Run one stage with cleared counters; its figures for the report. ``truth``: score the
    predictions."""
    log.info("%s: %d samples", name, samples)
    net.backend.clear_counters()
    start = time.perf_counter()
    r = body(bar(name, samples))
    seconds = time.perf_counter() - start
    n = len(r.counts)
    figures: dict[str, Any] = {
        "samples": n,
        "seconds": round(seconds, 3),
        "samples_per_second": round(n / seconds, 2) if seconds else None,
        "presentations_per_sample": round(float(r.presentations.mean()), 3) if n else 0.0,
        "spikes_per_sample": round(float(r.spikes.mean()), 3) if n else 0.0,
        "counters": net.backend.counters().to_dict(),
    }
    if truth is not None:
        figures["accuracy"] = round(float((r.predictions == truth).mean()), 4) if n else 0.0
    return figures
