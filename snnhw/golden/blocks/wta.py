"""Winner-take-all inhibition: which of the neurons that reached threshold fires
(docs/semantics.md, the learning network's step 3)."""

from __future__ import annotations

import numpy as np

__all__ = ["hard_wta"]


def hard_wta(candidates: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Hard WTA: of the ``candidates`` (bool), only the one with the largest ``margin``
    (membrane above its threshold) fires, ties to the lowest index; none if there is no
    candidate. Returns the spike mask."""
    spikes = np.zeros(len(candidates), dtype=bool)
    if candidates.any():
        spikes[np.argmax(np.where(candidates, margin, np.iinfo(np.int64).min))] = True
    return spikes
