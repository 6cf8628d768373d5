"""Connection pruning during learning: the cut after a column pass, and what a pruned row
costs the integration walk (docs/semantics.md, section 25)."""

from __future__ import annotations

import numpy as np

from ...ir import LayerIR

__all__ = ["prune_column", "row_cycles"]


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
