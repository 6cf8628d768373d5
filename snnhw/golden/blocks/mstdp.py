"""Multiplicative STDP of shared kernels with stochastic rounding, and tap pruning
(docs/semantics.md, "Learning" and "Pruning")."""

from __future__ import annotations

import numpy as np

from ...ir_conv import DRAW_BITS, RATE_BITS
from .rng import PERIOD, SEQUENCE

__all__ = ["kernel_update", "convergence"]


def kernel_update(w: np.ndarray, alive: np.ndarray, pre: np.ndarray, t_post: int,
                  rates: tuple[int, int], weight_bits: int, gen_pos: int,
                  prune_threshold: int | None, rate_bits: int = RATE_BITS,
                  draw_bits: int = DRAW_BITS) -> int:
    """Update one winner's kernel ``w`` ``(C, K, K)`` in place; returns the generator's new
    position.

    Each alive tap, in raster order ``(c, i, j)``, draws the generator's next value ``u``
    (16 bits). With ``p = a * w * (2**B - w)`` (``a`` = a+ where the tap's input ``pre``
    spiked no later than ``t_post``, else a-) and ``s = rate_bits + B - draw_bits``, the
    change is ``d = ((p >> s) + u) >> draw_bits``: the exact ``p / 2**(rate_bits + B)`` with
    its fraction cut to 16 bits, rounded up with that probability. Potentiation adds ``d``
    (saturating at ``2**B - 1``), depression subtracts it (at 0). With ``prune_threshold``
    a tap left at or below it is pruned: its weight becomes 0 and it is no longer alive.
    """
    idx = np.flatnonzero(alive)
    n = len(idx)
    u = SEQUENCE[(gen_pos + 1 + np.arange(n)) % PERIOD].astype(np.int64)
    flat = w.reshape(-1)
    old = flat[idx]
    ltp = pre.reshape(-1)[idx] <= t_post
    a = np.where(ltp, rates[0], rates[1])
    d = (((a * old * ((1 << weight_bits) - old)) >> (rate_bits + weight_bits - draw_bits)) + u
         ) >> draw_bits
    new = np.where(ltp, np.minimum(old + d, (1 << weight_bits) - 1), np.maximum(old - d, 0))
    if prune_threshold is not None:
        dead = new <= prune_threshold
        new[dead] = 0
        alive.reshape(-1)[idx[dead]] = False
    flat[idx] = new
    return (gen_pos + n) % PERIOD


def convergence(w: np.ndarray, weight_bits: int) -> float:
    """C = mean(w (1 - w)) with w in 0..1: 0 when every weight sits at 0 or 1."""
    x = w.astype(np.float64) / (1 << weight_bits)
    return float(np.mean(x * (1 - x)))
