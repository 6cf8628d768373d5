"""Spike-timing-dependent plasticity: the post-spike column update (trace STDP), the
pre-spike row update (pair STDP) and the rounding offsets of both (docs/semantics.md)."""

from __future__ import annotations

import numpy as np

from ...ir import LayerIR
from .rng import Generators

__all__ = ["rounding_offsets", "stdp_column", "depress_row"]


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


def stdp_column(layer: LayerIR, column: np.ndarray, trace: np.ndarray, eta: int,
                u: np.ndarray | int, eta_p: int | None = None) -> np.ndarray:
    """Post-spike update of one neuron's weights: ``w + ((x - x_tar) * rate + u) >> 16``,
    clipped to ``0..wmax``; ``rate`` is ``eta_p`` (default ``eta``) where ``x >= x_tar``,
    else ``eta``."""
    x_tar = layer.stdp.x_tar
    rate = np.where(trace >= x_tar, eta if eta_p is None else eta_p, eta)
    dw = ((trace - x_tar) * rate + u) >> 16
    return np.clip(column + dw, 0, layer.wmax)


def depress_row(layer: LayerIR, row: np.ndarray, post: np.ndarray, u: np.ndarray | int
                ) -> np.ndarray:
    """Pre-spike update of one input's weights (pair STDP):
    ``w - ((y * eta_pre + u) >> 16)``, clipped to ``0..wmax``; ``y`` is each neuron's
    post-synaptic trace."""
    return np.clip(row - ((post * layer.stdp.eta_pre + u) >> 16), 0, layer.wmax)
