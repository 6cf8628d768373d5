"""Does a design's memory fit the FPGA? Checked before synthesis, from the IR alone.

Each memory of the learning core (:attr:`snnhw.ir.LayerIR.memories`) and of the SoC around it
(frame buffer, spike buffer, labels: :func:`snnhw.protocol.soc_memories`), or of a network core
whose family lists them (``Family.fit_memories`` in :mod:`snnhw.families`: the conv core's
:func:`snnhw.ir_conv.conv_memories`), goes where yosys'
``memory_libmap`` would put it, by the same cost model (yosys ``passes/memory/memory_libmap.cc``
and the primitive libraries in ``share/ice40``, ``share/lattice``): every shape of the
device's RAM primitives is tried, and the cheapest of block RAM, LUT RAM (ECP5) and flip-flops
wins

* iCE40 ``SB_RAM40_4K`` (cost 64): 256 x 16 (with bit write enables), 512 x 8, 1024 x 4,
  2048 x 2;
* iCE40UP5K ``SB_SPRAM256KA``: 16384 x 16, for memories marked ``huge``: on the UP5K the
  weights and the pruning bitmap (words up to 16 bits), which
  :class:`snnhw.gateware.spram.SPRAMStore` keeps there (:func:`snnhw.ir.spram_layout` blocks
  per lane);
* ECP5 ``DP16KD`` (cost 128, 9-bit bytes): 16384 x 1, 8192 x 2, 4096 x 4, 2048 x 9,
  1024 x 18, and as ``PDPW16KD`` (one read and one write port, as all of ours) 512 x 36;
* ECP5 ``TRELLIS_DPR16X4`` LUT RAM (cost 4): 16 x 4, read without a clock, so a synchronous
  read port costs no emulation;
* flip-flops: cost 1 per bit.

A shape costs its block cost per primitive, half a unit per bit of read multiplexer and per
write enable of the address decoder, and, for block RAM, 12 for the soft logic that gives our
non-transparent read ports their old-data semantics (``FACTOR_EMU`` x 3 points for read-first
emulation and 3 for transparency). Memories read without a clock (``MemoryIR.async_read``:
the trace ROM, read by every lane at once) are logic. A design that needs more blocks than the
device has raises :class:`FitError` with one line naming the budget and the need.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import ceil
from typing import Any

from .errors import InputError
from .families import FAMILIES, load
from .ir import LayerIR, MemoryIR, NetworkIR, spram_holds, spram_layout
from .protocol import DEFAULT_SPIKE_BUFFER, soc_memories

__all__ = ["Device", "DEVICES", "Placement", "FitReport", "FitError", "estimate", "check_fit"]


class FitError(InputError):
    """The design's memories cannot fit the device."""


@dataclass(frozen=True)
class Device:
    """The RAM resources of one FPGA."""

    name: str
    family: str
    bram: int  # block RAMs
    bram_bits: int  # bits of one block RAM
    bram_shapes: tuple[tuple[int, int, int], ...]  # (depth, width, write-enable byte; 0: whole)
    bram_cost: int
    spram: int = 0  # iCE40UP5K single-port RAMs
    spram_shape: tuple[int, int] = (16384, 16)
    lutram_shape: tuple[int, int, int] | None = None
    lutram_cost: int = 0

    @property
    def primitive(self) -> str:
        return "SB_RAM40_4K" if self.family == "ice40" else "DP16KD"


_ICE40_BRAM = ((256, 16, 1), (512, 8, 0), (1024, 4, 0), (2048, 2, 0))
_ECP5_BRAM = ((16384, 1, 9), (8192, 2, 9), (4096, 4, 9), (2048, 9, 9), (1024, 18, 9),
              (512, 36, 9))
BRAM_EMULATION = 12  # memory_libmap's soft logic for non-transparent reads, in cost units

DEVICES = {d.name: d for d in (
    Device("iCE40UP5K-SG48", "ice40", bram=30, bram_bits=4096, bram_shapes=_ICE40_BRAM,
           bram_cost=64, spram=4),
    Device("LFE5U-85F-6BG381C", "ecp5", bram=208, bram_bits=18432, bram_shapes=_ECP5_BRAM,
           bram_cost=128, lutram_shape=(16, 4, 0), lutram_cost=4),
    Device("LFE5UM5G-85F-8BG554I", "ecp5", bram=208, bram_bits=18432,
           bram_shapes=_ECP5_BRAM, bram_cost=128, lutram_shape=(16, 4, 0), lutram_cost=4),
)}


@dataclass(frozen=True)
class Placement:
    """Where one memory (all its banks) goes: ``kind`` is "bram", "spram", "lutram" or
    "logic"; ``blocks`` counts primitives of that kind for all banks; ``shape`` the primitive's
    (depth, width)."""

    memory: MemoryIR
    kind: str
    blocks: int
    shape: tuple[int, int] | None


def _cost(depth: int, width: int, shape: tuple[int, int, int], unit: float,
          granularity: int = 0) -> tuple[float, int]:
    """memory_libmap's cost of one bank in ``shape`` primitives, and how many it takes.

    Each write-enable group of the word (``granularity`` bits; 0: the whole word) is padded
    to whole bytes of the primitive's write enable (a primitive without byte enables: to
    whole primitives); words of several address ranges may share a primitive's width, as
    yosys packs them."""
    d, w, byte = shape
    mult_a = ceil(depth / d)  # address ranges side by side
    eb = min(byte or w, w)
    group = granularity or width
    padded = ceil(width / group) * ceil(group / eb) * eb
    units = ceil(mult_a * padded / w)
    mux = 0.5 * (mult_a - 1) * width  # read data multiplexer
    demux = 0.5 * mult_a if mult_a > 1 else 0.0  # write enable decoder
    return unit * units + mux + demux, units


def place(mem: MemoryIR, device: Device) -> Placement:
    """Where yosys puts ``mem`` on ``device`` (module docstring)."""
    if mem.async_read:  # the trace ROM, read by several lanes at once: LUTs
        return Placement(mem, "logic", 0, None)
    if mem.huge and device.spram:
        return Placement(mem, "spram", spram_layout(mem.width, mem.depth)[2] * mem.count,
                         device.spram_shape)
    best = (float(mem.depth * mem.width), "logic", 0, None)  # flip-flops, cost 1 per bit
    for shape in device.bram_shapes:
        cost, units = _cost(mem.depth, mem.width, shape, device.bram_cost, mem.granularity)
        if cost + BRAM_EMULATION < best[0]:
            best = (cost + BRAM_EMULATION, "bram", units, shape[:2])
    if device.lutram_shape:
        cost, units = _cost(mem.depth, mem.width, device.lutram_shape, device.lutram_cost,
                            mem.granularity)
        if cost < best[0]:
            best = (cost, "lutram", units, device.lutram_shape[:2])
    _, kind, units, shape = best
    return Placement(mem, kind, units * mem.count, shape)


@dataclass(frozen=True)
class FitReport:
    """The estimate for one design on one device."""

    device: Device
    placements: tuple[Placement, ...]

    def blocks(self, kind: str) -> int:
        return sum(p.blocks for p in self.placements if p.kind == kind)

    @property
    def bram(self) -> int:
        return self.blocks("bram")

    @property
    def spram(self) -> int:
        return self.blocks("spram")

    @property
    def fits(self) -> bool:
        return self.bram <= self.device.bram and self.spram <= self.device.spram

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device.name, "blocks": self.bram, "bram_available":
                self.device.bram, "spram": self.spram, "lutram_units": self.blocks("lutram"),
                "memories": [{"name": p.memory.name, "banks": p.memory.count,
                              "depth": p.memory.depth, "width": p.memory.width,
                              "kind": p.kind, "blocks": p.blocks,
                              "shape": list(p.shape) if p.shape else None}
                             for p in self.placements]}


def _core_memories(net: NetworkIR) -> tuple[MemoryIR, ...] | None:
    """The memories of ``net``'s core, if its family lists them (else None: a single layer's
    core, whose memories its LayerIR knows)."""
    ref = FAMILIES[net.family].fit_memories
    return load(ref)(net) if ref else None


def estimate(design: LayerIR | NetworkIR, device: str | Device,
             spike_buffer: int = DEFAULT_SPIKE_BUFFER) -> FitReport:
    """Where the design's memories go on ``device`` (a :data:`DEVICES` name or a Device).

    ``design`` is a layer (the learning SoC: its core's memories and the SoC's) or a network
    (its family's list of the core's memories; a single-layer network: as its layer)."""
    dev = device if isinstance(device, Device) else DEVICES[device]
    if isinstance(design, NetworkIR):
        mems = _core_memories(design)
        if mems is not None:
            return FitReport(dev, tuple(place(m, dev) for m in mems))
        design = design.layer
    layer = design
    # where the device has SPRAM, the weights go there (snnhw.build.synapse_ram), and the
    # pruning bitmap if its words fit (LearningCore.alive_in_spram)
    mems = tuple(replace(m, huge=True) if dev.spram and spram_holds(m) else m
                 for m in layer.memories) + tuple(soc_memories(layer, spike_buffer).values())
    return FitReport(dev, tuple(place(m, dev) for m in mems))


def _n(x: int) -> str:
    """``627200`` as ``627 200``."""
    return f"{x:,}".replace(",", " ")


def _core_refusal(net: NetworkIR, r: FitReport) -> str:
    """Why a network core (block RAM only) does not fit."""
    dev = r.device
    top = sorted((p for p in r.placements if p.kind == "bram"), key=lambda p: -p.blocks)[:2]
    most = " and ".join(f"{p.memory.name} ({p.blocks})" for p in top)
    return (f"{net.name} does not fit the {dev.name}: needs {r.bram} block RAMs "
            f"({_n(r.bram * dev.bram_bits)} bits; the most for {most}), it has {dev.bram} "
            f"{dev.primitive} ({_n(dev.bram * dev.bram_bits)} bits): choose fewer maps, lanes "
            "or timesteps, a smaller input, or a bigger board")


def _layer_refusal(layer: LayerIR, r: FitReport) -> str:
    """Why the learning SoC of ``layer`` does not fit."""
    dev = r.device
    weights = next(p for p in r.placements if p.memory.name == "weights")
    wbits = weights.memory.bits
    bram = f"{dev.bram} {dev.primitive} ({_n(dev.bram * dev.bram_bits)} bits)"
    if weights.kind == "spram":
        spram_bits = dev.spram * dev.spram_shape[0] * dev.spram_shape[1]
        parts = []
        if r.spram > dev.spram:
            lanes = weights.memory.count
            each = f" ({r.spram // lanes} for each of {lanes} lanes)" if lanes > 1 else ""
            held = [p.memory for p in r.placements if p.kind == "spram"]
            what = " (weights and pruning bitmap)" if len(held) > 1 else ""
            parts.append(f"needs {_n(sum(m.bits for m in held))} bits of synapse memory{what} "
                         f"in {r.spram} SPRAMs{each}, its {dev.spram} SPRAMs hold "
                         f"{_n(spram_bits)} bits")
        if r.bram > dev.bram:
            parts.append(f"needs {r.bram} block RAMs ({_n(r.bram * dev.bram_bits)} bits) "
                         f"besides the synapse memory in SPRAM, it has {bram}")
        need = "; ".join(parts)
    else:
        need = (f"needs {r.bram} block RAMs ({_n(r.bram * dev.bram_bits)} bits; "
                f"{weights.blocks} of them hold the {_n(wbits)} bits of synapse memory), it "
                f"has {bram}")
    return (f"{layer.name} does not fit the {dev.name}: {need}: "
            "choose fewer inputs, neurons or weight bits, or a bigger board")


def check_fit(design: LayerIR | NetworkIR, device: str | Device,
              spike_buffer: int = DEFAULT_SPIKE_BUFFER) -> FitReport:
    """:func:`estimate`, raising a one-line :class:`FitError` if the design does not fit."""
    r = estimate(design, device, spike_buffer)
    if r.fits:
        return r
    if isinstance(design, NetworkIR) and _core_memories(design) is not None:
        raise FitError(_core_refusal(design, r))
    raise FitError(_layer_refusal(design.layer if isinstance(design, NetworkIR) else design, r))
