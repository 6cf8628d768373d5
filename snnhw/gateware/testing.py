"""Amaranth-simulator helpers for driving a :class:`NeuronCore` (async testbenches)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import from_twos
from .layouts import Space
from .networks.lif_layer import NeuronCore

__all__ = ["stream_put", "stream_get", "run_events", "host_write", "host_read", "read_state",
           "learning_sample", "learning_read", "learning_write"]


async def stream_put(ctx, stream, payload) -> None:
    """Offer one payload on ``stream`` and wait until it is taken."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Wait for one transfer on ``stream`` and return its payload."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


async def run_events(ctx, core: NeuronCore, events: Sequence[np.ndarray]
                     ) -> list[tuple[int, int]]:
    """Stream a spike train continuously (one offer per cycle, no gaps), each timestep closed by
    an end-of-timestep event, and collect the output spikes until the core is idle again.

    Returns the spikes as ``(timestep, neuron)`` in arrival order.
    """
    items = []
    for ev in events:
        items.extend((int(i), 0) for i in ev)
        items.append((0, 1))
    ctx.set(core.o_spike.ready, 1)
    out: list[tuple[int, int]] = []
    n = 0
    while n < len(items) or not ctx.get(core.idle):
        if n < len(items):
            ctx.set(core.i_event.valid, 1)
            ctx.set(core.i_event.payload, {"index": items[n][0], "eot": items[n][1]})
        else:
            ctx.set(core.i_event.valid, 0)
        _, _, ready, valid, neuron, ts = await ctx.tick().sample(
            core.i_event.ready, core.o_spike.valid, core.o_spike.payload.neuron,
            core.o_spike.payload.timestep)
        if n < len(items) and ready:
            n += 1
        if valid:
            out.append((ts, neuron))
    ctx.set(core.i_event.valid, 0)
    return out


async def host_write(ctx, core: NeuronCore, space: Space, bank: int, addr: int, word: int) -> None:
    """Write one raw word through the host port (the core must be idle)."""
    ctx.set(core.host.space, space)
    ctx.set(core.host.bank, bank)
    ctx.set(core.host.addr, addr)
    ctx.set(core.host.w_data, word)
    ctx.set(core.host.w_en, 1)
    await ctx.tick().until(core.host.ready)
    ctx.set(core.host.w_en, 0)


async def host_read(ctx, core: NeuronCore, space: Space, bank: int, addr: int) -> int:
    """Read one raw word through the host port (the core must be idle)."""
    ctx.set(core.host.space, space)
    ctx.set(core.host.bank, bank)
    ctx.set(core.host.addr, addr)
    ctx.set(core.host.r_en, 1)
    await ctx.tick().until(core.host.ready)
    ctx.set(core.host.r_en, 0)
    return ctx.get(core.host.r_data)


async def read_state(ctx, core: NeuronCore) -> tuple[np.ndarray, np.ndarray]:
    """Read every real neuron's membrane potential and refractory counter."""
    layer = core.layer
    v = np.zeros(layer.n_out, dtype=np.int64)
    ref = np.zeros(layer.n_out, dtype=np.int64)
    for j in range(layer.n_out):
        word = await host_read(ctx, core, Space.STATE, j % layer.lanes, j // layer.lanes)
        v[j] = from_twos(word, layer.membrane_bits)
        ref[j] = word >> layer.membrane_bits
    return v, ref


async def learning_sample(ctx, core, image, *, learn: bool, eta: int, prune: bool = False,
                          prune_threshold: int = 0) -> list[tuple[int, int, int]]:
    """Load one sample into a :class:`~snnhw.gateware.networks.diehl_cook.LearningCore`, run it, and
    return its spikes as ``(attempt, timestep, neuron)``. ``prune``: the sample may prune
    (only for a core built with pruning)."""
    for value in np.asarray(image).reshape(-1):
        await stream_put(ctx, core.i_pixel, int(value))
    if core.layer.pruning is not None:
        ctx.set(core.prune, int(prune))
        if core.layer.pruning.target_permille:
            ctx.set(core.prune_threshold, prune_threshold)
    ctx.set(core.learn, int(learn))
    ctx.set(core.eta, eta)
    ctx.set(core.start, 1)
    await ctx.tick()
    ctx.set(core.start, 0)
    ctx.set(core.o_spike.ready, 1)
    spikes = []
    while not ctx.get(core.idle):
        _, _, valid, p = await ctx.tick().sample(core.o_spike.valid, core.o_spike.payload)
        if valid:
            spikes.append((p.attempt, p.timestep, p.neuron))
    return spikes


async def learning_read(ctx, core, space, bank: int, addr: int) -> int:
    """One host read from a :class:`~snnhw.gateware.networks.diehl_cook.LearningCore` (idle; 2-cycle
    latency)."""
    _learning_address(ctx, core, space, bank, addr)
    ctx.set(core.host_r_en, 1)
    await ctx.tick()
    ctx.set(core.host_r_en, 0)
    await ctx.tick()
    return ctx.get(core.host_r_data)


async def learning_write(ctx, core, space, bank: int, addr: int, word: int) -> None:
    """One host write to a :class:`~snnhw.gateware.networks.diehl_cook.LearningCore` (idle)."""
    _learning_address(ctx, core, space, bank, addr)
    ctx.set(core.host_w_data, word)
    ctx.set(core.host_w_en, 1)
    await ctx.tick()
    ctx.set(core.host_w_en, 0)


def _learning_address(ctx, core, space, bank: int, addr: int) -> None:
    ctx.set(core.host_space, space)
    ctx.set(core.host_bank, bank)
    ctx.set(core.host_addr, addr)
