"""Bit-exact model of time-to-first-spike convolutional networks (Kheradpisheh et al. 2018,
with kernel pruning after Nguyen, Veeravalli & Fong 2021), readable NumPy path.

An image is encoded into at most one spike per DoG channel and pixel (:func:`encode`), then
passes the layers in order: a conv layer gives each of its neurons at most one spike, a pool
layer the earliest spike of each window. Learning is layer by layer: to learn from an image,
layer L (a conv layer) sees the image through the layers before it, fires, picks up to ``k``
winners with lateral inhibition, and each winner's kernel learns by multiplicative STDP with
stochastic rounding (:func:`learn_image`). docs/semantics.md states every step;
:mod:`.ttfs_conv_fast` computes the same bits quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...ir_conv import ConvLayerIR, ConvNetworkIR, PoolLayerIR
from ..blocks.conv import conv_fire, final_potentials, pool_earliest
from ..blocks.dog import encode_image
from ..blocks.kwta import k_winners
from ..blocks.mstdp import kernel_update
from ..blocks.rng import _POSITION

__all__ = ["ConvState", "encode", "forward", "learn_image", "learn_times", "features",
           "features_of_times"]


@dataclass
class ConvState:
    """What the network keeps between images: per conv layer (by layer index) its weights,
    alive taps, rounding generator position and the images it has learned from."""

    weights: dict[int, np.ndarray]
    alive: dict[int, np.ndarray]
    gen_pos: dict[int, int]
    seen: dict[int, int] = field(default_factory=dict)

    @classmethod
    def initial(cls, net: ConvNetworkIR) -> ConvState:
        convs = net.conv_layers
        return cls(
            weights={c.index: c.weights.copy() for c in convs},
            alive={c.index: np.ones(c.weights.shape, dtype=bool) for c in convs},
            gen_pos={c.index: int(_POSITION[c.stdp.generator_state]) if c.stdp else 0
                     for c in convs},
            seen={c.index: 0 for c in convs})

    def connectivity(self, index: int) -> float:
        """Fraction of the layer's taps still alive."""
        return float(self.alive[index].mean())


def encode(net: ConvNetworkIR, image: np.ndarray) -> np.ndarray:
    """``(2, H, W)`` input spike times of one grey image (T: no spike)."""
    enc = net.encoder
    return encode_image(image, enc.kernel, enc.threshold, enc.timesteps)


def _layer(layer: ConvLayerIR | PoolLayerIR, state: ConvState, times: np.ndarray,
           timesteps: int) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(layer, PoolLayerIR):
        return pool_earliest(times, layer.size, layer.stride, layer.padding, timesteps), None
    return conv_fire(times, state.weights[layer.index], layer.threshold, layer.padding,
                     timesteps, layer.pointwise_inhibition)


def forward(net: ConvNetworkIR, state: ConvState, times: np.ndarray,
            upto: int | None = None) -> list[np.ndarray]:
    """The spike maps of the input ``times`` and of every layer before ``upto`` (all by
    default): ``maps[0]`` is the input, ``maps[i + 1]`` layer i's output."""
    maps = [times]
    for layer in net.layers[:upto]:
        maps.append(_layer(layer, state, maps[-1], net.timesteps)[0])
    return maps


def learn_image(net: ConvNetworkIR, state: ConvState, index: int,
                image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Learn from one image in conv layer ``index``: its input comes through the layers
    before it; returns the winners ``(map, y, x, time)``, whose kernels have been updated."""
    return learn_times(net, state, index,
                       forward(net, state, encode(net, image), upto=index)[-1])


def learn_times(net: ConvNetworkIR, state: ConvState, index: int,
                times: np.ndarray) -> list[tuple[int, int, int, int]]:
    """:func:`learn_image` from conv layer ``index``'s input spike ``times``."""
    layer = net.layers[index]
    T = net.timesteps
    out, at_spike = conv_fire(times, state.weights[index], layer.threshold, layer.padding, T,
                              layer.pointwise_inhibition)
    winners = k_winners(out, at_spike, layer.winners, layer.radius, T)
    seen = state.seen[index]
    rates = layer.stdp.level(seen)
    prune = (layer.prune_threshold if layer.prune_threshold is not None
             and seen >= layer.prune_warmup else None)
    k, p = layer.kernel, layer.padding
    padded = np.pad(times, ((0, 0), (p, p), (p, p)), constant_values=T)
    for f, y, x, t in winners:
        state.gen_pos[index] = kernel_update(
            state.weights[index][f], state.alive[index][f], padded[:, y:y + k, x:x + k], t,
            rates, layer.weight_bits, state.gen_pos[index], prune)
    state.seen[index] = seen + 1
    return winners


def features(net: ConvNetworkIR, state: ConvState, image: np.ndarray) -> np.ndarray:
    """The readout's features of one image (int64): with ``max_potential`` the last conv
    layer's largest final potential per map (it does not fire), with ``spike_times`` ``T - t``
    of each neuron of the last layer's output (0: no spike)."""
    return features_of_times(net, state, encode(net, image))


def features_of_times(net: ConvNetworkIR, state: ConvState, times: np.ndarray) -> np.ndarray:
    """:func:`features` from the encoded input spike ``times``."""
    T = net.timesteps
    if net.features == "max_potential":
        last = net.layers[-1]
        times = forward(net, state, times, upto=len(net.layers) - 1)[-1]
        v = final_potentials(times, state.weights[last.index], last.padding, T)
        return v.reshape(v.shape[0], -1).max(axis=1)
    out = forward(net, state, times)[-1]
    return (T - out).reshape(-1)
