"""Fast path of the TTFS conv network's golden model: the same bits as :mod:`.ttfs_conv`,
computed event by event in numba.

The conv layer works as the event-driven engine of docs/semantics.md does: input spikes are
bucketed by timestep, each adds its kernel taps to the membranes it reaches (kernels are
stored flipped so that the innermost loop runs over contiguous memory), and after each
timestep the neurons that crossed their threshold spike. tests/test_ttfs_conv.py proves it
bit-identical to the readable path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...ir_conv import DRAW_BITS, RATE_BITS, ConvLayerIR, ConvNetworkIR, PoolLayerIR
from ..blocks.rng import PERIOD, SEQUENCE
from .ttfs_conv import ConvState

__all__ = ["encode", "forward", "learn_image", "features", "conv_fire", "final_potentials",
           "pool_earliest", "k_winners", "dog_filter", "threshold_of", "winner_taps",
           "features_of_times",
           "learn_times"]

@njit(cache=True, nogil=True)
def dog_filter(image, kernel, threshold):
    """On/off DoG responses; integers for the golden model, floats for the float
    reference. Rows are accumulated tap by tap over a zero-padded copy of the image, so the
    innermost loop runs along a row."""
    h, w = image.shape
    k = kernel.shape[0]
    c = k // 2
    padded = np.zeros((h + 2 * c, w + 2 * c), dtype=kernel.dtype)
    padded[c:c + h, c:c + w] = image
    r = np.zeros(w, dtype=kernel.dtype)
    out = np.zeros((2, h, w), dtype=kernel.dtype)
    for y in range(h):
        r[:] = 0
        for i in range(k):
            row = padded[y + i]
            for j in range(k):
                q = kernel[i, j]
                for x in range(w):
                    r[x] += q * row[x + j]
        for x in range(w):
            if r[x] > threshold:
                out[0, y, x] = r[x]
            elif -r[x] > threshold:
                out[1, y, x] = -r[x]
    return out


@njit(cache=True, nogil=True)
def _rank_latency(values, timesteps):
    flat = values.ravel()
    times = np.full(flat.size, timesteps, dtype=np.int64)
    top = flat.max()
    if top <= 0:
        return times.reshape(values.shape)
    if flat.size * 8 < top:  # few values over a wide range: rank them by sorting instead
        nz = np.empty(flat.size, dtype=np.int64)
        n = 0
        for q in range(flat.size):
            if flat[q] > 0:
                nz[n] = q
                n += 1
        vals = flat[nz[:n]]
        order = np.argsort(vals)
        i = n - 1
        while i >= 0:  # from the largest down; a run of equal values shares its rank
            j = i
            while j >= 0 and vals[order[j]] == vals[order[i]]:
                j -= 1
            t = (n - 1 - i) * timesteps // n
            for m in range(j + 1, i + 1):
                times[nz[order[m]]] = t
            i = j
        return times.reshape(values.shape)
    hist = np.zeros(top + 2, dtype=np.int64)
    for q in range(flat.size):
        if flat[q] > 0:
            hist[flat[q]] += 1
    greater = np.zeros(top + 2, dtype=np.int64)  # greater[u]: values above u
    for u in range(top - 1, 0, -1):
        greater[u] = greater[u + 1] + hist[u + 1]
    n = greater[1] + hist[1]
    for q in range(flat.size):
        if flat[q] > 0:
            times[q] = greater[flat[q]] * timesteps // n
    return times.reshape(values.shape)


@njit(cache=True, nogil=True)
def _encode(image, kernel, threshold, timesteps):
    return _rank_latency(dog_filter(image, kernel, threshold), timesteps)


def encode(net: ConvNetworkIR, image: np.ndarray) -> np.ndarray:
    """``(2, H, W)`` input spike times of one grey image, as :func:`.ttfs_conv.encode`. The
    responses fit 32 bits (``255 * sum(|kernel|)`` is below ``2**31`` for every allowed
    kernel), so the filter runs in int32."""
    enc = net.encoder
    return _encode(np.asarray(image, dtype=np.int32), enc.kernel.astype(np.int32),
                   np.int32(enc.threshold), enc.timesteps)


@njit(cache=True, nogil=True)
def _by_time(flat, timesteps):
    """Indices of the spikes in ``flat`` (times, ``T`` none) grouped by time, ascending within
    a time: (starts (T + 1,), indices)."""
    count = np.zeros(timesteps + 1, dtype=np.int64)
    for q in range(flat.size):
        if flat[q] < timesteps:
            count[flat[q] + 1] += 1
    starts = np.cumsum(count)
    idx = np.empty(starts[-1], dtype=np.int64)
    fill = starts[:-1].copy()
    for q in range(flat.size):
        if flat[q] < timesteps:
            idx[fill[flat[q]]] = q
            fill[flat[q]] += 1
    return starts, idx


@njit(cache=True, nogil=True)
def _events(times, timesteps):
    """Input spikes bucketed by time: (starts (T + 1,), c, y, x) in raster order per bucket."""
    _, h, w = times.shape
    starts, idx = _by_time(times.ravel(), timesteps)
    return starts, idx // (h * w), (idx // w) % h, idx % w


@njit(cache=True, nogil=True)
def _add_event(v, wt, c, yp, xp):
    """Add the taps of an input at padded position (yp, xp) to every membrane it reaches.
    ``v`` is (Ho, Wo, F) and ``wt`` the kernels flipped and transposed to (C, K, K, F), so
    the innermost loop runs over the maps, in contiguous memory."""
    ho, wo, f_n = v.shape
    k = wt.shape[1]
    y0 = yp - k + 1
    x0 = xp - k + 1
    for i in range(max(0, -y0), min(k, ho - y0)):
        for j in range(max(0, -x0), min(k, wo - x0)):
            for f in range(f_n):
                v[y0 + i, x0 + j, f] += wt[c, i, j, f]


@njit(cache=True, nogil=True)
def _add_event_watch(v, wt, c, yp, xp, threshold, done, mark, cand, n_cand):
    """:func:`_add_event` for the positions not yet done (their potentials no longer matter:
    nothing more can spike there), noting each where some map now holds at least
    ``threshold`` (once per timestep: ``mark``) in ``cand``; returns the new count."""
    ho, wo, f_n = v.shape
    k = wt.shape[1]
    y0 = yp - k + 1
    x0 = xp - k + 1
    for i in range(max(0, -y0), min(k, ho - y0)):
        y = y0 + i
        for j in range(max(0, -x0), min(k, wo - x0)):
            x = x0 + j
            if done[y, x]:  # its potentials can no longer matter
                continue
            top = v[y, x, 0] * 0
            for f in range(f_n):
                v[y, x, f] += wt[c, i, j, f]
                top = max(top, v[y, x, f])
            if top >= threshold and not mark[y, x]:
                mark[y, x] = True
                cand[n_cand] = y * wo + x
                n_cand += 1
    return n_cand


@njit(cache=True, nogil=True)
def _engine_weights(weights):
    """(F, C, K, K) kernels as the engine walks them: flipped, (C, K, K, F)."""
    return np.ascontiguousarray(weights[:, :, ::-1, ::-1].transpose(1, 2, 3, 0))


@njit(cache=True, nogil=True)
def _engine_setup(times, weights, padding):
    """The engine's kernels (:func:`_engine_weights`) and zeroed membranes (Ho, Wo, F)."""
    f_n, _, k, _ = weights.shape
    _, h, w = times.shape
    wt = _engine_weights(weights)
    return wt, np.zeros((h + 2 * padding - k + 1, w + 2 * padding - k + 1, f_n),
                        dtype=wt.dtype)


@njit(cache=True, nogil=True)
def _conv_fire(times, weights, threshold, padding, timesteps, pointwise):
    wt, v = _engine_setup(times, weights, padding)
    ho, wo, f_n = v.shape
    out = np.full((f_n, ho, wo), timesteps, dtype=np.int64)
    at_spike = np.zeros((f_n, ho, wo), dtype=wt.dtype)
    done = np.zeros((ho, wo), dtype=np.bool_)  # every map has spiked, or pointwise: one has
    mark = np.zeros((ho, wo), dtype=np.bool_)
    cand = np.empty(ho * wo, dtype=np.int64)
    spikes = np.empty(f_n * ho * wo, dtype=np.int64)  # flat (map, y, x), in firing order
    spike_starts = np.zeros(timesteps + 1, dtype=np.int64)
    n_sp = 0
    plane = ho * wo
    starts, ec, ey, ex = _events(times, timesteps)
    for t in range(timesteps):
        n_cand = 0
        for e in range(starts[t], starts[t + 1]):
            n_cand = _add_event_watch(v, wt, ec[e], ey[e] + padding, ex[e] + padding,
                                      threshold, done, mark, cand, n_cand)
        for q in range(n_cand):
            y = cand[q] // wo
            x = cand[q] % wo
            mark[y, x] = False
            if pointwise:
                best = 0
                top = v[y, x, 0]
                for f in range(1, f_n):
                    if v[y, x, f] > top:
                        best = f
                        top = v[y, x, f]
                out[best, y, x] = t
                at_spike[best, y, x] = top
                done[y, x] = True
                spikes[n_sp] = best * plane + cand[q]
                n_sp += 1
            else:
                left = 0
                for f in range(f_n):
                    if out[f, y, x] == timesteps:
                        if v[y, x, f] >= threshold:
                            out[f, y, x] = t
                            at_spike[f, y, x] = v[y, x, f]
                            spikes[n_sp] = f * plane + cand[q]
                            n_sp += 1
                        else:
                            left += 1
                done[y, x] = left == 0
        spike_starts[t + 1] = n_sp
    return out, at_spike, spikes[:n_sp], spike_starts


def _engine(weights):
    """Integer kernels as 32-bit membranes hold them (the config keeps every potential below
    2**31); float kernels (the float reference) as they are."""
    if np.issubdtype(weights.dtype, np.floating):
        return np.ascontiguousarray(weights, dtype=np.float64)
    return np.ascontiguousarray(weights, dtype=np.int32)


def conv_fire(times, weights, threshold, padding, timesteps, pointwise):
    """As :func:`snnhw.golden.blocks.conv.conv_fire` (potentials as int32, or float64 for
    float kernels)."""
    return _conv_fire_spikes(times, weights, threshold, padding, timesteps, pointwise)[:2]


def _conv_fire_spikes(times, weights, threshold, padding, timesteps, pointwise):
    """:func:`conv_fire`, and the spikes as flat indices in firing order with the start of
    each timestep's."""
    w = _engine(weights)
    return _conv_fire(np.ascontiguousarray(times, dtype=np.int64), w,
                      w.dtype.type(threshold), int(padding), int(timesteps), bool(pointwise))


@njit(cache=True, nogil=True)
def _final_potentials(times, weights, padding, timesteps):
    wt, v = _engine_setup(times, weights, padding)
    starts, ec, ey, ex = _events(times, timesteps)
    for e in range(starts[-1]):
        _add_event(v, wt, ec[e], ey[e] + padding, ex[e] + padding)
    return np.ascontiguousarray(v.transpose(2, 0, 1))


def final_potentials(times, weights, padding, timesteps):
    """As :func:`snnhw.golden.blocks.conv.final_potentials`."""
    return _final_potentials(np.ascontiguousarray(times, dtype=np.int64), _engine(weights),
                             int(padding), int(timesteps))


@njit(cache=True, nogil=True)
def _pool(times, size, stride, padding, timesteps):
    c_n, h, w = times.shape
    ho = (h + 2 * padding - size) // stride + 1
    wo = (w + 2 * padding - size) // stride + 1
    out = np.full((c_n, ho, wo), timesteps, dtype=np.int64)
    for c in range(c_n):
        for oy in range(ho):
            for ox in range(wo):
                m = timesteps
                for y in range(max(0, oy * stride - padding),
                               min(h, oy * stride - padding + size)):
                    for x in range(max(0, ox * stride - padding),
                                   min(w, ox * stride - padding + size)):
                        if times[c, y, x] < m:
                            m = times[c, y, x]
                out[c, oy, ox] = m
    return out


def pool_earliest(times, size, stride, padding, timesteps):
    """As :func:`snnhw.golden.blocks.conv.pool_earliest`."""
    return _pool(np.ascontiguousarray(times, dtype=np.int64), int(size), int(stride),
                 int(padding), int(timesteps))


@njit(cache=True, nogil=True)
def _k_winners(starts, idx, at_spike, k, radius, timesteps):
    """Winners from the spikes ``idx`` (flat, grouped by time from ``starts``, ascending
    within a time)."""
    f_n, h, w = at_spike.shape
    flat_v = at_spike.ravel()
    used = np.zeros(f_n, dtype=np.bool_)
    blocked = np.zeros((h, w), dtype=np.bool_)
    win = np.empty((min(k, idx.size), 4), dtype=np.int64)
    n = 0
    for t in range(timesteps):
        if n == k:
            break
        bucket = idx[starts[t]:starts[t + 1]]  # ascending (map, y, x)
        order = np.argsort(-flat_v[bucket], kind="mergesort")
        for q in order:
            if n == k:
                break
            flat = bucket[q]
            f = flat // (h * w)
            y = (flat // w) % h
            x = flat % w
            if used[f] or blocked[y, x]:
                continue
            win[n, 0] = f
            win[n, 1] = y
            win[n, 2] = x
            win[n, 3] = t
            n += 1
            used[f] = True
            blocked[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1] = True
    return win[:n]


@njit(cache=True, nogil=True)
def _sorted_buckets(starts, spikes):
    out = spikes.copy()
    for t in range(starts.size - 1):
        out[starts[t]:starts[t + 1]] = np.sort(spikes[starts[t]:starts[t + 1]])
    return out


def k_winners(times, at_spike, k, radius, timesteps):
    """As :func:`snnhw.golden.blocks.kwta.k_winners`, as an ``(n, 4)`` array."""
    starts, idx = _by_time(np.ascontiguousarray(times, dtype=np.int64).ravel(), int(timesteps))
    return _k_winners(starts, idx, at_spike, int(k), int(radius), int(timesteps))


@njit(cache=True, nogil=True)
def winner_taps(alive, times, winner, padding, timesteps):
    """The alive taps of one winner's kernel in raster order (c, i, j), as flat indices into
    its (C, K, K) kernel, with the spike time of the input each sees (``T`` outside the image)
    and whether that input spiked no later than the winner (potentiation). Both the golden
    model's STDP and the float reference's walk these."""
    c_n, k, _ = alive.shape
    _, h, w = times.shape
    f_alive = alive.ravel()
    taps = np.empty(f_alive.size, dtype=np.int64)
    ltp = np.empty(f_alive.size, dtype=np.bool_)
    n = 0
    wy, wx, t_post = winner[1], winner[2], winner[3]
    for c in range(c_n):
        for i in range(k):
            y = wy + i - padding
            for j in range(k):
                q = (c * k + i) * k + j
                if not f_alive[q]:
                    continue
                x = wx + j - padding
                pre = times[c, y, x] if 0 <= y < h and 0 <= x < w else timesteps
                taps[n] = q
                ltp[n] = pre <= t_post
                n += 1
    return taps[:n], ltp[:n]


@njit(cache=True, nogil=True)
def _stdp(weights, alive, times, winners, padding, timesteps, a_plus, a_minus, weight_bits,
          gen_pos, seq, period, prune, prune_threshold):
    full = 1 << weight_bits
    shift = RATE_BITS + weight_bits - DRAW_BITS
    for n in range(winners.shape[0]):
        f = winners[n, 0]
        taps, ltp = winner_taps(alive[f], times, winners[n], padding, timesteps)
        wf = weights[f].reshape(-1)
        af = alive[f].reshape(-1)
        for m in range(taps.size):
            gen_pos += 1
            if gen_pos == period:
                gen_pos = 0
            old = wf[taps[m]]
            a = a_plus if ltp[m] else a_minus
            d = (((a * old * (full - old)) >> shift) + seq[gen_pos]) >> DRAW_BITS
            new = min(old + d, full - 1) if ltp[m] else max(old - d, 0)
            if prune and new <= prune_threshold:
                new = 0
                af[taps[m]] = False
            wf[taps[m]] = new
    return gen_pos


_SEQ = np.ascontiguousarray(SEQUENCE, dtype=np.int64)


def threshold_of(layer: ConvLayerIR, weights: np.ndarray) -> float | int:
    """The layer's threshold in the units of ``weights``: weight LSB for the golden model's
    integers, over ``2**weight_bits`` for the float reference's weights in [0, 1]."""
    if np.issubdtype(weights.dtype, np.floating):
        return layer.threshold / layer.full_scale
    return layer.threshold


def forward(net: ConvNetworkIR, state: ConvState, times: np.ndarray,
            upto: int | None = None) -> list[np.ndarray]:
    """As :func:`.ttfs_conv.forward` (also for the float reference's states)."""
    T = net.timesteps
    maps = [times]
    for layer in net.layers[:upto]:
        if isinstance(layer, PoolLayerIR):
            maps.append(pool_earliest(maps[-1], layer.size, layer.stride, layer.padding, T))
        else:
            w = state.weights[layer.index]
            maps.append(conv_fire(maps[-1], w, threshold_of(layer, w), layer.padding, T,
                                  layer.pointwise_inhibition)[0])
    return maps


def learn_times(net: ConvNetworkIR, state: ConvState, index: int,
                times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`learn_image` from the layer's input spike ``times`` (already through the layers
    before it); returns the winners as an ``(n, 4)`` array, and the layer's spike times."""
    layer = net.layers[index]
    T = net.timesteps
    out, at_spike, spikes, starts = _conv_fire_spikes(
        times, state.weights[index], layer.threshold, layer.padding, T,
        layer.pointwise_inhibition)
    winners = _k_winners(starts, _sorted_buckets(starts, spikes), at_spike, layer.winners,
                         layer.radius, T)
    seen = state.seen[index]
    a_plus, a_minus = layer.stdp.level(seen)
    prune = layer.prune_threshold is not None and seen >= layer.prune_warmup
    state.gen_pos[index] = int(_stdp(
        state.weights[index], state.alive[index], np.ascontiguousarray(times, dtype=np.int64),
        winners, layer.padding, T, a_plus, a_minus, layer.weight_bits, state.gen_pos[index],
        _SEQ, PERIOD, prune, layer.prune_threshold or 0))
    state.seen[index] = seen + 1
    return winners, out


def learn_image(net: ConvNetworkIR, state: ConvState, index: int,
                image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """As :func:`.ttfs_conv.learn_image`."""
    times = forward(net, state, encode(net, image), upto=index)[-1]
    return [tuple(int(v) for v in row) for row in learn_times(net, state, index, times)[0]]


def features_of_times(net: ConvNetworkIR, state: ConvState,
                      times: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`features` from the encoded input spike ``times``, and the spike maps it passed
    (:func:`forward`'s; without the last layer's for ``max_potential``). Also for the float
    reference's states (its features then hold float potentials)."""
    T = net.timesteps
    if net.features == "max_potential":
        last = net.layers[-1]
        maps = forward(net, state, times, upto=len(net.layers) - 1)
        v = final_potentials(maps[-1], state.weights[last.index], last.padding, T)
        return v.reshape(v.shape[0], -1).max(axis=1), maps
    maps = forward(net, state, times)
    return (T - maps[-1]).reshape(-1), maps


def features(net: ConvNetworkIR, state: ConvState, image: np.ndarray) -> np.ndarray:
    """As :func:`.ttfs_conv.features`."""
    return features_of_times(net, state, encode(net, image))[0]
