"""Fast path of :mod:`.diehl_cook`: the same arithmetic, compiled with numba.

:func:`run_sample_fast` is a drop-in for :func:`.diehl_cook.run_sample`; ``tests/golden`` prove the
two bit-identical (weights, thresholds, generator states and spike counts). The readable NumPy
path states the semantics; this one is for training at thousands of samples per second.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ...ir import COL_TAIL, ENC_TAIL, END_TAIL, FIRE_DRAIN, NORM_FIXED, LayerIR
from ..blocks.normalize import K_MAX
from ..blocks.rng import PERIOD, SEQUENCE
from .diehl_cook import LearningState, pruning_step

__all__ = ["run_sample_fast", "run_samples_fast"]

_ROUNDING = {"truncate": 0, "nearest": 1, "stochastic": 2}


# The operations that quantize. With integer arrays they are the hardware's arithmetic; with
# float arrays (the float reference, for measuring quantization loss) they are exact. Everything
# else in the kernel, including every random draw, is the same for both.

def _weighted(w, ws):  # what one input spike adds to a membrane
    raise NotImplementedError  # pragma: no cover - replaced by the overload


def _leak(v, s):
    raise NotImplementedError  # pragma: no cover


def _stdp_step(a, u):  # a = (x - x_tar) * eta
    raise NotImplementedError  # pragma: no cover


def _decay(theta, s):
    raise NotImplementedError  # pragma: no cover


def _rescale(w, target, total, u):
    raise NotImplementedError  # pragma: no cover


@overload(_weighted)
def _weighted_impl(w, ws):
    if isinstance(w, types.Integer):
        return lambda w, ws: w << ws
    return lambda w, ws: w * (1 << ws)


@overload(_leak)
def _leak_impl(v, s):
    if isinstance(v, types.Integer):
        return lambda v, s: v - (v >> s)
    return lambda v, s: v - v / (1 << s)


@overload(_stdp_step)
def _stdp_step_impl(a, u):
    if isinstance(a, types.Integer):
        return lambda a, u: (a + u) >> 16
    return lambda a, u: a / 65536.0


@overload(_decay)
def _decay_impl(theta, s):
    if isinstance(theta, types.Integer):
        return lambda theta, s: theta >> s
    return lambda theta, s: theta / (1 << s)


@overload(_rescale)
def _rescale_impl(w, target, total, u):
    if isinstance(w, types.Integer):
        return lambda w, target, total, u: (w * min((target << 16) // total, K_MAX) + u) >> 16
    return lambda w, target, total, u: w * target / total


@njit(cache=True, nogil=True)
def _present(w, theta, pos, seq, pixels, params, table, intensity, learn, eta,  # noqa: C901
             alive, prune, prune_thr):
    (timesteps, steps, rate_scale, ws, vmin, vmax, leak_shift, thr0, refractory, wta, reset_zero,
     theta_inc, theta_max, theta_decay, has_stdp, rounding, x_tar, norm_target, wmax,
     lanes, npl, nig, padded_out, div_bits, eta_pre, adaptive, pot_shift,
     pruning, chunk, enc_tail, fire_drain, col_tail, norm_fixed, end_tail) = params
    prune = prune and learn and pruning
    n_in, n_out = w.shape
    v = np.zeros(n_out, dtype=w.dtype)
    ref = np.zeros(n_out, dtype=np.int64)
    last = np.full(n_in, -1, dtype=np.int64)
    last_post = np.full(n_out, -1, dtype=np.int64)
    counts = np.zeros(n_out, dtype=np.int64)
    margin = np.zeros(n_out, dtype=w.dtype)
    spikes = np.zeros(n_out, dtype=np.bool_)
    u = np.zeros(n_in, dtype=np.int64)
    nz = np.flatnonzero(pixels)
    rate = rate_scale * intensity
    # cycle model of the learning core (learning_cycles.presentation_cycles, inline)
    groups = (len(nz) + lanes - 1) // lanes
    enc_d = groups + enc_tail if groups else 1
    cyc = max(npl, nig)
    go = 1
    ideal = 0  # learning_cycles.ideal_presentation_cycles, inline
    most = 0  # the most spikes of any neuron so far (adaptive potentiation)
    for t in range(steps):
        n_ev = 0
        if t == timesteps:  # rest: no input from here on
            nz = nz[:0]
            enc_d = 1
        # 1. encode (the k-th non-zero pixel draws from generator k) and 2. integrate, input by
        # input in ascending order
        integ = 0  # integration cycles of this timestep
        alive_ev = 0  # alive synapses integrated in it (pruning)
        for k in range(len(nz)):
            i = nz[k]
            p = pos[k] + 1
            if p == PERIOD:
                p = 0
            pos[k] = p
            if seq[p] < pixels[i] * rate:
                n_ev += 1
                if pruning:
                    c, a = _row_cycles(alive, i, lanes, npl, chunk, n_out)
                    integ += c
                    alive_ev += a
                else:
                    integ += npl
                last[i] = t
                for j in range(n_out):
                    if ref[j] == 0:
                        x = v[j] + _weighted(w[i, j], ws)
                        v[j] = vmin if x < vmin else (vmax if x > vmax else x)
                if learn and has_stdp and eta_pre:
                    # pair STDP: depress the row just integrated by the post traces
                    for j in range(n_out):
                        if pruning and not alive[i, j]:
                            continue  # pruned: stays 0, no draw
                        y = table[min(t - last_post[j], 255)] if last_post[j] >= 0 else 0
                        if rounding == 2:
                            q = pos[2 * n_in + j] + 1
                            if q == PERIOD:
                                q = 0
                            pos[2 * n_in + j] = q
                            uj = seq[q]
                        else:
                            uj = 0 if rounding == 0 else 1 << 15
                        nw = w[i, j] - _stdp_step(y * eta_pre, uj)
                        w[i, j] = 0 if nw < 0 else (wmax if nw > wmax else nw)
        # 3. leak and fire
        any_spike = False
        best = -1
        for j in range(n_out):
            leaked = _leak(v[j], leak_shift) if leak_shift else v[j]
            margin[j] = leaked - (thr0 + theta[j])
            cand = ref[j] == 0 and margin[j] >= 0
            spikes[j] = False
            if ref[j] > 0:
                ref[j] -= 1
                continue
            if wta:
                v[j] = leaked
                if cand and (best < 0 or margin[j] > margin[best]):
                    best = j
            else:
                if cand:
                    spikes[j] = True
                    any_spike = True
                    v[j] = 0 if reset_zero else margin[j]
                    ref[j] = refractory
                else:
                    v[j] = leaked
        if wta and best >= 0:
            spikes[best] = True
            any_spike = True
            v[:] = 0
            ref[best] = refractory
        visible = go + 1 + enc_d
        w_end = max(cyc, visible)
        if t + 1 < steps:
            go = max(visible, w_end + 1)
        if pruning and n_ev:
            integ += 1  # fetching the first row's bitmap words
        cyc = w_end + 1 + (integ + 1) + npl + fire_drain + 1
        ideal += ((alive_ev + lanes - 1) // lanes if pruning else n_ev * npl) + npl
        if any_spike:
            cyc += npl + (nig + col_tail if learn else 0)
            ideal += nig if learn else 0
        if not any_spike:
            continue
        for j in range(n_out):
            if spikes[j]:
                counts[j] += 1
                last_post[j] = t
                most = max(most, counts[j])
        if not learn:
            continue
        eta_p = min((eta * most) >> pot_shift, 0xFFFF) if adaptive else eta
        # 4. learn, for each neuron that fired, ascending
        for j in range(n_out):
            if not spikes[j]:
                continue
            th = theta[j] + theta_inc
            theta[j] = theta_max if th > theta_max else th
            if not has_stdp:
                continue
            _offsets(u, pos, seq, rounding, alive, j, pruning)
            for i in range(n_in):
                if pruning and not alive[i, j]:
                    continue  # pruned: never updated
                x = table[min(t - last[i], 255)] if last[i] >= 0 else 0
                nw = w[i, j] + _stdp_step((x - x_tar) * (eta_p if x >= x_tar else eta), u[i])
                nw = 0 if nw < 0 else (wmax if nw > wmax else nw)
                if prune and nw <= prune_thr:
                    alive[i, j] = False
                    nw = 0
                w[i, j] = nw
    if learn:
        cyc += npl + 1
        if has_stdp and norm_target:
            n_fired = 0
            for j in range(n_out):
                if counts[j] > 0:
                    n_fired += 1
            cyc += padded_out + 1 + n_fired * (2 * nig + div_bits + norm_fixed)
            ideal += n_fired * 2 * nig
        for j in range(n_out):
            theta[j] -= _decay(theta[j], theta_decay)
        if has_stdp and norm_target:
            for j in range(n_out):
                if counts[j] == 0:
                    continue
                _offsets(u, pos, seq, rounding, alive, j, pruning)
                total = w[0, j] * 0
                for i in range(n_in):
                    total += w[i, j]
                if total == 0:
                    continue
                for i in range(n_in):
                    if pruning and not alive[i, j]:
                        continue
                    nw = _rescale(w[i, j], norm_target, total, u[i])
                    nw = wmax if nw > wmax else nw
                    if prune and nw <= prune_thr:
                        alive[i, j] = False
                        nw = 0
                    w[i, j] = nw
    return counts, cyc + 1 + end_tail, ideal


@njit(cache=True, nogil=True)
def _row_cycles(alive, i, lanes, npl, chunk, n_out):
    """learning.row_cycles, inline: the slowest lane's sum over its words of max(1, alive);
    and the row's alive synapses."""
    most = 0
    alive_total = 0
    for b in range(lanes):
        total = 0
        for c0 in range(0, npl, chunk):
            pop = 0
            for k in range(c0, min(c0 + chunk, npl)):
                j = k * lanes + b
                if j < n_out and alive[i, j]:
                    pop += 1
            total += max(pop, 1)
            alive_total += pop
        most = max(most, total)
    return most, alive_total


@njit(cache=True, nogil=True)
def _offsets(u, pos, seq, rounding, alive, j, pruning):
    """Rounding offsets of a column pass over neuron ``j``; with pruning only alive synapses
    draw (the others get 0)."""
    if rounding == 0:
        u[:] = 0
    elif rounding == 1:
        u[:] = 1 << 15
    else:
        n = len(u)  # rounding generators are pos[n:2n]
        for i in range(n):
            if pruning and not alive[i, j]:
                u[i] = 0
                continue
            p = pos[n + i] + 1
            if p == PERIOD:
                p = 0
            pos[n + i] = p
            u[i] = seq[p]


def _params(layer: LayerIR) -> tuple:
    s = layer.stdp
    enc = layer.encoder
    return (enc.timesteps, enc.steps, enc.rate_scale, layer.weight_shift, layer.vmin, layer.vmax,
            layer.leak_shift, layer.threshold, layer.refractory,
            layer.inhibition == "wta", layer.reset == "zero", layer.theta_increment,
            layer.theta_max, layer.theta_decay_shift, s is not None,
            _ROUNDING[s.rounding] if s else 0, s.x_tar if s else 0,
            s.normalize_target if s else 0, layer.wmax, layer.lanes, layer.npl,
            layer.nig, layer.padded_out,
            layer.dividend_bits,
            s.eta_pre if s else 0, s.adaptive if s else False,
            s.potentiation_shift if s else 0, layer.pruning is not None,
            layer.pruning.chunk_bits if layer.pruning else 1,
            # the RTL's pipeline depths: parameters, not globals, which numba's cache would
            # keep from an earlier version of snnhw/ir.py
            ENC_TAIL, FIRE_DRAIN, COL_TAIL, NORM_FIXED, END_TAIL)


_NO_ALIVE = np.zeros((1, 1), dtype=np.bool_)


def run_sample_fast(layer: LayerIR, state: LearningState, image: np.ndarray, *, learn: bool,
                    eta: int = 0, prune: bool = False) -> tuple[np.ndarray, int, int, int]:
    """Same contract and results as :func:`.diehl_cook.run_sample`, plus the learning core's busy
    cycles for the sample (all presentations) from the cycle model, and the ideal cycles of
    the same work (:func:`.diehl_cook_cycles.ideal_presentation_cycles`)."""
    params = _params(layer)
    alive = state.alive if state.alive is not None else _NO_ALIVE
    table = (layer.stdp.trace_table if layer.stdp is not None
             else np.zeros(256, dtype=np.int64))
    pixels = np.ascontiguousarray(image, dtype=np.int64).reshape(-1)
    enc = layer.encoder
    cycles = ideal = 0
    for attempt in range(enc.max_tries):
        counts, c, i = _present(state.weights, state.theta, state.gens.pos, SEQUENCE, pixels,
                                params, table, enc.intensity + attempt, learn, eta, alive,
                                prune, state.prune_threshold)
        cycles += c
        ideal += i
        if counts.sum() >= enc.min_spikes:
            break
    return counts, attempt + 1, cycles, ideal


def run_samples_fast(layer: LayerIR, state: LearningState, images: np.ndarray, *,
                     learn: bool, first_sample: int = 0, progress=None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run many samples in order. ``eta`` follows the schedule from sample index
    ``first_sample``. Returns spike counts ``(n, n_out)``, presentations ``(n,)``, the
    learning core's busy cycles ``(n,)`` and the ideal cycles ``(n,)``.

    ``progress``, if given, is called with the number of samples just finished.
    """
    n = len(images)
    counts = np.zeros((n, layer.n_out), dtype=np.int64)
    tries = np.zeros(n, dtype=np.int64)
    cycles = np.zeros(n, dtype=np.int64)
    ideal = np.zeros(n, dtype=np.int64)
    for s in range(n):
        eta = layer.stdp.eta_at(first_sample + s) if (learn and layer.stdp) else 0
        prune = pruning_step(layer, state, first_sample + s, learn=learn)
        counts[s], tries[s], cycles[s], ideal[s] = run_sample_fast(
            layer, state, images[s], learn=learn, eta=eta, prune=prune)
        if progress is not None and (s + 1) % 100 == 0:
            progress(100)
    if progress is not None and n % 100:
        progress(n % 100)
    return counts, tries, cycles, ideal
