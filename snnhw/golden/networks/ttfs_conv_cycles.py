"""Cycle model of the conv core (docs/semantics.md, "Cycle model of the conv engine"): the
cycles of one run of :class:`snnhw.gateware.networks.ttfs_conv.TtfsConvCore`, counted from
the golden model's spike maps. The RTL's cycle counter equals it in every test.

A run clears the blocks' memories, then takes the image through the stages (a conv layer and
its pool) in order; a learning run stops after the learning layer and updates its winners'
kernels. Per stage and timestep ``t``:

* one cycle to take the timestep's first item, then per input event the cycles of its
  busiest lane: each lane walks the event's kernel rows that reach existing outputs on its
  own, ``max(1, its alive taps of the row in range)`` cycles a row (lanes hold maps
  ``f % P``; pruned taps cost nothing);
* firing layers: one cycle to drain, the crossings (``RESOLVE``: one per neuron that reached
  its threshold at ``t``, plus 4, or 1 with none; with pointwise inhibition plus 5), and with
  pointwise inhibition the spikes (``EMIT``: one per spike, plus 4, or 1 with none); a spike
  waits while the pool stage works: ``max(1, windows holding it)`` cycles instead of one;
* the learning layer's k-winners block takes the timestep's end after its passes: 1 cycle,
  plus ``n + 2`` per pass over the ``n`` spikes it listed.

The STDP unit costs, per winner, ``1 + sum over kernel rows (c, i) of max(1, alive taps of
the row) + TAIL``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from numba import njit

__all__ = ["RunCycles", "run_cycles", "ideal_cycles", "row_cost", "crossings_per_step",
           "RESOLVE_TAIL", "EMIT_TAIL", "STDP_SETUP", "STDP_TAIL", "CLEAR_EXTRA"]

RESOLVE_TAIL = 4  #: the resolve pipeline's stages after the last crossing (R1, RQ, R2, and the
#: phase change); pointwise inhibition adds R3
EMIT_TAIL = 4  #: the emit pipeline's stages after the last spike (E1, EQ, E2, the phase
#: change)
STDP_SETUP = 1  #: per winner: read the winner and its first mask row
STDP_TAIL = 4  #: per winner: the update pipeline drains
CLEAR_EXTRA = 2  #: the run's first cycle (start pulses) and the phase change after the sweeps


@dataclass(frozen=True)
class RunCycles:
    """What the core counts in one run, and where its cycles went (``parts``, not counted by
    the core: ``(layer name, phase) -> cycles``, summing to ``cycles``; the layer is ``""``
    for the run's clear and STDP phases). Phases: ``clear``, ``items`` (a timestep's first
    item), ``rows`` (the kernel rows of events with an alive tap in range: each event's
    busiest lane), ``empty_rows`` (events without one: a cycle per row), ``drain``,
    ``resolve``, ``emit``, ``pool`` (a spike's cycles beyond its first while the pool checks
    its windows), ``winners``, ``stage_end``, ``stdp``."""

    cycles: int
    updates: int  #: synaptic updates (membrane read-add-writes)
    weight_updates: int  #: taps the STDP unit updated
    parts: dict[tuple[str, str], int] = field(default_factory=dict, compare=False)
    layer_updates: dict[str, int] = field(default_factory=dict, compare=False)  #: by layer


def lane_counts(alive: np.ndarray, lanes: int) -> np.ndarray:
    """``(P, C, K, K)``: per lane, the maps ``f % P == lane`` whose tap is alive."""
    f = alive.shape[0]
    out = np.zeros((lanes,) + alive.shape[1:], dtype=np.int64)
    for lane in range(min(lanes, f)):
        out[lane] = alive[lane::lanes].sum(axis=0)
    return out


@njit(cache=True, nogil=True)
def _rows(times, counts, padding, ho, wo, timesteps):
    """Per timestep the cycles of its events' kernel rows, the updates, and the cycles of
    the events without an alive tap in range."""
    c_n, h, w = times.shape
    lanes, _, k, _ = counts.shape
    # pre[l, c, i, b]: alive count of columns < b
    pre = np.zeros((lanes, c_n, k, k + 1), dtype=np.int64)
    for ln in range(lanes):
        for c in range(c_n):
            for i in range(k):
                for j in range(k):
                    pre[ln, c, i, j + 1] = pre[ln, c, i, j] + counts[ln, c, i, j]
    rows = np.zeros(timesteps, dtype=np.int64)
    lane = np.zeros(lanes, dtype=np.int64)
    updates = 0
    empty = 0
    for c in range(c_n):
        for y in range(h):
            yp = y + padding
            i_lo, i_hi = max(0, yp - ho + 1), min(k - 1, yp)
            for x in range(w):
                t = times[c, y, x]
                if t >= timesteps:
                    continue
                xp = x + padding
                j_lo, j_hi = max(0, xp - wo + 1), min(k - 1, xp)
                lane[:] = 0
                taps = 0
                for i in range(i_lo, i_hi + 1):
                    for ln in range(lanes):
                        n = pre[ln, c, i, j_hi + 1] - pre[ln, c, i, j_lo]
                        taps += n
                        lane[ln] += max(1, n)
                cost = lane.max()
                rows[t] += cost
                updates += taps
                if taps == 0:
                    empty += cost
    return rows, updates, empty


def _row_cost(times, alive, padding, out_hw, timesteps, lanes):
    return _rows(np.ascontiguousarray(times, dtype=np.int64), lane_counts(alive, lanes),
                 int(padding), int(out_hw[0]), int(out_hw[1]), int(timesteps))


def row_cost(times: np.ndarray, alive: np.ndarray, padding: int, out_hw: tuple[int, int],
             timesteps: int, lanes: int) -> tuple[np.ndarray, int]:
    """``(cycles of kernel rows per timestep, synaptic updates)`` of a conv layer's input
    ``times`` ``(C, H, W)`` with alive taps ``alive`` ``(F, C, K, K)``: each event costs its
    busiest lane's cycles, a lane walking the event's rows on its own at ``max(1, its alive
    taps in range)`` cycles a row."""
    return _row_cost(times, alive, padding, out_hw, timesteps, lanes)[:2]


@njit(cache=True, nogil=True)
def _crossings(times, weights, threshold, padding, ho, wo, timesteps):
    c_n, h, w = times.shape
    f_n, _, k, _ = weights.shape
    v = np.zeros((f_n, ho, wo), dtype=np.int64)
    crossed = np.zeros(timesteps, dtype=np.int64)
    for t in range(timesteps):
        for c in range(c_n):
            for y in range(h):
                for x in range(w):
                    if times[c, y, x] != t:
                        continue
                    yp, xp = y + padding, x + padding
                    for i in range(max(0, yp - ho + 1), min(k - 1, yp) + 1):
                        for j in range(max(0, xp - wo + 1), min(k - 1, xp) + 1):
                            for f in range(f_n):
                                old = v[f, yp - i, xp - j]
                                new = old + weights[f, c, i, j]
                                v[f, yp - i, xp - j] = new
                                if old < threshold <= new:
                                    crossed[t] += 1
    return crossed


def crossings_per_step(times: np.ndarray, weights: np.ndarray, threshold: int, padding: int,
                       out_hw: tuple[int, int], timesteps: int) -> np.ndarray:
    """Per timestep, the neurons whose potential reaches ``threshold`` in it (each neuron
    once: potentials only grow). Pruned taps have weight 0 and add nothing."""
    return _crossings(np.ascontiguousarray(times, dtype=np.int64),
                      np.ascontiguousarray(weights, dtype=np.int64), int(threshold),
                      int(padding), int(out_hw[0]), int(out_hw[1]), int(timesteps))


def _windows(y: np.ndarray, x: np.ndarray, pool) -> np.ndarray:
    """Pool windows holding each position (y, x)."""
    def span(p, n_out):
        q = p + pool.padding
        lo = np.maximum(0, -((pool.size - 1 - q) // pool.stride))
        hi = np.minimum(n_out - 1, q // pool.stride)
        return np.maximum(0, hi - lo + 1)
    return span(y, pool.out_shape[1]) * span(x, pool.out_shape[2])


def _emit(out: np.ndarray, t: int, pool) -> int:
    """Cycles the spikes of timestep ``t`` take to leave: one each, or their windows."""
    f, y, x = np.nonzero(out == t)
    if pool is None:
        return len(f)
    return int(np.maximum(1, _windows(y, x, pool)).sum())


def run_cycles(net, weights: dict, alive: dict, maps: list[np.ndarray], *,
               learn: int | None = None, learn_out: np.ndarray | None = None,
               winners=()) -> RunCycles:
    """Cycles of one run: inference when ``learn`` is None (``maps``: the golden model's
    spike maps of every layer, :func:`~.ttfs_conv.forward`), else learning in conv layer
    ``learn`` (``maps`` up to its input, ``learn_out`` its output, ``winners`` as
    :func:`~...blocks.kwta.k_winners` gives them). ``weights`` and ``alive`` by layer index,
    as the image finds them."""
    T, P = net.timesteps, net.lanes
    stages = []
    for layer in net.layers:
        if layer.kind == "conv":
            stages.append([layer, None])
        else:
            stages[-1][1] = layer
    last_fires = net.features != "max_potential"
    parts: Counter[tuple[str, str]] = Counter()
    # clear: every block's sweep at once
    depths = []
    for conv, pool in stages:
        fl = -(-conv.maps // P)
        depths.append(fl * conv.out_shape[1] * conv.out_shape[2])
        if pool is not None:
            depths.append(pool.out_shape[1] * pool.out_shape[2])
    if learn is not None:
        c, h, w = net.layers[learn].in_shape
        depths.append(h * w)
    parts["", "clear"] = CLEAR_EXTRA + max(depths)
    layer_updates = {}
    for n, (conv, pool) in enumerate(stages):
        name = conv.name
        learning = learn == conv.index
        fires = n < len(stages) - 1 or last_fires or learning
        times = maps[conv.index]
        rows, layer_updates[name], empty = _row_cost(times, alive[conv.index], conv.padding,
                                                     conv.out_shape[1:], T, P)
        parts[name, "items"] += T  # the first item of each timestep
        parts[name, "rows"] += int(rows.sum()) - empty
        parts[name, "empty_rows"] += empty
        if not fires:
            parts[name, "stage_end"] += 1
            break
        out = learn_out if learning else maps[conv.index + 1]
        cross = crossings_per_step(times, weights[conv.index], conv.threshold, conv.padding,
                                   conv.out_shape[1:], T)
        win_t = np.array([w[3] for w in winners], dtype=np.int64)
        listed_before = 0
        for t in range(T):
            parts[name, "drain"] += 1
            spikes = int(np.count_nonzero(out == t))
            emit = spikes if learning else _emit(out, t, pool)
            if conv.pointwise_inhibition:
                parts[name, "resolve"] += cross[t] + RESOLVE_TAIL + 1 if cross[t] else 1
                parts[name, "emit"] += spikes + EMIT_TAIL if spikes else 1
                parts[name, "pool"] += emit - spikes
            elif cross[t]:  # each crossing is a spike, emitted as it is resolved
                parts[name, "resolve"] += spikes + RESOLVE_TAIL
                parts[name, "pool"] += emit - spikes
            else:
                parts[name, "resolve"] += 1
            if learning:  # the k winners' passes before the eot is taken
                won = int(np.count_nonzero(win_t == t))
                if listed_before < conv.winners and spikes:
                    passes = won + (1 if listed_before + won < conv.winners else 0)
                    parts[name, "winners"] += 1 + passes * (spikes + 2)
                else:
                    parts[name, "winners"] += 1
                listed_before += won
        parts[name, "stage_end"] += 1 if learning or pool is None else 3
        if learning:
            break
    weight_updates = 0
    if learn is not None:
        parts["", "stdp"] += 1  # the learning phase's start
        a = alive[learn]
        per_row = a.sum(axis=3)  # (F, C, K)
        for f, *_ in winners:
            taps = int(a[f].sum())
            weight_updates += taps
            parts["", "stdp"] += STDP_SETUP + int(np.maximum(1, per_row[f]).sum()) + STDP_TAIL
        parts["", "stdp"] += 1  # the learner's end is seen a cycle later
    parts = {k: int(v) for k, v in parts.items()}
    return RunCycles(sum(parts.values()), sum(layer_updates.values()), int(weight_updates),
                     parts, layer_updates)


def ideal_cycles(updates: int, lanes: int) -> float:
    """The ideal of docs/semantics.md: every lane does a synaptic update every cycle."""
    return updates / lanes
