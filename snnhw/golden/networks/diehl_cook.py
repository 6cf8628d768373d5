"""Bit-exact model of the learning network (Diehl & Cook / FSpiNN style), readable NumPy path.

One sample is shown for ``encoder.timesteps`` timesteps. Each timestep, in order:

1. **encode** (:func:`encode_step`): every non-zero pixel (ascending; the k-th uses encoder
   generator k) draws the next value ``r`` and spikes when ``r < pixel * rate_scale *
   intensity``;
2. **integrate** the spiking inputs in ascending order (:func:`integrate_events`, saturating,
   refractory neurons ignore input), recording each input's last spike time;
   With ``stdp.eta_pre``, when learning, each spiking input's row is then depressed
   (:func:`depress_row`) by the neurons' post-synaptic traces (pair STDP);
3. **leak and fire** (:func:`fire_adaptive`): leak as in :func:`fire_step`; a neuron fires when
   not refractory and ``leaked >= threshold + theta``. With ``inhibition = "wta"`` only the one
   with the largest ``leaked - threshold - theta`` fires (ties: lowest index) and then every
   membrane is set to 0;
4. **learn**, for each neuron that fired, in ascending order (:func:`stdp_column`): theta
   grows by ``theta_increment`` (saturating) and every weight of the neuron moves by
   ``((x - x_tar) * eta + u) >> 16``, clipped to ``0..wmax`` (with adaptive potentiation the
   terms with ``x >= x_tar`` use ``StdpIR.eta_potentiation``).

After the ``timesteps`` with input come ``encoder.rest`` timesteps without: steps 2 to 4 run
on with no input events.

After the sample (when learning): every theta decays, ``theta -= theta >> theta_decay_shift``,
then each neuron that fired is normalised (:func:`normalize_column`), in ascending order.
A sample with fewer than ``min_spikes`` output spikes is shown again with ``intensity + 1``, up
to ``max_tries`` presentations; learning happens in every presentation.

Random numbers (:mod:`.rng`) come from ``2 * n_in`` generators. The first ``n_in`` serve the
encoder: the k-th non-zero pixel of the sample (ascending) draws from generator ``k``. The
other ``n_in`` serve rounding: stochastic rounding of the weight of input ``i`` takes the next
value of generator ``n_in + i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir import LayerIR
from ..blocks.encoder import encode_step
from ..blocks.neuron import fire_adaptive, integrate_events
from ..blocks.normalize import normalize_column
from ..blocks.pruning import prune_column, row_cycles
from ..blocks.rng import Generators
from ..blocks.stdp import depress_row, rounding_offsets, stdp_column

__all__ = ["LearningState", "Presentation", "pruning_step", "present", "run_sample"]


@dataclass
class LearningState:
    """Everything the learning hardware keeps between samples."""

    weights: np.ndarray  # (n_in, n_out) int64
    theta: np.ndarray  # (n_out,) int64
    gens: Generators  # encoder list slots (n_in), then one per input, then one per neuron
    alive: np.ndarray | None = None  # (n_in, n_out) bool, with pruning
    prune_threshold: int = 0  # with pruning: the current threshold (the schedule moves it)

    @classmethod
    def initial(cls, layer: LayerIR) -> LearningState:
        alive = np.ones((layer.n_in, layer.n_out), dtype=bool) if layer.pruning else None
        return cls(weights=layer.weights.copy(),
                   theta=np.zeros(layer.n_out, dtype=np.int64),
                   gens=Generators(layer.encoder.generator_states), alive=alive,
                   prune_threshold=layer.pruning.threshold if layer.pruning else 0)

    def copy(self) -> LearningState:
        gens = Generators(self.gens.states)
        alive = None if self.alive is None else self.alive.copy()
        return LearningState(self.weights.copy(), self.theta.copy(), gens, alive,
                             self.prune_threshold)








def pruning_step(layer: LayerIR, state: LearningState, sample: int, *, learn: bool) -> bool:
    """Before training sample ``sample``: move the pruning threshold by the connectivity
    schedule, and return whether the sample may prune."""
    p = layer.pruning
    if p is None or not learn:
        return False
    state.prune_threshold, active = p.step(state.prune_threshold, sample,
                                           lambda: int(state.alive.sum()), state.alive.size)
    return active












@dataclass
class Presentation:
    """What one presentation did, for the cycle model and for spike-by-spike comparison."""

    attempt: int
    nonzero: int  # non-zero pixels
    events: np.ndarray  # (T,) input events per timestep
    winners: list[list[int]]  # neurons that fired, per timestep
    fired: int  # distinct neurons that fired
    learn: bool
    integration: np.ndarray | None = None  # (T,) integration cycles, with pruning
    alive_events: np.ndarray | None = None  # (T,) alive synapses integrated, with pruning


    @property
    def spikes(self) -> list[int]:
        return [len(w) for w in self.winners]

    def cycles(self, layer: LayerIR) -> int:
        from .diehl_cook_cycles import presentation_cycles

        return presentation_cycles(layer, self.nonzero, self.events, self.spikes,
                                   learn=self.learn, fired=self.fired,
                                   integration=self.integration)


def present(layer: LayerIR, state: LearningState, image: np.ndarray, *, intensity: int,
            learn: bool, eta: int, record: list[Presentation] | None = None,
            attempt: int = 0, prune: bool = False) -> np.ndarray:
    """Show one sample once; returns the spike count of every neuron. ``record``, if given,
    receives a :class:`Presentation`. ``prune``: this presentation may prune (learning, and
    the sample is past the warm-up)."""
    pixels = np.asarray(image, dtype=np.int64).reshape(-1)
    nonzero = np.flatnonzero(pixels)
    n_in, n_out = layer.n_in, layer.n_out
    v = np.zeros(n_out, dtype=np.int64)
    ref = np.zeros(n_out, dtype=np.int64)
    last = np.full(n_in, -1, dtype=np.int64)
    last_post = np.full(n_out, -1, dtype=np.int64)
    counts = np.zeros(n_out, dtype=np.int64)
    table = layer.stdp.trace_table if layer.stdp is not None else None
    enc = layer.encoder
    n_events = np.zeros(enc.steps, dtype=np.int64)
    integ = np.zeros(enc.steps, dtype=np.int64)  # integration cycles (pruning only)
    alive_ev = np.zeros(enc.steps, dtype=np.int64)  # alive synapses integrated (pruning)
    alive = state.alive
    prune = prune and learn and alive is not None
    winners: list[list[int]] = []
    none = np.zeros(0, dtype=np.int64)
    for t in range(enc.steps):  # the last ``rest`` timesteps have no input
        events = (encode_step(layer, state.gens, pixels, nonzero, intensity)
                  if t < enc.timesteps else none)
        n_events[t] = len(events)
        if alive is not None:  # plus one cycle to fetch the first row's bitmap words
            integ[t] = sum(row_cycles(layer, alive[i]) for i in events) + (len(events) > 0)
            alive_ev[t] = int(alive[events].sum())
        last[events] = t
        # a pruned weight is 0, so adding it changes nothing: integration needs no mask
        v = integrate_events(layer, state.weights, v, ref, events)
        if learn and layer.stdp is not None and layer.stdp.eta_pre and len(events):
            post = np.where(last_post >= 0, table[np.minimum(t - last_post, 255)], 0)
            for i in events:  # ascending; each row after it was integrated
                row_alive = None if alive is None else alive[i]
                u = rounding_offsets(layer, state.gens, per_neuron=True, alive=row_alive)
                new = depress_row(layer, state.weights[i], post, u)
                # pruned weights stay 0 (0 - d clips to 0)
                state.weights[i] = new
        v, ref, spikes = fire_adaptive(layer, v, ref, state.theta)
        fired = np.flatnonzero(spikes)
        winners.append(fired.tolist())
        counts[fired] += 1
        last_post[fired] = t
        if not learn or len(fired) == 0:
            continue
        if table is not None:
            trace = np.where(last >= 0, table[np.minimum(t - last, 255)], 0)
            eta_p = layer.stdp.eta_potentiation(eta, int(counts.max()))
        for j in fired:
            state.theta[j] = min(state.theta[j] + layer.theta_increment, layer.theta_max)
            if layer.stdp is not None:
                col_alive = None if alive is None else alive[:, j]
                u = rounding_offsets(layer, state.gens, alive=col_alive)
                new = stdp_column(layer, state.weights[:, j], trace, eta, u, eta_p)
                if col_alive is not None:
                    new = np.where(col_alive, new, 0)  # a pruned weight is never updated
                    if prune:
                        prune_column(state.prune_threshold, new, col_alive)
                state.weights[:, j] = new
    if learn:
        state.theta -= state.theta >> layer.theta_decay_shift
        if layer.stdp is not None and layer.stdp.normalize_target:
            for j in np.flatnonzero(counts):
                col_alive = None if alive is None else alive[:, j]
                u = rounding_offsets(layer, state.gens, alive=col_alive)
                column = state.weights[:, j]
                new = normalize_column(layer, column, u)
                if prune and column.sum():  # a column summing to 0 is left alone
                    prune_column(state.prune_threshold, new, col_alive)
                state.weights[:, j] = new
    if record is not None:
        record.append(Presentation(attempt, len(nonzero), n_events, winners,
                                   int((counts > 0).sum()), learn,
                                   integ if alive is not None else None,
                                   alive_ev if alive is not None else None))
    return counts


def run_sample(layer: LayerIR, state: LearningState, image: np.ndarray, *, learn: bool,
               eta: int = 0, record: list[Presentation] | None = None, prune: bool = False
               ) -> tuple[np.ndarray, int]:
    """Show one sample, again with more intensity while it makes too few spikes.

    Returns the spike counts of the last presentation and the number of presentations;
    ``record`` receives one :class:`Presentation` per presentation.
    """
    enc = layer.encoder
    for attempt in range(enc.max_tries):
        counts = present(layer, state, image, intensity=enc.intensity + attempt, learn=learn,
                         eta=eta, record=record, attempt=attempt, prune=prune)
        if counts.sum() >= enc.min_spikes:
            break
    return counts, attempt + 1
