"""What the conv core must do, from the golden model: for one run, every conv layer's spike
map, the winners, the cycle model's counts, and the readout's features; a learning run
updates the golden state as the core updates its kernels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..golden.blocks.conv import conv_fire
from ..golden.blocks.kwta import k_winners
from ..golden.networks.ttfs_conv import ConvState, features_of_times, forward, learn_times
from ..golden.networks.ttfs_conv_cycles import RunCycles, run_cycles
from ..ir_conv import ConvLayerIR, ConvNetworkIR

__all__ = ["Expected", "expect_run", "stage_layers", "trace_maps"]


@dataclass
class Expected:
    """One run's expected results."""

    spikes: dict[int, np.ndarray]  #: stage -> the conv layer's spike times (F, Ho, Wo)
    cycles: RunCycles
    features: np.ndarray | None  #: the readout's features (inference runs)


def stage_layers(net: ConvNetworkIR) -> list[ConvLayerIR]:
    return list(net.conv_layers)


def trace_maps(net: ConvNetworkIR, trace) -> dict[int, np.ndarray]:
    """The spike maps of a core's trace ``(stage, f, y, x, t)``; a neuron that spikes twice
    raises (it must not)."""
    T = net.timesteps
    maps = {s: np.full(c.out_shape, T, dtype=np.int64) for s, c in enumerate(net.conv_layers)}
    for s, f, y, x, t in trace:
        if maps[s][f, y, x] != T:
            raise AssertionError(f"stage {s} neuron ({f}, {y}, {x}) spiked twice")
        maps[s][f, y, x] = t
    return maps


def expect_run(net: ConvNetworkIR, state: ConvState, image: np.ndarray,
               learn: int) -> Expected:
    """The expected run of the encoded input spike map ``image`` (``learn``: 0, or stage + 1
    to learn);
    a learning run applies its updates to ``state``."""
    T = net.timesteps
    convs = stage_layers(net)
    if learn:
        layer = convs[learn - 1]
        maps = forward(net, state, image, upto=layer.index)
        out, at = conv_fire(maps[-1], state.weights[layer.index], layer.threshold,
                            layer.padding, T, layer.pointwise_inhibition)
        winners = k_winners(out, at, layer.winners, layer.radius, T)
        cycles = run_cycles(net, {k: v.copy() for k, v in state.weights.items()},
                            {k: v.copy() for k, v in state.alive.items()}, maps,
                            learn=layer.index, learn_out=out, winners=winners)
        spikes = {s: maps[c.index + 1] for s, c in enumerate(convs[:learn - 1])}
        spikes[learn - 1] = out
        learn_times(net, state, layer.index, maps[-1])
        return Expected(spikes, cycles, None)
    maps = forward(net, state, image)
    readout = net.features == "max_potential"
    spikes = {s: maps[c.index + 1] for s, c in enumerate(convs)
              if not (readout and s == len(convs) - 1)}
    feats = features_of_times(net, state, image)
    return Expected(spikes, run_cycles(net, state.weights, state.alive, maps), feats)
