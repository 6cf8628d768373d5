"""Model folders' ``model.npz``: the one place that writes and reads it, with its defaults.

A model is the learning network's state between samples (weights, thresholds, generator states,
with pruning the alive bitmap and the prune threshold) and the neurons' labels. ``snnhw train``,
``snnhw evaluate``, ``snnhw run`` and :class:`snnhw.host.Network` all go through here.

Fields: ``version`` (this format, :data:`VERSION`), ``weights`` ``(n_in, n_out)``, ``theta``
``(n_out,)``, ``generators`` ``(2 * n_in + n_out,)``, ``assignments`` ``(n_out,)`` (the class of
each neuron; ``LABEL_NONE`` for none), and with pruning ``alive`` ``(n_in, n_out)`` and
``prune_threshold``. A file without ``version`` is read as version 1 (written before the
field existed); without ``prune_threshold``, a pruning network starts from
``pruning.threshold``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError
from .golden.blocks.rng import Generators
from .golden.networks.diehl_cook import LearningState
from .ir import LearningLayerIR

__all__ = ["MODEL_FILE", "REPORT_FILE", "VERSION", "save_model", "load_model", "read_report"]

MODEL_FILE = "model.npz"
REPORT_FILE = "report.json"  # what snnhw train or snnhw run reported of the model
VERSION = 1
_REQUIRED = ("weights", "theta", "generators")


def save_model(out_dir: str | Path, state: LearningState, assignments: np.ndarray) -> Path:
    """Write ``model.npz`` into ``out_dir``; returns its path."""
    path = Path(out_dir) / MODEL_FILE
    saved = ({} if state.alive is None else
             {"alive": state.alive, "prune_threshold": state.prune_threshold})
    np.savez(path, version=VERSION, weights=state.weights, theta=state.theta,
             generators=state.gens.states, assignments=assignments, **saved)
    return path


def load_model(model_dir: str | Path, layer: LearningLayerIR
               ) -> tuple[LearningState, np.ndarray | None]:
    """The state and labels (``None`` if the file has none) saved in ``model_dir`` for
    ``layer``; :class:`InputError` in one line if they are missing, unreadable or of another
    shape than the network's."""
    d = Path(model_dir)
    path = d / MODEL_FILE
    if not path.is_file():
        raise InputError(f"{d}: not a model folder (no {MODEL_FILE}); train one with snnhw train")
    try:
        saved = np.load(path, allow_pickle=False)
        if not isinstance(saved, np.lib.npyio.NpzFile):  # one .npy array, not an archive
            raise ValueError("a single array, not an .npz archive")
        with saved:
            arrays = {k: saved[k] for k in saved.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a model file written by snnhw ({e})") from None
    version = int(arrays.get("version", 1))
    if version != VERSION:
        raise InputError(f"{path}: model format version {version}; this snnhw reads {VERSION}")
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise InputError(f"{path}: lacks {', '.join(missing)}; not a model file written by snnhw")
    shapes = {"weights": (layer.n_in, layer.n_out), "theta": (layer.n_out,),
              "generators": (2 * layer.n_in + layer.n_out,)}
    if layer.pruning is not None and "alive" in arrays:
        shapes["alive"] = (layer.n_in, layer.n_out)
    if "assignments" in arrays:
        shapes["assignments"] = (layer.n_out,)
    for key, shape in shapes.items():
        if arrays[key].shape != shape:
            raise InputError(f"{path}: {key} of shape {arrays[key].shape}, the network needs "
                             f"{shape}")
    default_threshold = layer.pruning.threshold if layer.pruning else 0
    try:
        state = LearningState(
            weights=arrays["weights"].astype(np.int64),
            theta=arrays["theta"].astype(np.int64),
            gens=Generators(arrays["generators"]),
            alive=arrays["alive"].astype(bool) if "alive" in arrays else None,
            prune_threshold=int(arrays.get("prune_threshold", default_threshold)))
    except (ValueError, TypeError) as e:
        raise InputError(f"{path}: {e}") from None
    return state, arrays.get("assignments")


def read_report(model_dir: str | Path) -> dict:
    """The ``report.json`` of a model folder (``{}`` if it has none); :class:`InputError` in
    one line if it is not a JSON object."""
    path = Path(model_dir) / REPORT_FILE
    if not path.is_file():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a report written by snnhw ({e})") from None
    if not isinstance(report, dict):
        raise InputError(f"{path}: not a report written by snnhw (not a JSON object)")
    return report
