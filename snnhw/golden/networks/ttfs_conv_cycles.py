"""Cycle model of the event-driven conv engine (docs/semantics.md, "Cycle model").

The engine has P lanes, each doing one synaptic update (read a membrane, add an alive tap's
weight, write it back) per cycle. Per image and conv layer:

- **integration**: each input spike, in time order, updates the membranes of every map at
  every alive tap whose output position lies inside the layer: ``U`` updates in
  ``max(1, ceil(U / P))`` cycles;
- **firing**: ``STEP_CYCLES`` per timestep (the pipeline drains, then the crossings of the
  timestep are resolved), and one cycle per output spike (sent on to the next layer);
- a pool layer is a stage of the spike stream: no cycles of its own; the readout's global
  max of the last layer's potentials is tracked as they are written: none either;
- **learning** (the layer being trained): one cycle per output spike to rank the winners,
  then per winner ``max(1, ceil(A / P)) + STDP_TAIL`` cycles, ``A`` its kernel's alive taps.

Pruned taps are skipped by the engine's tap lists, so they cost nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["STEP_CYCLES", "STDP_TAIL", "integration_cycles", "layer_cycles", "stdp_cycles"]

STEP_CYCLES = 4  #: per timestep and conv layer: pipeline drain and crossing resolution
STDP_TAIL = 4  #: per winner: the read-modify-write pipeline of its last taps


@njit(cache=True, nogil=True)
def _integration(times, alive_sum, padding, ho, wo, timesteps, lanes):
    """(cycles, updates) of one conv layer's integration. ``alive_sum[c, i, j]`` counts the
    maps whose tap (c, i, j) is alive."""
    c_n, h, w = times.shape
    k = alive_sum.shape[1]
    # pre[c, a, b]: alive taps of channel c with kernel row < a and column < b
    pre = np.zeros((c_n, k + 1, k + 1), dtype=np.int64)
    for c in range(c_n):
        for i in range(k):
            for j in range(k):
                pre[c, i + 1, j + 1] = (alive_sum[c, i, j] + pre[c, i, j + 1] + pre[c, i + 1, j]
                                        - pre[c, i, j])
    cycles = 0
    updates = 0
    for c in range(c_n):
        for y in range(h):
            yp = y + padding
            i_lo = max(0, yp - ho + 1)
            i_hi = min(k, yp + 1)
            for x in range(w):
                if times[c, y, x] >= timesteps:
                    continue
                xp = x + padding
                j_lo = max(0, xp - wo + 1)
                j_hi = min(k, xp + 1)
                u = 0
                if i_hi > i_lo and j_hi > j_lo:
                    u = (pre[c, i_hi, j_hi] - pre[c, i_lo, j_hi] - pre[c, i_hi, j_lo]
                         + pre[c, i_lo, j_lo])
                updates += u
                cycles += max(1, (u + lanes - 1) // lanes)
    return cycles, updates


def integration_cycles(times: np.ndarray, alive: np.ndarray, padding: int,
                       out_hw: tuple[int, int], timesteps: int,
                       lanes: int) -> tuple[int, int]:
    """``(cycles, synaptic updates)`` of integrating the input spike ``times`` ``(C, H, W)``
    into a conv layer with alive taps ``alive`` ``(F, C, K, K)``."""
    return _integration(np.ascontiguousarray(times, dtype=np.int64),
                        alive.sum(axis=0).astype(np.int64), int(padding), int(out_hw[0]),
                        int(out_hw[1]), int(timesteps), int(lanes))


def layer_cycles(times_in: np.ndarray, times_out: np.ndarray | None, alive: np.ndarray,
                 padding: int, out_hw: tuple[int, int], timesteps: int,
                 lanes: int) -> tuple[int, int]:
    """``(cycles, updates)`` of one conv layer on one image: integration, and firing when the
    layer fires (``times_out``; None for the readout layer, which only integrates)."""
    cycles, updates = integration_cycles(times_in, alive, padding, out_hw, timesteps, lanes)
    if times_out is not None:
        cycles += STEP_CYCLES * timesteps + int(np.count_nonzero(times_out < timesteps))
    return cycles, updates


def stdp_cycles(spikes: int, winners: np.ndarray, alive: np.ndarray, lanes: int) -> int:
    """Cycles of ranking ``spikes`` output spikes and updating the kernels of ``winners``
    (maps in column 0)."""
    per_map = alive.reshape(alive.shape[0], -1).sum(axis=1)
    taps = per_map[np.asarray(winners, dtype=np.int64).reshape(-1, 4)[:, 0]]
    return int(spikes + np.sum(np.maximum(1, -(-taps // lanes)) + STDP_TAIL))
