"""A TTFS conv network's readout and model folders: the dataset splits it learns, fits and
tests on, the linear SVM on its features, and ``model.npz`` (per conv layer its weights, alive
taps, generator position and images learned; the SVM). ``snnhw train`` (:mod:`snnhw.train_conv`)
writes them and the host runtime (:mod:`snnhw.host.conv_run`) reads and writes them.

Splits: caltech-facemotor learns on LearningSet, fits the SVM on TrainingSet and tests on
TestingSet; mnist and fashion-mnist learn on and fit with the training set (the SVM on the
first ``readout.svm_images`` of a seeded order, all when 0) and test on the test set.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import CALTECH, load_dataset, sample_order
from .errors import InputError
from .golden.blocks.rng import PERIOD
from .golden.networks.ttfs_conv import ConvState
from .ir_conv import ConvNetworkIR

__all__ = ["Splits", "load_splits", "fit_svm", "predict_svm", "save_conv_model",
           "load_conv_model", "MODEL_FILE", "VERSION"]

MODEL_FILE = "model.npz"
VERSION = 1


@dataclass(frozen=True)
class Splits:
    """Images for STDP, the readout's training images and labels, the test images and
    labels."""

    learn: np.ndarray
    fit: np.ndarray
    fit_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray


def load_splits(net: ConvNetworkIR, dataset: str, data_dir: str | Path | None) -> Splits:
    """The dataset's splits at the network's input size; a one-line error if they do not
    fit."""
    h, w = net.encoder.height, net.encoder.width
    if dataset == CALTECH:
        learn = load_dataset(dataset, "learning", data_dir, size=(h, w))
        fit = load_dataset(dataset, "training", data_dir, size=(h, w))
        test = load_dataset(dataset, "testing", data_dir, size=(h, w))
        learn_images = learn.images
    else:
        fit = load_dataset(dataset, "train", data_dir, download=False)
        test = load_dataset(dataset, "test", data_dir, download=False)
        if fit.images.shape[1:] != (h, w):
            raise InputError(f"{dataset} images are {fit.images.shape[1]} x "
                             f"{fit.images.shape[2]}: set input.height and input.width to "
                             "match")
        learn_images = fit.images
    n_fit = min(net.svm_images or len(fit), len(fit))
    idx = np.sort(sample_order(len(fit), n_fit, net.seed))
    return Splits(learn_images, fit.images[idx], fit.labels[idx].astype(np.int64), test.images,
                  test.labels.astype(np.int64))


def fit_svm(features: np.ndarray, labels: np.ndarray, c: float) -> dict[str, np.ndarray]:
    """A linear SVM (one-vs-rest) on features scaled by their largest training value: its
    ``scale``, ``coef`` ``(classes, n)`` and ``intercept`` ``(classes,)``."""
    from sklearn.svm import LinearSVC

    scale = np.maximum(features.max(axis=0), 1e-12)
    svm = LinearSVC(C=c, max_iter=20000).fit(features / scale, labels)
    coef, intercept = svm.coef_, svm.intercept_
    if coef.shape[0] == 1:  # two classes: one decision function, positive for classes_[1]
        coef, intercept = np.vstack([-coef, coef]), np.array([-intercept[0], intercept[0]])
    return {"scale": scale, "coef": coef, "intercept": intercept, "classes": svm.classes_}


def predict_svm(svm: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Classes the SVM gives ``features`` (ties: the lower class)."""
    scores = (features / svm["scale"]) @ svm["coef"].T + svm["intercept"]
    return svm["classes"][np.argmax(scores, axis=1)]


def save_conv_model(out: Path, net: ConvNetworkIR, state: ConvState,
                    svm: dict[str, np.ndarray]) -> None:
    """``model.npz``: per conv layer its weights, alive taps, generator position and images
    learned; the SVM readout."""
    arrays: dict[str, Any] = {"version": VERSION, "family": "ttfs_conv"}
    for c in net.conv_layers:
        i = c.index
        arrays |= {f"weights_{i}": state.weights[i], f"alive_{i}": state.alive[i],
                   f"gen_pos_{i}": state.gen_pos[i], f"seen_{i}": state.seen[i]}
    arrays |= {f"svm_{k}": v for k, v in svm.items()}
    np.savez(out / MODEL_FILE, **arrays)


def load_conv_model(model_dir: Path, net: ConvNetworkIR
                    ) -> tuple[ConvState, dict[str, np.ndarray]]:
    """The state and SVM saved by :func:`save_conv_model`; one-line errors if the file is not
    one, or was written for another network."""
    path = model_dir / MODEL_FILE
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
    except FileNotFoundError:
        raise InputError(f"{model_dir}: not a model folder (no {MODEL_FILE}); train one with "
                         "snnhw train") from None
    except (OSError, ValueError, EOFError, AttributeError, zipfile.BadZipFile, zlib.error):
        raise InputError(f"{path}: not a model file written by snnhw train (unreadable or "
                         "truncated)") from None
    if str(arrays.get("family", "")) != "ttfs_conv" or int(arrays.get("version", -1)) != VERSION:
        raise InputError(f"{path}: not a ttfs_conv model of format version {VERSION}")
    state = ConvState.initial(net)
    try:
        for c in net.conv_layers:
            i = c.index
            w, alive = arrays[f"weights_{i}"], arrays[f"alive_{i}"]
            if w.shape != c.weights.shape or alive.shape != c.weights.shape:
                raise InputError(f"{path}: {c.name} has shape {w.shape}, the config's is "
                                 f"{c.weights.shape}")
            state.weights[i], state.alive[i] = w.astype(np.int64), alive.astype(bool)
            state.gen_pos[i], state.seen[i] = int(arrays[f"gen_pos_{i}"]), int(
                arrays[f"seen_{i}"])
            if not 0 <= state.gen_pos[i] < PERIOD or state.seen[i] < 0:
                raise InputError(f"{path}: {c.name}'s generator position or image count is "
                                 "out of range")
        svm = {k: arrays[f"svm_{k}"] for k in ("scale", "coef", "intercept", "classes")}
    except KeyError as e:
        raise InputError(f"{path}: missing {e.args[0]}") from None
    if svm["scale"].shape != (net.feature_count,):
        raise InputError(f"{path}: the readout has {svm['scale'].shape[0]} features, the "
                         f"config's network {net.feature_count}")
    return state, svm
