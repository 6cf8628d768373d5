"""The one interface every backend of the host runtime implements: the golden model, the SoC's
Verilog in simulation and a real board all learn, infer and hand over their state through it.

The interface is semantic (weights as an ``(n_in, n_out)`` matrix, a whole
:class:`~snnhw.golden.networks.diehl_cook.LearningState`), not a byte protocol: the framed backends
(:mod:`.framed`) turn each call into frames of ``docs/host-protocol.md``, the golden backend
(:mod:`.golden`) into calls of the model.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from ..errors import InputError
from ..families import Family, require
from ..golden.blocks.rng import Generators
from ..golden.networks.diehl_cook import LearningState
from ..ir import LayerIR
from ..protocol import LABEL_NONE, N_CLASSES, Info

__all__ = ["Backend", "Result", "Counters", "Spike", "check_image", "check_layer", "votes"]

Spike = tuple[int, int, int]  #: (attempt, timestep, neuron)


@dataclass(frozen=True, eq=False)
class Result:
    """What one sample did (``Backend.present``).

    Attributes
    ----------
    presentations : int
        Presentations made (1 + retries with more intensity).
    spikes : list of (attempt, timestep, neuron)
        The spikes kept, in order: the first ``Info.spike_buffer`` of all presentations.
    spikes_total : int
        Spikes emitted in all presentations, kept or not.
    counts : ndarray, shape (n_out,)
        Spike count of each neuron in the last presentation.
    votes : ndarray, shape (10,)
        ``votes[c]``: spikes of the last presentation by neurons labelled ``c``.
    """

    presentations: int
    spikes: list[Spike]
    spikes_total: int
    counts: np.ndarray
    votes: np.ndarray


@dataclass(frozen=True)
class Counters:
    """Performance counters since the last ``clear_counters`` (READ_COUNTERS).

    ``None`` marks a figure the backend cannot know: the golden model has no wall clock
    (``cycles``) and does not count the weights written (``weight_updates``). Hardware
    counters saturate at ``2**hardware.counter_bits - 1``; ``presentations`` wraps at 65536;
    ``alive`` is the number of connections alive (every synapse without pruning).
    """

    cycles: int | None
    busy_cycles: int | None
    synaptic_events: int | None
    input_events: int | None
    output_spikes: int | None
    weight_updates: int | None
    presentations: int
    alive: int

    def to_dict(self) -> dict[str, int | None]:
        return dataclasses.asdict(self)


def check_layer(layer: LayerIR) -> Family:
    """The family of ``layer``; :class:`ConfigError` unless the host runtime can drive it
    (only the learning core has a SoC)."""
    return require(layer, "run")


def check_image(layer: LayerIR, image: np.ndarray) -> np.ndarray:
    """The sample's ``n_in`` pixels as uint8; :class:`InputError` if it does not fit."""
    a = np.asarray(image)
    if a.size != layer.n_in:
        raise InputError(f"a sample of {a.size} pixels: the network has {layer.n_in} inputs")
    if not np.issubdtype(a.dtype, np.integer) or a.size and (a.min() < 0 or a.max() > 255):
        raise InputError("pixels must be integers in 0..255")
    return a.reshape(-1).astype(np.uint8)


def votes(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Class votes as the SoC adds them up: ``votes[c] = counts[labels == c].sum()``; a label
    of ``N_CLASSES`` or more does not vote."""
    v = np.zeros(N_CLASSES, dtype=np.int64)
    ok = labels < N_CLASSES
    np.add.at(v, labels[ok], counts[ok])
    return v


class Backend(abc.ABC):
    """A learning core the host drives: the golden model, a simulated SoC or a board.

    Every backend holds the network's state (weights, thresholds, generators, alive bitmap,
    prune threshold) and the neurons' labels between calls, starting from the layer's
    initial state. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, layer: LayerIR) -> None:
        self._family = check_layer(layer)
        self._layer = layer
        self._prune_threshold = layer.pruning.threshold if layer.pruning else 0

    @property
    def layer(self) -> LayerIR:
        return self._layer

    # -- what each backend implements -----------------------------------------------------

    @abc.abstractmethod
    def info(self) -> Info:
        """Sizes, version and config hash, as the INFO command returns them."""

    @abc.abstractmethod
    def read_weights(self) -> np.ndarray:
        """The weights, ``(n_in, n_out)`` int64."""

    @abc.abstractmethod
    def write_weights(self, weights: np.ndarray) -> None:
        """Replace every weight (``0..wmax``)."""

    @abc.abstractmethod
    def read_thetas(self) -> np.ndarray:
        """The adaptive thresholds, ``(n_out,)`` int64."""

    @abc.abstractmethod
    def write_thetas(self, theta: np.ndarray) -> None:
        """Replace every adaptive threshold (``0..2**theta_bits - 1``)."""

    @abc.abstractmethod
    def read_generators(self) -> np.ndarray:
        """Random generator states, ``(2 * n_in + n_out,)``, in the order of
        :class:`~snnhw.golden.blocks.rng.Generators`: encoder list slots, one per input, one per
        neuron. The per-neuron ones are drawn only with pre-spike depression (``stdp.eta_pre``);
        without it a hardware backend gives the layer's start states for them."""

    @abc.abstractmethod
    def write_generators(self, states: np.ndarray) -> None:
        """Replace the generator states (``1..65535``); see :meth:`read_generators`."""

    @abc.abstractmethod
    def read_alive(self) -> np.ndarray:
        """Pruning only: the alive mask, ``(n_in, n_out)`` bool."""

    @abc.abstractmethod
    def write_alive(self, alive: np.ndarray) -> None:
        """Pruning only: replace the alive mask (a pruned synapse's weight must be 0)."""

    @abc.abstractmethod
    def alive_count(self) -> int:
        """Connections alive: ``n_in * n_out`` without pruning."""

    @abc.abstractmethod
    def read_labels(self) -> np.ndarray:
        """Class of each neuron, ``(n_out,)``; ``LABEL_NONE`` (15) for no vote."""

    @abc.abstractmethod
    def write_labels(self, labels: np.ndarray) -> None:
        """Set the class of each neuron (``0..15``; 10 and above do not vote)."""

    @abc.abstractmethod
    def present(self, image: np.ndarray, *, learn: bool, eta: int = 0,
                prune: bool = False) -> Result:
        """Show one sample (``n_in`` pixels, 0..255), again with more intensity while it makes
        fewer than ``encoder.min_spikes`` spikes. ``learn``: update weights and thresholds
        with learning rate ``eta``; ``prune``: this sample may prune (learning with pruning
        only), at the current :attr:`prune_threshold`."""

    @abc.abstractmethod
    def counters(self) -> Counters:
        """Performance counters since the last :meth:`clear_counters`."""

    @abc.abstractmethod
    def clear_counters(self) -> None:
        """Zero the counters (not ``alive``)."""

    def close(self) -> None:  # noqa: B027 - backends without resources keep it
        """Release the link or simulator; the backend is unusable afterwards."""

    # -- built on the above ---------------------------------------------------------------

    @property
    def prune_threshold(self) -> int:
        """The pruning threshold the next pruning sample uses (0 without pruning)."""
        return self._prune_threshold

    @prune_threshold.setter
    def prune_threshold(self, value: int) -> None:
        p = self._layer.pruning
        if p is None:
            if value:
                raise InputError(f"prune threshold {value}: the network does not prune")
            self._prune_threshold = 0
            return
        if not p.target_permille and value != p.threshold:
            raise InputError(f"prune threshold {value}: without a connectivity schedule it is "
                             f"fixed at {p.threshold} (pruning.threshold)")
        if not 0 <= value <= self._layer.wmax:
            raise InputError(f"prune threshold {value}: must be in 0..{self._layer.wmax}")
        self._prune_threshold = int(value)

    def pruning_step(self, sample: int, *, learn: bool) -> bool:
        """Before training sample ``sample``: move :attr:`prune_threshold` by the connectivity
        schedule and return whether the sample may prune, as
        :func:`snnhw.golden.networks.diehl_cook.pruning_step` does."""
        p = self._layer.pruning
        if p is None or not learn:
            return False
        self._prune_threshold, active = p.step(self._prune_threshold, sample, self.alive_count,
                                               self._layer.n_in * self._layer.n_out)
        return active

    def read_state(self) -> LearningState:
        """Everything the core keeps between samples, as the golden model holds it."""
        alive = self.read_alive() if self._layer.pruning else None
        return LearningState(weights=self.read_weights(), theta=self.read_thetas(),
                             gens=Generators(self.read_generators()), alive=alive,
                             prune_threshold=self.prune_threshold)

    def write_state(self, state: LearningState) -> None:
        """Load a whole :class:`LearningState` (for example one saved by ``snnhw train``)."""
        if (state.alive is None) != (self._layer.pruning is None):
            raise InputError("the state's alive mask does not match the network: "
                             + ("it prunes" if self._layer.pruning else "it does not prune"))
        self.prune_threshold = state.prune_threshold
        self.write_weights(state.weights)
        self.write_thetas(state.theta)
        self.write_generators(state.gens.states)
        if state.alive is not None:
            self.write_alive(state.alive)

    # -- argument checks shared by the backends --------------------------------------------

    def _checked(self, name: str, values: np.ndarray, shape: tuple[int, ...], high: int,
                 low: int = 0) -> np.ndarray:
        a = np.asarray(values)
        if a.shape != shape:
            raise InputError(f"{name} of shape {a.shape}: the network needs {shape}")
        if a.size and (not np.issubdtype(a.dtype, np.integer) and a.dtype != bool
                       or a.min() < low or a.max() > high):
            raise InputError(f"{name} must be integers in {low}..{high}")
        return a.astype(np.int64)

    def _check_labels(self, labels: np.ndarray) -> np.ndarray:
        return self._checked("labels", labels, (self._layer.n_out,), LABEL_NONE)

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
