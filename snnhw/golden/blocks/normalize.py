"""Per-neuron weight normalisation: a fired neuron's weights rescaled toward a target sum
(docs/semantics.md)."""

from __future__ import annotations

import numpy as np

from ...ir import LayerIR

__all__ = ["normalize_column", "K_MAX"]

K_MAX = 2**24 - 1  # largest normalisation factor (Q16), the width of the hardware multiplier


def normalize_column(layer: LayerIR, column: np.ndarray, u: np.ndarray | int) -> np.ndarray:
    """Rescale one neuron's weights toward the sum ``normalize_target``:
    ``K = min((target << 16) // sum, K_MAX)``; ``w = min((w * K + u) >> 16, wmax)``.
    A neuron whose weights sum to 0 is left alone."""
    total = int(column.sum())
    if total == 0:
        return column
    k = min((layer.stdp.normalize_target << 16) // total, K_MAX)
    return np.minimum((column * k + u) >> 16, layer.wmax)
