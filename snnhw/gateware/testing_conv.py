"""Amaranth-simulator helpers for driving a :class:`~.networks.ttfs_conv.TtfsConvCore`
through its host port (async testbenches): write an image's events, run, read back what the
core holds."""

from __future__ import annotations

import numpy as np

from ..ir_conv import KernelBanks
from .networks.ttfs_conv import ConvHost, TtfsConvCore

__all__ = ["conv_write", "conv_read", "conv_run", "conv_kernels", "conv_regs", "conv_maxima",
           "conv_list"]


async def conv_write(ctx, core: TtfsConvCore, space: ConvHost, bank: int, addr: int,
                     word: int) -> None:
    """Write one word through the host port (the core must be idle)."""
    ctx.set(core.host.w_data, word)
    await _request(ctx, core, core.host.w_en, space, bank, addr)


async def conv_read(ctx, core: TtfsConvCore, space: ConvHost, bank: int, addr: int) -> int:
    """Read one word through the host port (the core must be idle)."""
    await _request(ctx, core, core.host.r_en, space, bank, addr)
    return ctx.get(core.host.r_data)


async def _request(ctx, core: TtfsConvCore, strobe, space: ConvHost, bank: int,
                   addr: int) -> None:
    """One host-port request: the address, ``strobe`` for a cycle the port takes it."""
    for port, value in ((core.host.space, space), (core.host.bank, bank),
                        (core.host.addr, addr), (strobe, 1)):
        ctx.set(port, value)
    await ctx.tick().until(core.host.ready)
    ctx.set(strobe, 0)


async def conv_run(ctx, core: TtfsConvCore, events: np.ndarray, learn: int
                   ) -> list[tuple[int, int, int, int, int]]:
    """Load an image's event list (:func:`snnhw.ir_conv.pack_events`), run it (``learn``:
    0 for inference, ``n + 1`` to learn in stage ``n``) and return the conv spikes the core
    emitted, ``(stage, map, y, x, t)`` in order."""
    for a, word in enumerate(events):
        await conv_write(ctx, core, ConvHost.EVENTS, 0, a, int(word))
    await conv_write(ctx, core, ConvHost.REG, 0, core.regs["events"], len(events))
    await conv_write(ctx, core, ConvHost.REG, 0, core.regs["learn"], learn)
    ctx.set(core.run, 1)
    await ctx.tick()
    ctx.set(core.run, 0)
    tr = core.o_trace
    trace = []
    while ctx.get(core.busy):
        if ctx.get(tr.valid):
            trace.append(tuple(ctx.get(x) for x in (tr.stage, tr.f, tr.y, tr.x, tr.t)))
        await ctx.tick()
    return trace


async def conv_kernels(ctx, core: TtfsConvCore, stage: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage ``stage``'s weights ``(F, C, K, K)`` and alive taps."""
    eng = core.engines[stage]
    banks: KernelBanks = eng.banks
    n_w = banks.channels * banks.kernel ** 2 * banks.fl
    n_m = banks.channels * banks.kernel
    w, masks = [], []
    for lane in range(banks.lanes):
        bank = stage << core.lane_bits | lane
        w.append([await conv_read(ctx, core, ConvHost.WEIGHT, bank, a) for a in range(n_w)])
        masks.append([await conv_read(ctx, core, ConvHost.MASK, bank, a) for a in range(n_m)])
    return banks.weights_from(np.array(w)), banks.alive_from(masks)


async def conv_regs(ctx, core: TtfsConvCore) -> dict[str, int]:
    """Every register, by name."""
    return {name: await conv_read(ctx, core, ConvHost.REG, 0, a)
            for name, a in core.regs.items()}


async def conv_maxima(ctx, core: TtfsConvCore) -> np.ndarray:
    """The readout layer's largest potential per map (``max_potential`` features)."""
    P = core.net.lanes
    maps = core.engines[-1].layer.maps
    return np.array([await conv_read(ctx, core, ConvHost.MAXIMA, f % P, f // P)
                     for f in range(maps)], dtype=np.int64)


async def conv_list(ctx, core: TtfsConvCore, s: int) -> list[int]:
    """Event list ``s`` as the last run left it."""
    n = await conv_read(ctx, core, ConvHost.REG, 0, core.regs[f"list{s}"])
    return [await conv_read(ctx, core, ConvHost.EVENTS, s, a) for a in range(n)]
