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

from ..ir import LayerIR
from .lif import integrate_events
from .rng import Generators

__all__ = ["LearningState", "Presentation", "encode_step", "fire_adaptive", "stdp_column",
           "depress_row", "normalize_column", "rounding_offsets", "prune_column", "row_cycles",
           "pruning_step",
           "present", "run_sample", "K_MAX"]

K_MAX = 2**24 - 1  # largest normalisation factor (Q16), the width of the hardware multiplier


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


def encode_step(layer: LayerIR, gens: Generators, pixels: np.ndarray, nonzero: np.ndarray,
                intensity: int) -> np.ndarray:
    """Input spikes of one timestep, ascending. The k-th non-zero pixel draws once from
    encoder generator k (list slot k), so P consecutive slots sit in P different banks."""
    r = gens.draw(np.arange(len(nonzero)))
    return nonzero[r < pixels[nonzero] * (layer.encoder.rate_scale * intensity)]


def fire_adaptive(layer: LayerIR, v: np.ndarray, ref: np.ndarray, theta: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leak, threshold (``threshold + theta``) with optional hard WTA, reset and refractory.

    Returns ``(v, ref, spikes)``.
    """
    refractory = ref > 0
    leaked = v - (v >> layer.leak_shift) if layer.leak_shift else v
    margin = leaked - (layer.threshold + theta)
    cand = ~refractory & (margin >= 0)
    if layer.inhibition == "wta":
        spikes = np.zeros(layer.n_out, dtype=bool)
        if cand.any():
            spikes[np.argmax(np.where(cand, margin, np.iinfo(np.int64).min))] = True
    else:
        spikes = cand
    if layer.inhibition == "wta" and spikes.any():
        v_new = np.zeros_like(v)
    elif layer.reset == "zero":
        v_new = np.where(refractory, v, np.where(spikes, 0, leaked))
    else:
        v_new = np.where(refractory, v, np.where(spikes, leaked - layer.threshold - theta,
                                                  leaked))
    ref_new = np.where(refractory, ref - 1, np.where(spikes, layer.refractory, 0))
    return v_new, ref_new, spikes


def rounding_offsets(layer: LayerIR, gens: Generators, *, per_neuron: bool = False,
                     alive: np.ndarray | None = None) -> np.ndarray | int:
    """The ``u`` added before the ``>> 16`` of an update: 0, 2**15, or one draw per input
    (STDP, normalisation) or, with ``per_neuron``, one draw per neuron (pre-spike
    depression). With ``alive`` (pruning) only the alive synapses' generators draw; the
    others get ``u = 0``."""
    mode = layer.stdp.rounding
    if mode == "truncate":
        return 0
    if mode == "nearest":
        return 1 << 15
    n_in = layer.n_in
    first, n = (2 * n_in, layer.n_out) if per_neuron else (n_in, n_in)
    if alive is None:
        return gens.draw(slice(first, first + n))
    u = np.zeros(n, dtype=np.int64)
    u[alive] = gens.draw(first + np.flatnonzero(alive))
    return u


def pruning_step(layer: LayerIR, state: LearningState, sample: int, *, learn: bool) -> bool:
    """Before training sample ``sample``: move the pruning threshold by the connectivity
    schedule, and return whether the sample may prune."""
    p = layer.pruning
    if p is None or not learn:
        return False
    state.prune_threshold = p.next_threshold(state.prune_threshold, sample,
                                             int(state.alive.sum()), state.alive.size)
    return p.active_at(sample)


def prune_column(threshold: int, new: np.ndarray, alive: np.ndarray) -> None:
    """Pruning after a column pass wrote ``new`` (in place): every alive weight at or below
    ``threshold`` is pruned, its weight set to 0."""
    cut = alive & (new <= threshold)
    alive[cut] = False
    new[cut] = 0


def row_cycles(layer: LayerIR, alive_row: np.ndarray) -> int:
    """Integration cycles of one input event with pruning: each lane scans its alive-bitmap
    words of the row, one cycle per alive synapse in a word and at least one per word; the
    lanes work in step, so the row costs the slowest lane's cycles."""
    P, npl, c = layer.lanes, layer.npl, layer.pruning.chunk_bits
    bits = np.zeros(layer.padded_out, dtype=np.int64)
    bits[:layer.n_out] = alive_row
    lanes = bits.reshape(npl, P).T  # lanes[b, k]: neuron k * P + b
    pad = -npl % c
    words = np.pad(lanes, ((0, 0), (0, pad))).reshape(P, -1, c).sum(axis=2)
    return int(np.maximum(words, 1).sum(axis=1).max())


def depress_row(layer: LayerIR, row: np.ndarray, post: np.ndarray, u: np.ndarray | int
                ) -> np.ndarray:
    """Pre-spike update of one input's weights (pair STDP):
    ``w - ((y * eta_pre + u) >> 16)``, clipped to ``0..wmax``; ``y`` is each neuron's
    post-synaptic trace."""
    return np.clip(row - ((post * layer.stdp.eta_pre + u) >> 16), 0, layer.wmax)


def stdp_column(layer: LayerIR, column: np.ndarray, trace: np.ndarray, eta: int,
                u: np.ndarray | int, eta_p: int | None = None) -> np.ndarray:
    """Post-spike update of one neuron's weights: ``w + ((x - x_tar) * rate + u) >> 16``,
    clipped to ``0..wmax``; ``rate`` is ``eta_p`` (default ``eta``) where ``x >= x_tar``,
    else ``eta``."""
    x_tar = layer.stdp.x_tar
    rate = np.where(trace >= x_tar, eta if eta_p is None else eta_p, eta)
    dw = ((trace - x_tar) * rate + u) >> 16
    return np.clip(column + dw, 0, layer.wmax)


def normalize_column(layer: LayerIR, column: np.ndarray, u: np.ndarray | int) -> np.ndarray:
    """Rescale one neuron's weights toward the sum ``normalize_target``:
    ``K = min((target << 16) // sum, K_MAX)``; ``w = min((w * K + u) >> 16, wmax)``.
    A neuron whose weights sum to 0 is left alone."""
    total = int(column.sum())
    if total == 0:
        return column
    k = min((layer.stdp.normalize_target << 16) // total, K_MAX)
    return np.minimum((column * k + u) >> 16, layer.wmax)


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
        from .learning_cycles import presentation_cycles

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
