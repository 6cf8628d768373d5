"""Cycle model of the neuron core (docs/semantics.md, section 7); the RTL counters equal it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir import LayerIR

__all__ = ["CycleCounts", "cycle_model", "ideal_cycles"]


@dataclass(frozen=True)
class CycleCounts:
    """What the core's counters read after a continuous run from idle (saturated at
    ``2**counter_bits - 1`` like the hardware's; ``timesteps`` is not a hardware counter)."""

    busy_cycles: int
    synaptic_events: int
    timesteps: int
    input_events: int
    output_spikes: int


def group_spike_counts(layer: LayerIR, spikes: np.ndarray) -> np.ndarray:
    """Spikes per neuron group, shape ``(T, npl)``, from a ``(T, n_out)`` boolean raster."""
    t = spikes.shape[0]
    padded = np.zeros((t, layer.padded_out), dtype=np.int64)
    padded[:, :layer.n_out] = spikes
    return padded.reshape(t, layer.npl, layer.lanes).sum(axis=2)


def cycle_model(layer: LayerIR, event_counts: np.ndarray, spikes: np.ndarray) -> CycleCounts:
    """Busy cycles of a continuous run: events always offered, output always accepted.

    Each input event issues ``npl`` operations (one per neuron group, all lanes at once), and
    each timestep's end issues ``npl`` fire operations, one cycle each. A fire operation whose
    group emits ``p >= 2`` spikes holds the pipeline for ``p - 1`` cycles while the output
    serialiser sends one spike per cycle. After the last operation, the pipeline drains in one
    cycle plus one cycle per spike of the last group.
    """
    event_counts = np.asarray(event_counts, dtype=np.int64)
    t = len(event_counts)
    total_events = int(event_counts.sum())
    if t == 0:
        return CycleCounts(0, 0, 0, 0, 0)
    issue = int((event_counts + 1).sum()) * layer.npl
    p = group_spike_counts(layer, spikes).reshape(-1)
    stalls = int(np.maximum(p[:-1] - 1, 0).sum())
    busy = issue + stalls + 1 + int(p[-1])
    top = 2**layer.counter_bits - 1  # the hardware counters saturate
    return CycleCounts(busy_cycles=min(busy, top),
                       synaptic_events=min(total_events * layer.n_out, top),
                       timesteps=t, input_events=min(total_events, top),
                       output_spikes=min(int(np.asarray(spikes).sum()), top))


def ideal_cycles(layer: LayerIR, event_counts: np.ndarray) -> int:
    """The bound of one synaptic event per lane per cycle, summed over timesteps:
    ``ceil(events * fan_out / lanes) + ceil(neurons / lanes)`` per timestep."""
    e = np.asarray(event_counts, dtype=np.int64)
    per_step = -(-(e * layer.n_out) // layer.lanes) + -(-layer.n_out // layer.lanes)
    return int(per_step.sum())
