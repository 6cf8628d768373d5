"""The spikes of a run, as READ_SPIKES sends them (docs/host-protocol.md): the first ``depth``
kept in a memory, all of them counted."""

from __future__ import annotations

from amaranth import Cat, Const, Module, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...protocol import SPIKE_BYTES

__all__ = ["SpikeBuffer"]


class SpikeBuffer(wiring.Component):
    """Keeps the first ``depth`` spikes of a run and counts them all.

    A spike is stored as its ``SPIKE_BYTES`` wire bytes: neuron (u16), timestep (u16), attempt
    (u8), little-endian, each zero-extended.

    Parameters
    ----------
    spike_layout : data.StructLayout
        The spike stream's payload: ``neuron``, ``timestep`` and ``attempt`` (at most 16, 16
        and 8 bits).
    depth : int
        Spikes kept.
    max_total : int
        The most spikes a run can emit: ``total`` counts up to it (and does not saturate).

    Members
    -------
    i_spike : In(stream.Signature(spike_layout, always_ready=True))
    clear : In(1)
        A new run: ``count`` and ``total`` are zero in the next cycle (a spike of the same
        cycle is stored but not counted).
    count : Out(range(depth + 1))
        Spikes kept, at ``r_addr`` 0 up.
    total : Out(range(max_total + 1))
        Spikes since the last ``clear``.
    r_addr : In(range(depth))
    r_data : Out(8 * SPIKE_BYTES)
        The spike at ``r_addr`` of the cycle before.
    """

    def __init__(self, *, spike_layout: data.StructLayout, depth: int, max_total: int) -> None:
        self._MustUse__silence = True  # not elaborated if a check fails: don't warn about it
        if not isinstance(spike_layout, data.StructLayout) or \
                set(spike_layout.members) != {"neuron", "timestep", "attempt"}:
            raise TypeError(f"Spike layout must be a StructLayout of neuron, timestep and "
                            f"attempt, not {spike_layout!r}")
        widths = [spike_layout.members[n].width for n in ("neuron", "timestep", "attempt")]
        if widths[0] > 16 or widths[1] > 16 or widths[2] > 8:
            raise ValueError(f"Spike fields must fit 16, 16 and 8 bits, not {widths}")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"Depth must be a positive integer, not {depth!r}")
        if not isinstance(max_total, int) or max_total < 0:
            raise ValueError(f"Maximum total must be a non-negative integer, not {max_total!r}")
        self._MustUse__silence = False
        self._depth = depth
        self._max_total = max_total
        super().__init__({
            "i_spike": In(stream.Signature(spike_layout, always_ready=True)),
            "clear": In(1),
            "count": Out(range(depth + 1)),
            "total": Out(range(max_total + 1)),
            "r_addr": In(range(depth)),
            "r_data": Out(8 * SPIKE_BYTES),
        })

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def max_total(self) -> int:
        return self._max_total

    def elaborate(self, platform):
        m = Module()
        S = self._depth
        m.submodules.spikes = spikes = memory.Memory(shape=unsigned(8 * SPIKE_BYTES), depth=S,
                                                     init=[])
        sp_w, sp_r = spikes.write_port(), spikes.read_port()
        sp = self.i_spike
        m.d.comb += [sp_w.addr.eq(self.count),
                     sp_w.data.eq(Cat(sp.payload.neuron, Const(0, 16 - len(sp.payload.neuron)),
                                      sp.payload.timestep,
                                      Const(0, 16 - len(sp.payload.timestep)),
                                      sp.payload.attempt, Const(0, 8 - len(sp.payload.attempt)))),
                     sp_w.en.eq(sp.valid & (self.count < S)),
                     sp_r.addr.eq(self.r_addr), self.r_data.eq(sp_r.data)]
        with m.If(sp.valid):
            with m.If(self.count < S):
                m.d.sync += self.count.eq(self.count + 1)
            m.d.sync += self.total.eq(self.total + 1)
        with m.If(self.clear):
            m.d.sync += [self.count.eq(0), self.total.eq(0)]
        return m
