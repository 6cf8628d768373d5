"""On-chip rate encoder: a sample"s pixels become input spikes, one timestep at a time
(docs/semantics.md, the learning network's step 1)."""

from __future__ import annotations

import numpy as np

from ...ir import LayerIR
from .rng import Generators

__all__ = ["encode_step"]


def encode_step(layer: LayerIR, gens: Generators, pixels: np.ndarray, nonzero: np.ndarray,
                intensity: int) -> np.ndarray:
    """Input spikes of one timestep, ascending. The k-th non-zero pixel draws once from
    encoder generator k (list slot k), so P consecutive slots sit in P different banks."""
    r = gens.draw(np.arange(len(nonzero)))
    return nonzero[r < pixels[nonzero] * (layer.encoder.rate_scale * intensity)]
