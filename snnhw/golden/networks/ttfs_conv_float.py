"""Float reference of the TTFS conv network: the same network as :mod:`.ttfs_conv` in the
arithmetic of SpykeTorch-like float implementations, to measure what the hardware's integer
formats cost (``float_accuracy`` in a training report).

It differs from the golden model only in the numbers: the DoG kernel is not rounded, weights
are floats in [0, 1] (the integer initial weights over ``2**weight_bits``), thresholds are the
integer ones over ``2**weight_bits``, and STDP adds ``a w (1 - w)`` exactly, with no rounding
and no random numbers. Ranks, winners, inhibition, pooling and pruning follow the same rules.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...ir_conv import RATE_BITS, ConvNetworkIR
from ..blocks.dog import rank_latency
from .ttfs_conv import ConvState
from .ttfs_conv_fast import (
    conv_fire,
    dog_filter,
    features_of_times,
    forward,
    k_winners,
    threshold_of,
    winner_taps,
)

#: The spike maps and the readout's features go through the fast path's functions, which
#: take float weights as they are.
__all__ = ["initial_float_state", "encode", "learn_times", "features_of_times", "forward"]


def initial_float_state(net: ConvNetworkIR) -> ConvState:
    """The golden model's initial state with weights as floats in [0, 1]."""
    state = ConvState.initial(net)
    for c in net.conv_layers:
        state.weights[c.index] = state.weights[c.index].astype(np.float64) / c.full_scale
    return state


def encode(net: ConvNetworkIR, image: np.ndarray) -> np.ndarray:
    """``(2, H, W)`` spike times: the float DoG, then the same rank-order code."""
    enc = net.encoder
    r = dog_filter(np.asarray(image, dtype=np.float64), enc.kernel_float,
             enc.threshold / 2**enc.frac_bits)
    return rank_latency(r, enc.timesteps)


@njit(cache=True, nogil=True)
def _stdp_float(weights, alive, times, winners, padding, timesteps, a_plus, a_minus, prune,
                prune_threshold):
    for n in range(winners.shape[0]):
        f = winners[n, 0]
        taps, ltp = winner_taps(alive[f], times, winners[n], padding, timesteps)
        wf = weights[f].reshape(-1)
        af = alive[f].reshape(-1)
        for m in range(taps.size):
            old = wf[taps[m]]
            a = a_plus if ltp[m] else -a_minus
            new = min(max(old + a * old * (1.0 - old), 0.0), 1.0)
            if prune and new <= prune_threshold:
                new = 0.0
                af[taps[m]] = False
            wf[taps[m]] = new


def learn_times(net: ConvNetworkIR, state: ConvState, index: int,
                times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Learn from one image's input spike ``times`` to conv layer ``index``; returns the
    winners and the layer's spike times."""
    layer = net.layers[index]
    T = net.timesteps
    w = state.weights[index]
    out, at_spike = conv_fire(times, w, threshold_of(layer, w), layer.padding, T,
                              layer.pointwise_inhibition)
    winners = k_winners(out, at_spike, layer.winners, layer.radius, T)
    seen = state.seen[index]
    a_plus, a_minus = layer.stdp.level(seen)
    prune = layer.prune_threshold is not None and seen >= layer.prune_warmup
    _stdp_float(state.weights[index], state.alive[index],
                np.ascontiguousarray(times, dtype=np.int64), winners, layer.padding, T,
                a_plus / 2**RATE_BITS, a_minus / 2**RATE_BITS, prune,
                (layer.prune_threshold or 0) / layer.full_scale)
    state.seen[index] = seen + 1
    return winners, out
