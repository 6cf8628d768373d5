"""``snnhw run`` for ``ttfs_conv`` networks: learn layer by layer, fit the SVM readout and
classify test images on any backend (golden model, the conv SoC in Verilator, a board).

The run starts from ``--model`` (a folder of ``snnhw train`` or ``snnhw run``) or from the
config's initial state, which the host writes into the SoC first, so that a run never depends
on what the board did before. Each learning layer learns ``--learn`` images (the first
``N`` of ``snnhw train``'s seeded order, stopping early once converged), then the readout's
features of ``--label`` training images fit the SVM (kept from the model when nothing was
learned and no ``--label`` is given), and ``--infer`` test images are classified (a seeded
choice of each split when it is larger: the splits are sorted by class).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..config import load_config
from ..conv_model import (
    fit_svm,
    load_conv_model,
    load_splits,
    predict_svm,
    save_conv_model,
)
from ..errors import InputError, ToolError
from ..families import require_network, resolve
from ..golden.networks.ttfs_conv import ConvState
from ..ir_conv import ConvNetworkIR, resolved_dict
from ..outdir import atomic_dir
from ..protocol import ProtocolError
from .conv import ConvNetwork, open_conv_backend

__all__ = ["run_conv", "run_cli", "DEFAULT_LABEL"]

Progress = Callable[[str, int], Callable[[int], None]]
DEFAULT_LABEL = 1000  #: SVM training images when the readout must be fitted


def run_conv(config_path: str | Path, *, backend: str = "golden", port: str | None = None,
             baud: int | None = None, dataset: str = "mnist",
             data_dir: str | Path | None = None, learn: int = 0, label: int | None = None,
             infer: int = 1000, model: str | Path | None = None,
             out_dir: str | Path | None = None, rtl_dir: str | Path | None = None,
             progress: Progress | None = None, **options: Any) -> tuple[Path, dict[str, Any]]:
    """Learn, fit the readout and classify on a backend; write ``model.npz``, ``config.toml``,
    ``resolved_config.json`` and ``report.json`` into ``out_dir`` (all at once). Returns the
    folder and the report. ``rtl_dir``: where the rtl backend builds and simulates (default
    ``build/rtl/<name>``); ``options`` go to the backend."""
    config = load_config(config_path)
    net = resolve(config)
    require_network(net, "run")
    assert isinstance(net, ConvNetworkIR)
    if learn < 0 or infer < 0 or (label is not None and label < 0):
        raise InputError("--learn, --label and --infer take counts of 0 or more")
    state, svm = (load_conv_model(Path(model), net) if model is not None
                  else (ConvState.initial(net), None))
    if label is None:
        label = DEFAULT_LABEL if learn or svm is None else 0
    if infer and not label and svm is None:
        raise InputError("the readout has no SVM to classify with: fit one (--label N) or "
                         "load a model (--model)")
    splits = load_splits(net, dataset, data_dir)
    bar = progress or (lambda stage, total: (lambda n: None))
    out_dir = Path(out_dir or Path("build") / "run" / net.name)
    report: dict[str, Any] = {"backend": backend, "dataset": dataset, "network": net.name,
                              "model": None if model is None else str(model)}
    with atomic_dir(out_dir) as out:
        if backend == "rtl" and rtl_dir is not None:
            options["out_dir"] = rtl_dir
        with ConvNetwork(open_conv_backend(net, backend, port=port, baud=baud,
                                           **options)) as cnet:
            be = cnet.backend
            info = getattr(be, "info", None)
            if info is not None:
                report["info"] = {"clk_hz": info.clk_hz, "baud": info.baud,
                                  "lanes": info.lanes}
            try:
                be.write_state(state)
            except ValueError as e:  # a model folder that does not suit the config
                raise InputError(f"{model}: {e}") from None
            if learn:
                report["learning"] = {}
                for s, c in enumerate(be.stages):
                    if c.stdp is None:
                        continue
                    t0 = time.perf_counter()
                    log = cnet.learn_layer(s, splits.learn, count=learn,
                                           progress=bar(f"{c.name} STDP", learn))
                    report["learning"][c.name] = _figures(log, time.perf_counter() - t0)
            if label:
                idx = _subset(len(splits.fit), label, net.seed)
                n = len(idx)
                if len(np.unique(splits.fit_labels[idx])) < 2:
                    raise InputError(f"--label {label}: those readout images hold one class; "
                                     "the SVM needs two or more")
                t0 = time.perf_counter()
                feats, cycles = cnet.features(splits.fit[idx],
                                              progress=bar("readout features", n))
                svm = fit_svm(feats, splits.fit_labels[idx], net.svm_c)
                report["labelling"] = _figures({"images": n, "cycles": cycles},
                                               time.perf_counter() - t0)
            if infer:
                idx = _subset(len(splits.test), infer, net.seed)
                n = len(idx)
                t0 = time.perf_counter()
                feats, cycles = cnet.features(splits.test[idx], progress=bar("inference", n))
                figures = _figures({"images": n, "cycles": cycles}, time.perf_counter() - t0)
                assert svm is not None
                figures["accuracy"] = round(float(np.mean(
                    predict_svm(svm, feats) == splits.test_labels[idx])), 4)
                report["inference"] = figures
                report["accuracy"] = figures["accuracy"]
            state = be.read_state()
        report["connectivity"] = {c.name: round(state.connectivity(c.index), 5)
                                  for c in net.conv_layers}
        if svm is not None:
            save_conv_model(out, net, state, svm)
        (out / "config.toml").write_text(Path(config_path).read_text())
        (out / "resolved_config.json").write_text(json.dumps(resolved_dict(net), indent=2)
                                                  + "\n")
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return out_dir, report


def _subset(total: int, n: int, seed: int) -> np.ndarray:
    """``n`` of ``total`` images (all when ``n >= total``) in a seeded choice, in order: the
    splits are sorted by class."""
    from ..datasets import sample_order

    if n >= total:
        return np.arange(total)
    return np.sort(sample_order(total, n, seed))


def _figures(log: dict[str, Any], seconds: float) -> dict[str, Any]:
    n = log["images"]
    return {**log, "seconds": round(seconds, 3),
            "images_per_second": round(n / seconds, 2) if seconds and n else None,
            "cycles_per_image": round(log["cycles"] / n, 1) if n else None}


def run_cli(args: Any, progress: Progress) -> int:
    """``snnhw run`` for a conv network: run, print the figures."""
    if args.seed is not None:
        raise InputError("--seed: a conv network's image order comes from network.seed in its "
                         "config (the bitstream's generators too)")
    try:
        out, r = run_conv(args.config, backend=args.backend, port=args.port, baud=args.baud,
                          dataset=args.dataset, data_dir=args.data_dir, learn=args.learn,
                          label=args.label, infer=args.infer, model=args.model,
                          out_dir=args.out, progress=progress)
    except ProtocolError as e:  # a broken link, not a bug of ours
        raise ToolError(f"host link: {e}") from None
    parts = [f"{name} learned {f['images']} images ({f['images_per_second']} images/s, "
             f"{f['cycles_per_image']} cycles each)"
             for name, f in r.get("learning", {}).items()]
    if "labelling" in r:
        parts.append(f"readout fitted on {r['labelling']['images']} images")
    print(f"{args.backend}: " + ("; ".join(parts) or "nothing learned"))
    if "accuracy" in r:
        f = r["inference"]
        print(f"accuracy {r['accuracy']:.4f} on {f['images']} test images "
              f"({f['images_per_second']} images/s, {f['cycles_per_image']} cycles each); "
              f"wrote {out}")
    else:
        print(f"wrote {out}")
    return 0
