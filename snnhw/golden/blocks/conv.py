"""Conv layers of non-leaky IF neurons, at most one spike each per image, and pooling
(docs/semantics.md, "Conv layer" and "Pool layer"). Spike maps hold times; ``T`` (the
number of timesteps) means no spike."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["windows", "conv_fire", "final_potentials", "pool_earliest"]


def windows(times: np.ndarray, kernel: int, padding: int, timesteps: int) -> np.ndarray:
    """``(C, Ho, Wo, K, K)`` view: the input times each output position's kernel sees, the
    border padded with no-spike."""
    padded = np.pad(times, ((0, 0), (padding, padding), (padding, padding)),
                    constant_values=timesteps)
    return sliding_window_view(padded, (kernel, kernel), axis=(1, 2))


def conv_fire(times: np.ndarray, weights: np.ndarray, threshold: int, padding: int,
              timesteps: int, pointwise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Spike times ``(F, Ho, Wo)`` of a conv layer and each spiking neuron's potential at its
    spike (0 elsewhere).

    Timestep ``t``: every input spike at ``t`` adds its kernel tap's weight to the potentials
    of the outputs whose window holds it; then each neuron that has not spiked and holds at
    least ``threshold`` spikes at ``t``. With ``pointwise`` inhibition a position spikes in at
    most one map: no map spikes where one already has, and of the maps that cross together
    only the one with the largest potential does (ties: the lowest map).
    """
    win = windows(times, weights.shape[-1], padding, timesteps)
    f = weights.shape[0]
    _, ho, wo = win.shape[:3]
    v = np.zeros((f, ho, wo), dtype=np.int64)
    out = np.full((f, ho, wo), timesteps, dtype=np.int64)
    at_spike = np.zeros((f, ho, wo), dtype=np.int64)
    for t in range(timesteps):
        v += np.einsum("cyxij,fcij->fyx", (win == t).astype(np.int64), weights)
        cross = (v >= threshold) & (out == timesteps)
        if pointwise:
            cross &= ~(out < timesteps).any(axis=0)
            best = np.where(cross, v, -1).argmax(axis=0)
            keep = np.zeros_like(cross)
            yy, xx = np.indices((ho, wo))
            keep[best, yy, xx] = cross[best, yy, xx]
            cross = keep
        out[cross] = t
        at_spike[cross] = v[cross]
    return out, at_spike


def final_potentials(times: np.ndarray, weights: np.ndarray, padding: int,
                     timesteps: int) -> np.ndarray:
    """``(F, Ho, Wo)`` potentials after the last timestep, nothing firing: the sum of the
    weights of every tap whose input spiked."""
    win = windows(times, weights.shape[-1], padding, timesteps)
    return np.einsum("cyxij,fcij->fyx", (win < timesteps).astype(np.int64), weights)


def pool_earliest(times: np.ndarray, size: int, stride: int, padding: int,
                  timesteps: int) -> np.ndarray:
    """Each window's earliest spike time (``T`` if none), windows ``size`` wide every
    ``stride``, the border padded with no-spike."""
    padded = np.pad(times, ((0, 0), (padding, padding), (padding, padding)),
                    constant_values=timesteps)
    win = sliding_window_view(padded, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return win.min(axis=(-2, -1))
