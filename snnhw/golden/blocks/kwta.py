"""k-winner-take-all with lateral inhibition, for learning in conv layers
(docs/semantics.md, "Winners")."""

from __future__ import annotations

import numpy as np

__all__ = ["k_winners"]


def k_winners(times: np.ndarray, at_spike: np.ndarray, k: int, radius: int,
              timesteps: int) -> list[tuple[int, int, int, int]]:
    """Up to ``k`` winners ``(map, y, x, time)`` among the spiking neurons of ``times``
    ``(F, H, W)``, in the order they win: the earliest spike first, then the larger potential
    at the spike, then the lower ``(map, y, x)``. A winner's map cannot win again, and no map
    can win at a position within Chebyshev distance ``radius`` of an earlier winner."""
    f, y, x = np.nonzero(times < timesteps)
    t = times[f, y, x]
    order = np.lexsort((x, y, f, -at_spike[f, y, x], t))
    used = np.zeros(times.shape[0], dtype=bool)
    blocked = np.zeros(times.shape[1:], dtype=bool)
    winners = []
    for i in order:
        if len(winners) == k:
            break
        if used[f[i]] or blocked[y[i], x[i]]:
            continue
        winners.append((int(f[i]), int(y[i]), int(x[i]), int(t[i])))
        used[f[i]] = True
        blocked[max(0, y[i] - radius):y[i] + radius + 1,
                max(0, x[i] - radius):x[i] + radius + 1] = True
    return winners
