"""The dense LIF/IF layer: a run over timesteps that returns a per-timestep trace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...ir import LayerIR
from ..blocks.neuron import fire_step, integrate_events
from .lif_layer_cycles import CycleCounts, cycle_model

__all__ = ["LayerModel", "Trace"]


@dataclass(frozen=True, eq=False)
class Trace:
    """Everything a run produced.

    Attributes
    ----------
    spikes : ndarray of bool, shape (T, n_out)
        Output spikes per timestep.
    v, ref : ndarray of int64, shape (n_out,)
        Final membrane potentials and refractory counters.
    event_counts : ndarray of int64, shape (T,)
        Input events per timestep.
    cycles : CycleCounts
        The cycle model's counters for this run.
    """

    spikes: np.ndarray
    v: np.ndarray
    ref: np.ndarray
    event_counts: np.ndarray
    cycles: CycleCounts

    def spike_events(self) -> list[tuple[int, int]]:
        """Output spikes as ``(timestep, neuron)`` pairs in the order the hardware emits them:
        by timestep, then by ascending neuron index."""
        t, n = np.nonzero(self.spikes)
        return list(zip(t.tolist(), n.tolist(), strict=True))


class LayerModel:
    """Bit-exact model of one neuron core, holding its weights and neuron state."""

    def __init__(self, layer: LayerIR) -> None:
        if type(layer) is not LayerIR:
            raise TypeError(f"LayerModel models a dense LIF/IF layer (LayerIR), not "
                            f"{type(layer).__name__}; see snnhw.golden.networks")
        self.layer = layer
        self.weights = layer.weights.copy()
        self.v = np.zeros(layer.n_out, dtype=np.int64)
        self.ref = np.zeros(layer.n_out, dtype=np.int64)

    def step(self, events: np.ndarray) -> np.ndarray:
        """Run one timestep: integrate ``events`` in order, then fire. Returns the spikes."""
        events = np.asarray(events, dtype=np.int64)
        self.v = integrate_events(self.layer, self.weights, self.v, self.ref, events)
        self.v, self.ref, spikes = fire_step(self.layer, self.v, self.ref)
        return spikes

    def run(self, events: Sequence[np.ndarray]) -> Trace:
        """Run one timestep per entry of ``events`` (arrays of input indices, in order)."""
        spikes = np.zeros((len(events), self.layer.n_out), dtype=bool)
        for t, ev in enumerate(events):
            spikes[t] = self.step(ev)
        counts = np.array([len(e) for e in events], dtype=np.int64)
        return Trace(spikes=spikes, v=self.v.copy(), ref=self.ref.copy(), event_counts=counts,
                     cycles=cycle_model(self.layer, counts, spikes))
