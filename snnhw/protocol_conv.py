"""The host link of the ``ttfs_conv`` SoC: its INFO record, the memory banks its WRITE_MEM and
READ_MEM reach, and the fingerprint of the network it was built from. The frames, CRC, status
codes and memory request headers are :mod:`snnhw.protocol`'s; docs/host-protocol.md
describes both links for people.

The conv SoC answers four commands: INFO, WRITE_MEM, READ_MEM and RUN. Everything else, the
image's events, the learning layer, the counters, lives in a memory bank: a run is "write
the events to list 0 and the ``events`` and ``learn`` registers, RUN, read what it made".
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .ir import MemoryIR, bits_for
from .ir_conv import (
    ConvNetworkIR,
    KernelBanks,
    conv_memories,
    event_fields,
    list_depth,
    list_shape,
    register_names,
    stages_of,
)
from .protocol import Command, ProtocolError, word_bytes

__all__ = ["MAGIC_CONV", "CONV_COMMANDS", "CONV_MAX_PAYLOAD", "CONV_WORD_BYTES",
           "REGISTER_BITS", "ConvSpace", "ConvBank", "conv_banks", "conv_hash", "ConvInfo",
           "kernel_banks", "n_lists", "conv_soc_memories", "lane_bits", "check_link"]

MAGIC_CONV = b"SNNC"
#: the commands the conv SoC knows; any other gets UNKNOWN_COMMAND
CONV_COMMANDS = (Command.INFO, Command.WRITE_MEM, Command.READ_MEM, Command.RUN)
CONV_MAX_PAYLOAD = 1024  #: the conv SoC's frame buffer, bytes
CONV_WORD_BYTES = 32  #: the widest word the conv link carries (a mask word of 256 bits)
REGISTER_BITS = 32  #: the core's registers (and counters, which saturate)


class ConvSpace(enum.IntEnum):
    """The conv core's host spaces (``snnhw.gateware.networks.ttfs_conv.ConvHost``)."""

    EVENTS = 0  #: bank s: event list s (0: the image, which the host writes)
    WEIGHT = 1  #: bank stage << lane_bits | lane: a conv layer's weight bank
    MASK = 2  #: bank stage << lane_bits | lane: its alive masks (writable if it prunes)
    MAXIMA = 3  #: bank lane: the readout layer's largest potentials (max_potential readout)
    REG = 4  #: bank 0: the registers, :func:`snnhw.ir_conv.register_names` in order


@dataclass(frozen=True)
class ConvBank:
    """One bank of a space: ``depth`` words of ``width`` bits, each sent as ``nbytes``
    bytes; ``writable`` says whether WRITE_MEM may reach it."""

    space: ConvSpace
    bank: int
    depth: int
    width: int
    writable: bool

    @property
    def nbytes(self) -> int:
        return word_bytes(self.width, most=CONV_WORD_BYTES)


def n_lists(net: ConvNetworkIR) -> int:
    """Event lists of the core: the image, and every stage's output but the last's when the
    readout takes potentials instead of spike times."""
    return len(stages_of(net)) + (0 if net.features == "max_potential" else 1)


def lane_bits(net: ConvNetworkIR) -> int:
    """Bits of a lane in a kernel bank's number (``bank = stage << lane_bits | lane``), as
    the core counts them: at least 1."""
    return bits_for(net.lanes - 1)


def check_link(net: ConvNetworkIR) -> None:
    """:class:`ConfigError` if a bank's words are too wide for the link (a mask word of
    ``kernel * FL2`` bits over ``8 * CONV_WORD_BYTES``)."""
    lines = [f"{c.name}: a mask word of {c.kernel} x {kb.fl2} bits (kernel x maps per lane, "
             f"rounded up to a power of two) is wider than the host link's "
             f"{8 * CONV_WORD_BYTES}: use more lanes, fewer maps or a smaller kernel"
             for (c, _), kb in zip(stages_of(net), kernel_banks(net), strict=True)
             if c.kernel * kb.fl2 > 8 * CONV_WORD_BYTES]
    if lines:
        raise ConfigError(lines)


def kernel_banks(net: ConvNetworkIR) -> list[KernelBanks]:
    """Each stage's kernel layout (:class:`KernelBanks`)."""
    return [KernelBanks(maps=c.maps, channels=c.in_shape[0], kernel=c.kernel, lanes=net.lanes)
            for c, _ in stages_of(net)]


def conv_banks(net: ConvNetworkIR) -> dict[tuple[ConvSpace, int], ConvBank]:
    """Every bank the conv SoC's memory requests reach, by ``(space, bank)``."""
    out: list[ConvBank] = []
    for s in range(n_lists(net)):
        width = sum(b for _, b in event_fields(list_shape(net, s)))
        out.append(ConvBank(ConvSpace.EVENTS, s, list_depth(net, s), width, s == 0))
    lb = lane_bits(net)
    stages = stages_of(net)
    for s, kb in enumerate(kernel_banks(net)):
        conv = stages[s][0]
        prunes = conv.prune_threshold is not None
        for lane in range(net.lanes):
            bank = s << lb | lane
            out.append(ConvBank(ConvSpace.WEIGHT, bank, kb.channels * kb.kernel ** 2 * kb.fl,
                                conv.weight_bits, True))
            out.append(ConvBank(ConvSpace.MASK, bank, kb.channels * kb.kernel,
                                kb.kernel * kb.fl2, prunes))
    if net.features == "max_potential":
        last = stages[-1][0]
        for lane in range(net.lanes):
            out.append(ConvBank(ConvSpace.MAXIMA, lane, kernel_banks(net)[-1].fl,
                                last.membrane_bits, False))
    out.append(ConvBank(ConvSpace.REG, 0, len(register_names(net)), REGISTER_BITS, True))
    return {(b.space, b.bank): b for b in out}


def conv_hash(net: ConvNetworkIR) -> int:
    """32-bit fingerprint of the resolved network but its initial weights (which the host
    writes), training settings included: INFO reports it, and the host refuses a bitstream
    built from another config."""
    h = hashlib.sha256()

    def feed(name: str, value) -> None:
        h.update(name.encode())
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                if f.name != "weights":
                    feed(f.name, getattr(value, f.name))
        elif isinstance(value, tuple | list):
            for k, v in enumerate(value):
                feed(str(k), v)
        elif isinstance(value, np.ndarray):
            h.update(np.ascontiguousarray(value, dtype=np.int64).tobytes())
        else:
            h.update(repr(value).encode())

    feed("ttfs_conv", net)
    return int.from_bytes(h.digest()[:4], "little")


@dataclass(frozen=True)
class ConvInfo:
    """The conv SoC's INFO reply."""

    version: int
    config_hash: int
    lanes: int
    stages: int
    frame_buffer: int
    clk_hz: int
    baud: int

    FORMAT = "<4sBIBBHII"

    def pack(self) -> bytes:
        return struct.pack(self.FORMAT, MAGIC_CONV, self.version, self.config_hash, self.lanes,
                           self.stages, self.frame_buffer, self.clk_hz, self.baud)

    @classmethod
    def unpack(cls, payload: bytes) -> ConvInfo:
        if len(payload) != struct.calcsize(cls.FORMAT) or payload[:4] != MAGIC_CONV:
            raise ProtocolError("INFO reply is not an snnhw conv SoC's")
        return cls(*struct.unpack(cls.FORMAT, payload)[1:])

    @classmethod
    def size(cls) -> int:
        return struct.calcsize(cls.FORMAT)


def conv_soc_memories(net: ConvNetworkIR) -> tuple[MemoryIR, ...]:
    """The conv SoC's memories, for the fit check (:mod:`snnhw.fit`): the core's
    (:func:`snnhw.ir_conv.conv_memories`) and the link's frame buffer."""
    return (*conv_memories(net), MemoryIR("frame", 1, CONV_MAX_PAYLOAD, 8))
