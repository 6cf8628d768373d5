"""The host runtime: one script drives the golden model, the SoC's Verilog in simulation, or a
board, and gets the same numbers from each.

Example::

    from snnhw.host import connect

    with connect("net.toml", backend="golden") as net:  # or "rtl", or "serial" with port=
        net.learn(train_images)
        net.label(label_images, label_classes)
        accuracy = (net.infer(test_images).predictions == test_classes).mean()

:class:`Network` follows the schedule of ``snnhw train`` (learning rate from
``stdp.eta_at(sample)``, pruning from ``pruning_step``, labels and predictions from
:func:`snnhw.readout.assign_labels` and :func:`snnhw.readout.predict`); the backends
(:class:`Backend`) hold the state and do the work. ``docs/host-runtime.md`` describes both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..config import load_config
from ..errors import InputError
from ..families import load, require_network, resolve, resolve_layer
from ..ir import LayerIR
from ..modelfile import MODEL_FILE, load_model, read_report, save_model
from ..protocol import LABEL_NONE, N_CLASSES, ProtocolError, config_hash
from ..readout import assign_labels, predict
from .backend import Backend, Counters, Result
from .framed import FramedBackend, LinkTimeout, Transport
from .golden import GoldenBackend

__all__ = ["connect", "open_backend", "Network", "Responses", "Backend", "Result", "Counters",
           "GoldenBackend", "FramedBackend", "Transport", "LinkTimeout", "ProtocolError",
           "BACKENDS"]

BACKENDS = ("golden", "rtl", "serial")

Progress = Callable[[int], None]


@dataclass(frozen=True, eq=False)
class Responses:
    """What a run of samples did, one row per sample.

    Attributes
    ----------
    counts : ndarray, shape (n, n_out)
        Spike counts of each sample's last presentation.
    presentations : ndarray, shape (n,)
    spikes : ndarray, shape (n,)
        Spikes emitted per sample (all presentations).
    predictions : ndarray, shape (n,), or None
        Predicted class of each sample, when the neurons have labels.
    """

    counts: np.ndarray
    presentations: np.ndarray
    spikes: np.ndarray
    predictions: np.ndarray | None


def open_backend(layer: LayerIR, backend: str = "golden", *, port: str | None = None,
                 baud: int | None = None, **options: Any) -> Backend:
    """A backend by name: ``"golden"``, ``"rtl"`` or ``"serial"`` (which needs ``port``).
    ``options`` go to its constructor (:class:`GoldenBackend`,
    :class:`~snnhw.host.rtl.RtlBackend`, :class:`~snnhw.host.serialport.SerialBackend`)."""
    if backend == "golden":
        return GoldenBackend(layer, **options)
    if backend == "rtl":
        from .rtl import RtlBackend

        return RtlBackend(layer, **({"baud": baud} if baud else {}), **options)
    if backend == "serial":
        from ..protocol import DEFAULT_BAUD
        from .serialport import SerialBackend

        if not port:
            raise InputError("the serial backend needs a port: pass --port or --board")
        return SerialBackend(layer, port, baud or DEFAULT_BAUD, **options)
    raise InputError(f"unknown backend {backend!r}; choose {', '.join(BACKENDS)}")


def connect(config: str | Path | LayerIR, backend: str = "golden", *,
            port: str | None = None, baud: int | None = None, **options: Any) -> Any:
    """Open a :class:`Network` on a backend (see :func:`open_backend`); ``config`` is a
    TOML path or a resolved layer. Use it as a context manager. A family with its own host
    runtime (``Family.host``; ttfs_conv: :class:`snnhw.host.conv.ConvNetwork`) gets that."""
    if not isinstance(config, LayerIR):
        net = resolve(load_config(config))
        family = require_network(net, "run")
        if family.host is not None:
            return load(family.host)(net, backend, port=port, baud=baud, **options)
        config = resolve_layer(load_config(config))
    return Network(open_backend(config, backend, port=port, baud=baud, **options))


class Network:
    """A learning network on a backend, with the schedule of ``snnhw train``.

    ``samples_learned`` is the position in the learning schedule: the next training sample
    learns with ``stdp.eta_at(samples_learned)`` and prunes as ``pruning_step`` says for it.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.samples_learned = 0
        self.assignments: np.ndarray | None = None

    @property
    def layer(self) -> LayerIR:
        return self.backend.layer

    def learn(self, images: Iterable[np.ndarray], *, progress: Progress | None = None
              ) -> Responses:
        """Learn from each image in turn (no labels involved)."""
        def one(image: np.ndarray) -> Result:
            s = self.samples_learned
            prune = self.backend.pruning_step(s, learn=True)
            result = self.backend.present(image, learn=True, eta=self.layer.stdp.eta_at(s),
                                          prune=prune)
            self.samples_learned += 1
            return result

        return self._run(images, one, progress)

    def infer(self, images: Iterable[np.ndarray], *, progress: Progress | None = None
              ) -> Responses:
        """Show each image without learning; predict its class when the neurons have
        labels."""
        return self._run(images, lambda image: self.backend.present(image, learn=False),
                         progress)

    def label(self, images: Iterable[np.ndarray], classes: np.ndarray, *,
              progress: Progress | None = None) -> Responses:
        """Label each neuron with the class it answers most (:func:`assign_labels`) over
        ``images`` of known ``classes``, shown without learning, and load the labels into the
        backend (:attr:`assignments`). Returns the responses (predictions by the labels
        before)."""
        r = self.infer(images, progress=progress)
        classes = np.asarray(classes)
        if len(classes) != len(r.counts):
            raise InputError(f"{len(r.counts)} images but {len(classes)} classes")
        self.set_labels(assign_labels(r.counts, classes))
        return r

    def set_labels(self, assignments: np.ndarray) -> None:
        """Give each neuron a class (``LABEL_NONE``, 15, for none)."""
        self.backend.write_labels(assignments)
        self.assignments = np.asarray(assignments, dtype=np.int64).copy()

    def _run(self, images: Iterable[np.ndarray], one: Callable[[np.ndarray], Result],
             progress: Progress | None) -> Responses:
        counts, tries, spikes = [], [], []
        for image in images:
            r = one(image)
            counts.append(r.counts)
            tries.append(r.presentations)
            spikes.append(r.spikes_total)
            if progress is not None:
                progress(1)
        counts_a = (np.array(counts, dtype=np.int64) if counts
                    else np.zeros((0, self.layer.n_out), dtype=np.int64))
        predictions = (None if self.assignments is None
                       else predict(counts_a, self.assignments))
        return Responses(counts_a, np.array(tries, dtype=np.int64),
                         np.array(spikes, dtype=np.int64), predictions)

    # -- models ---------------------------------------------------------------------------

    def load_model(self, model_dir: str | Path) -> None:
        """Load a model folder written by ``snnhw train`` (or :meth:`save_model`): its
        state, labels and position in the learning schedule."""
        d = Path(model_dir)
        if (d / MODEL_FILE).is_file() and (d / "config.toml").is_file():
            theirs = resolve_layer(load_config(d / "config.toml"))
            if config_hash(theirs) != config_hash(self.layer):
                raise InputError(f"{d} holds a model of another network ({theirs.name}, "
                                 f"{theirs.n_in} inputs, {theirs.n_out} neurons) than "
                                 f"{self.layer.name}")
        state, assignments = load_model(d, self.layer)
        self.backend.write_state(state)
        if assignments is not None and (assignments < N_CLASSES).any():
            self.set_labels(assignments)
        r = read_report(d)  # snnhw run's, else snnhw train's
        self.samples_learned = int(r.get("samples_learned", r.get("samples_trained", 0)))

    def save_model(self, out_dir: str | Path) -> Path:
        """Write ``model.npz`` (the format of ``snnhw train``) with the backend's state and
        the labels; returns its path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = self.backend.read_state()
        labels = (self.assignments if self.assignments is not None
                  else np.full(self.layer.n_out, LABEL_NONE, dtype=np.int64))
        return save_model(out, state, labels)

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
