"""LIF/IF neurons: integration, leak, threshold and fire, reset, refractory period, and the
adaptive threshold of the learning network; one function per hardware step
(docs/semantics.md, section 3)."""

from __future__ import annotations

import numpy as np

from ...ir import LayerIR
from .wta import hard_wta

__all__ = ["integrate_events", "fire_step", "fire_adaptive"]


def integrate_events(layer: LayerIR, weights: np.ndarray, v: np.ndarray, ref: np.ndarray,
                     events: np.ndarray) -> np.ndarray:
    """Apply one timestep's input events, in arrival order, to the membrane potentials.

    For each event ``i`` and each non-refractory neuron ``j`` (``ref[j] == 0``):
    ``v[j] = clamp(v[j] + (W[i, j] << weight_shift), vmin, vmax)``. Saturation happens after
    every single addition, so the result depends on event order exactly as the hardware's does.

    Returns the new potentials; ``v`` is not modified.
    """
    v = v.copy()
    if len(events) == 0:
        return v
    active = ref == 0
    rows = weights[np.asarray(events)][:, active] << layer.weight_shift  # (E, active)
    partial = v[active] + np.cumsum(rows, axis=0)           # exact while nothing saturates
    # Neurons whose running sum never leaves the range saturate nowhere: their result is the
    # plain sum. The others replay the events one by one with a clamp after each addition.
    bad = ((partial < layer.vmin) | (partial > layer.vmax)).any(axis=0)
    result = partial[-1]
    if bad.any():
        acc = v[active][bad]
        for row in rows[:, bad]:
            acc = np.clip(acc + row, layer.vmin, layer.vmax)
        result[bad] = acc
    v[active] = result
    return v


def fire_step(layer: LayerIR, v: np.ndarray, ref: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leak, threshold and fire, reset and refractory, for every neuron at the end of a timestep.

    Returns ``(v, ref, spikes)`` with ``spikes`` a boolean vector.
    """
    refractory = ref > 0
    # Arithmetic shift rounds toward minus infinity; |leaked| <= |v|, so no saturation needed.
    leaked = v - (v >> layer.leak_shift) if layer.leak_shift else v
    spikes = ~refractory & (leaked >= layer.threshold)
    if layer.reset == "zero":
        after = np.where(spikes, 0, leaked)
    else:  # "subtract": leaked >= threshold > 0, so leaked - threshold cannot overflow
        after = np.where(spikes, leaked - layer.threshold, leaked)
    v_new = np.where(refractory, v, after)
    ref_new = np.where(refractory, ref - 1, np.where(spikes, layer.refractory, 0))
    return v_new, ref_new, spikes


def fire_adaptive(layer: LayerIR, v: np.ndarray, ref: np.ndarray, theta: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leak, threshold (``threshold + theta``) with optional hard WTA (:func:`.wta.hard_wta`),
    reset and refractory.

    Returns ``(v, ref, spikes)``.
    """
    refractory = ref > 0
    leaked = v - (v >> layer.leak_shift) if layer.leak_shift else v
    margin = leaked - (layer.threshold + theta)
    cand = ~refractory & (margin >= 0)
    spikes = hard_wta(cand, margin) if layer.inhibition == "wta" else cand
    if layer.inhibition == "wta" and spikes.any():
        v_new = np.zeros_like(v)
    elif layer.reset == "zero":
        v_new = np.where(refractory, v, np.where(spikes, 0, leaked))
    else:
        v_new = np.where(refractory, v, np.where(spikes, leaked - layer.threshold - theta,
                                                  leaked))
    ref_new = np.where(refractory, ref - 1, np.where(spikes, layer.refractory, 0))
    return v_new, ref_new, spikes
