"""The golden backend: the bit-exact model (:mod:`snnhw.golden.networks.diehl_cook`) behind the host
interface, so that a script runs unchanged with no hardware at all and gives the numbers the
hardware must give."""

from __future__ import annotations

import numpy as np

from ..golden.blocks.rng import Generators
from ..golden.networks.diehl_cook import LearningState, Presentation, pruning_step, run_sample
from ..ir import LayerIR
from ..protocol import LABEL_NONE, VERSION, Info, config_hash
from .backend import Backend, Counters, Result, check_image, votes

__all__ = ["GoldenBackend"]

# the counters the model knows; presentations last (it wraps instead of saturating)
_SUMS = ("busy_cycles", "synaptic_events", "input_events", "output_spikes", "presentations")


class GoldenBackend(Backend):
    """The golden model as a backend.

    Parameters
    ----------
    layer : LayerIR
        A learning core (STDP, winner-take-all, unsigned weights).
    spike_buffer : int
        Spikes kept per sample, as the SoC's spike buffer (``Info.spike_buffer``); the rest
        are counted in ``Result.spikes_total``.

    Counters come from the model and its cycle model: ``busy_cycles`` (the sum of
    ``Presentation.cycles``), ``input_events``, ``synaptic_events`` (``n_out`` per input event,
    or the alive synapses integrated with pruning), ``output_spikes``, ``presentations`` and
    ``alive``. ``cycles`` (wall-clock cycles, idle ones included) and ``weight_updates`` are
    ``None``: the model has no clock and does not count the weights written.
    """

    def __init__(self, layer: LayerIR, *, spike_buffer: int = 0xFFFF) -> None:
        super().__init__(layer)
        if not isinstance(spike_buffer, int) or not 0 < spike_buffer <= 0xFFFF:
            raise ValueError(f"Spike buffer must be an integer in 1..65535, not "
                             f"{spike_buffer!r}")
        self._spike_buffer = spike_buffer
        self.state = LearningState.initial(layer)
        self._labels = np.full(layer.n_out, LABEL_NONE, dtype=np.int64)
        self._sums = dict.fromkeys(_SUMS, 0)  # since the last clear_counters

    def info(self) -> Info:
        L = self.layer
        return Info(version=VERSION, config_hash=config_hash(L), n_in=L.n_in, n_out=L.n_out,
                    lanes=L.lanes, weight_bits=L.weight_bits, pruning=L.pruning is not None,
                    schedule=bool(L.pruning and L.pruning.target_permille),
                    spike_buffer=self._spike_buffer, clk_hz=0, baud=0)

    def read_weights(self) -> np.ndarray:
        return self.state.weights.copy()

    def write_weights(self, weights: np.ndarray) -> None:
        L = self.layer
        self.state.weights = self._checked("weights", weights, (L.n_in, L.n_out), L.wmax)

    def read_thetas(self) -> np.ndarray:
        return self.state.theta.copy()

    def write_thetas(self, theta: np.ndarray) -> None:
        L = self.layer
        self.state.theta = self._checked("thetas", theta, (L.n_out,), L.theta_max)

    def read_generators(self) -> np.ndarray:
        return self.state.gens.states.copy()

    def write_generators(self, states: np.ndarray) -> None:
        n = len(self.layer.encoder.generator_states)
        self.state.gens = Generators(self._checked("generator states", states, (n,), 0xFFFF,
                                                   low=1))

    def read_alive(self) -> np.ndarray:
        self._need_pruning()
        return self.state.alive.copy()

    def write_alive(self, alive: np.ndarray) -> None:
        self._need_pruning()
        L = self.layer
        self.state.alive = self._checked("alive mask", alive, (L.n_in, L.n_out), 1).astype(bool)

    def alive_count(self) -> int:
        a = self.state.alive
        return self.layer.n_in * self.layer.n_out if a is None else int(a.sum())

    def read_labels(self) -> np.ndarray:
        return self._labels.copy()

    def write_labels(self, labels: np.ndarray) -> None:
        self._labels = self._check_labels(labels)

    def pruning_step(self, sample: int, *, learn: bool) -> bool:
        self.state.prune_threshold = self.prune_threshold
        prune = pruning_step(self.layer, self.state, sample, learn=learn)
        self._prune_threshold = self.state.prune_threshold
        return prune

    def present(self, image: np.ndarray, *, learn: bool, eta: int = 0,
                prune: bool = False) -> Result:
        pixels = check_image(self.layer, image)
        self.state.prune_threshold = self.prune_threshold
        record: list[Presentation] = []
        counts, tries = run_sample(self.layer, self.state, pixels, learn=learn,
                                   eta=eta if learn else 0, record=record, prune=prune)
        L, sums = self.layer, self._sums
        sums["busy_cycles"] += int(sum(p.cycles(L) for p in record))
        events = sum(int(p.events.sum()) for p in record)
        sums["input_events"] += events
        sums["synaptic_events"] += (events * L.n_out if L.pruning is None
                                    else sum(int(p.alive_events.sum()) for p in record))
        sums["output_spikes"] += sum(sum(p.spikes) for p in record)
        sums["presentations"] += tries
        spikes = [(p.attempt, t, j) for p in record for t, w in enumerate(p.winners)
                  for j in w]
        return Result(presentations=tries, spikes=spikes[:self._spike_buffer],
                      spikes_total=len(spikes), counts=counts,
                      votes=votes(counts, self._labels))

    def counters(self) -> Counters:
        top = 2**self.layer.counter_bits - 1
        saturated = {name: min(self._sums[name], top) for name in _SUMS[:-1]}
        return Counters(cycles=None, weight_updates=None, **saturated,
                        presentations=self._sums["presentations"] % 65536,
                        alive=self.alive_count())

    def clear_counters(self) -> None:
        self._sums = dict.fromkeys(_SUMS, 0)

    def _need_pruning(self) -> None:
        if self.layer.pruning is None:
            raise ValueError("the network does not prune: it has no alive mask")
