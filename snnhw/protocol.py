"""The host link's framed protocol: one definition, used by the SoC gateware, the host runtime
and its three backends. ``docs/host-protocol.md`` describes it for people.

A request is ``A5 | cmd | len (u16) | payload | crc (u16)``; a reply is
``5A | status | len (u16) | payload | crc (u16)``. Every multi-byte field is little-endian. The
CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final
XOR) over everything after the sync byte and before the CRC.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from .ir import LayerIR, LearningLayerIR, MemoryIR, Space, ceil_log2
from .readout import N_CLASSES  # class votes the SoC adds up

__all__ = ["SYNC_REQUEST", "SYNC_REPLY", "VERSION", "MAGIC", "Command", "Status", "Space",
           "SpaceIR", "memory_spaces", "soc_memories", "crc16", "crc16_update", "encode_request",
           "encode_reply", "decode_reply", "Info", "Params", "RunReply", "Counters",
           "SPIKE_BYTES", "N_CLASSES", "LABEL_NONE", "LABEL_BITS", "VOTE_BITS", "max_payload",
           "config_hash", "ProtocolError", "word_bytes", "MEM_HEADER", "READ_HEADER",
           "COUNTER_FIELDS"]

SYNC_REQUEST = 0xA5
SYNC_REPLY = 0x5A
VERSION = 1
MAGIC = b"SNNH"

DEFAULT_BAUD = 115200  #: the host link's baud rate unless a build asks for another
DEFAULT_SPIKE_BUFFER = 512  #: spikes of a run the SoC keeps for READ_SPIKES unless asked
LABEL_BITS = 4
LABEL_NONE = 15  #: a neuron with this label (or any label >= N_CLASSES) does not vote
VOTE_BITS = 16  #: a class vote (READ_VOTES), wrapping
SPIKE_BYTES = 5  #: neuron u16, timestep u16, attempt u8
MEM_HEADER = 6  #: space u8, bank u8, addr u32 (WRITE_MEM and READ_MEM)
READ_HEADER = MEM_HEADER + 2  #: ... and count u16 (READ_MEM)


class Command(enum.IntEnum):
    """What a request asks for."""

    INFO = 0x00  #: sizes, version and the config hash
    WRITE_MEM = 0x01  #: space, bank, addr, words...: write consecutive words
    READ_MEM = 0x02  #: space, bank, addr, count: read consecutive words
    SET_PARAMS = 0x03  #: eta, flags (learn, prune), prune threshold
    GET_PARAMS = 0x04
    LOAD_SAMPLE = 0x05  #: n_in pixels, one byte each
    RUN = 0x06  #: present the loaded sample; the reply comes when the core is idle again
    READ_SPIKES = 0x07  #: first u16, count u16: spikes of the last RUN
    READ_VOTES = 0x08  #: N_CLASSES u16 class votes of the last presentation
    READ_COUNTERS = 0x09
    CLEAR_COUNTERS = 0x0A


class Status(enum.IntEnum):
    """The first byte of a reply after its sync byte."""

    OK = 0
    BAD_CRC = 1  #: the frame's CRC does not match; nothing was done
    BAD_LENGTH = 2  #: the length does not suit the command (or exceeds the frame buffer)
    UNKNOWN_COMMAND = 3
    BAD_ADDRESS = 4  #: unknown space, bank out of range, or words past the memory's end
    NO_SAMPLE = 5  #: RUN without a complete LOAD_SAMPLE since the last RUN
    TIMEOUT = 6  #: the frame stopped arriving part-way (truncated); it was dropped
    SAMPLE_LOADED = 7  #: LOAD_SAMPLE while a sample waits for RUN


class ProtocolError(Exception):
    """A reply that breaks the protocol, or an error status (``status`` is set then)."""

    def __init__(self, message: str, status: Status | None = None) -> None:
        super().__init__(message)
        self.status = status


def word_bytes(width: int, most: int = 8) -> int:
    """Bytes a word of ``width`` bits takes on the wire: a power of two, 1 to ``most``."""
    n = 1
    while n * 8 < width:
        n *= 2
    if n > most:
        raise ValueError(f"words wider than {8 * most} bits cannot be sent, not {width}")
    return n


@dataclass(frozen=True)
class SpaceIR:
    """One memory space as the link sees it: ``banks`` banks of ``depth`` words of ``width``
    bits, each sent as ``nbytes`` bytes."""

    space: Space
    banks: int
    depth: int
    width: int

    @property
    def nbytes(self) -> int:
        return word_bytes(self.width)


def memory_spaces(layer: LearningLayerIR) -> dict[Space, SpaceIR]:
    """The spaces a SoC built from ``layer`` has, with their sizes: the learning core's host
    spaces (:meth:`LayerIR.host_spaces`) and the SoC's label table."""
    spaces = [SpaceIR(s, m.count, m.depth, m.width) for s, m in layer.host_spaces().items()]
    spaces.append(SpaceIR(Space.LABELS, 1, layer.n_out, LABEL_BITS))
    return {s.space: s for s in spaces}


def max_payload(layer: LayerIR) -> int:
    """The SoC's frame buffer: the longest request payload it takes (a power of two)."""
    return 1 << max(10, ceil_log2(layer.n_in))


def soc_memories(layer: LearningLayerIR, spike_buffer: int = DEFAULT_SPIKE_BUFFER
                 ) -> dict[str, MemoryIR]:
    """The SoC's own memories, by name: the request frame buffer, the spikes of a run, and
    the neurons' labels followed by the class votes (one memory of ``VOTE_BITS``-bit words).
    :class:`snnhw.gateware.soc.SoC` makes them from these sizes, and :mod:`snnhw.fit` counts
    their block RAM.

    A spike is stored as its ``SPIKE_BYTES`` wire bytes, but only its neuron, timestep and
    attempt bits vary; yosys drops the constant bits, so the memory is that narrow."""
    spike_bits = layer.neuron_bits + layer.t_bits + 4
    assert spike_bits <= 8 * SPIKE_BYTES
    mems = (MemoryIR("frame", 1, max_payload(layer), 8),
            MemoryIR("spikes", 1, spike_buffer, spike_bits),
            MemoryIR("labels", 1, layer.n_out + N_CLASSES, max(LABEL_BITS, VOTE_BITS)))
    return {m.name: m for m in mems}



def config_hash(layer: LayerIR) -> int:
    """32-bit fingerprint of everything that shapes the hardware (not the initial weights):
    the host checks it against INFO so that it never drives a bitstream of another config."""
    h = hashlib.sha256()

    def feed(name: str, value) -> None:
        h.update(name.encode())
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                feed(f.name, getattr(value, f.name))
        elif isinstance(value, np.ndarray):
            h.update(np.ascontiguousarray(value, dtype=np.int64).tobytes())
        else:
            h.update(repr(value).encode())

    for f in dataclasses.fields(layer):
        if f.name != "weights":
            feed(f.name, getattr(layer, f.name))
    return int.from_bytes(h.digest()[:4], "little")


# -- CRC and frames -----------------------------------------------------------------------

def crc16_update(crc: int, byte: int) -> int:
    """CRC-16/CCITT-FALSE after one more byte, MSB first."""
    crc ^= byte << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data``; ``crc16(b"123456789") == 0x29B1``."""
    for byte in data:
        crc = crc16_update(crc, byte)
    return crc


def _frame(sync: int, code: int, payload: bytes) -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes is longer than 65535")
    body = bytes([code]) + struct.pack("<H", len(payload)) + payload
    return bytes([sync]) + body + struct.pack("<H", crc16(body))


def encode_request(cmd: Command | int, payload: bytes = b"") -> bytes:
    return _frame(SYNC_REQUEST, int(cmd), bytes(payload))


def encode_reply(status: Status | int, payload: bytes = b"") -> bytes:
    return _frame(SYNC_REPLY, int(status), bytes(payload))


def decode_reply(frame: bytes) -> tuple[Status, bytes]:
    """Status and payload of one whole reply frame; :class:`ProtocolError` if it is malformed."""
    if len(frame) < 6 or frame[0] != SYNC_REPLY:
        raise ProtocolError(f"malformed reply {frame[:8].hex()}...")
    (length,) = struct.unpack_from("<H", frame, 2)
    if len(frame) != 6 + length:
        raise ProtocolError(f"reply says {length} payload bytes but has {len(frame) - 6}")
    (crc,) = struct.unpack_from("<H", frame, 4 + length)
    if crc != crc16(frame[1:4 + length]):
        raise ProtocolError("reply CRC mismatch: the link corrupted it")
    try:
        status = Status(frame[1])
    except ValueError:
        raise ProtocolError(f"reply with unknown status {frame[1]}") from None
    return status, frame[4:4 + length]


# -- payloads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Info:
    """The INFO reply: what the bitstream was built from."""

    version: int
    config_hash: int
    n_in: int
    n_out: int
    lanes: int
    weight_bits: int
    pruning: bool
    schedule: bool  # the prune threshold comes from SET_PARAMS
    spike_buffer: int
    clk_hz: int
    baud: int
    spram: bool = False  # the weights are in SPRAM, which configuration leaves empty
    weights_empty: bool = False  # no weight written since configuration (SPRAM only)

    FORMAT = "<4sBIHHBBBHII"
    FLAGS_OFFSET = 15  # the flags byte in the packed reply

    def pack(self) -> bytes:
        flags = (int(self.pruning) | int(self.schedule) << 1 | int(self.spram) << 2
                 | int(self.weights_empty) << 3)
        return struct.pack(self.FORMAT, MAGIC, self.version, self.config_hash, self.n_in,
                           self.n_out, self.lanes, self.weight_bits, flags, self.spike_buffer,
                           self.clk_hz, self.baud)

    @classmethod
    def unpack(cls, payload: bytes) -> Info:
        if len(payload) != struct.calcsize(cls.FORMAT) or payload[:4] != MAGIC:
            raise ProtocolError("INFO reply is not an snnhw SoC's")
        (_, version, h, n_in, n_out, lanes, wb, flags, sb, clk, baud) = struct.unpack(
            cls.FORMAT, payload)
        return cls(version, h, n_in, n_out, lanes, wb, bool(flags & 1), bool(flags & 2), sb,
                   clk, baud, bool(flags & 4), bool(flags & 8))

    @classmethod
    def size(cls) -> int:
        return struct.calcsize(cls.FORMAT)


@dataclass(frozen=True)
class Params:
    """SET_PARAMS / GET_PARAMS: what the next RUN uses."""

    eta: int = 0
    learn: bool = False
    prune: bool = False
    prune_threshold: int = 0  # only with a connectivity schedule; the fixed one is built in

    FORMAT = "<HBH"

    def pack(self) -> bytes:
        return struct.pack(self.FORMAT, self.eta, int(self.learn) | int(self.prune) << 1,
                           self.prune_threshold)

    @classmethod
    def unpack(cls, payload: bytes) -> Params:
        eta, flags, thr = struct.unpack(cls.FORMAT, payload)
        return cls(eta, bool(flags & 1), bool(flags & 2), thr)

    @classmethod
    def size(cls) -> int:
        return struct.calcsize(cls.FORMAT)


@dataclass(frozen=True)
class RunReply:
    """The RUN reply: presentations made (attempts), spikes emitted in all of them, spikes
    kept in the spike buffer (the first ones; the rest are counted, not kept)."""

    presentations: int
    spikes: int
    stored: int

    FORMAT = "<BIH"

    def pack(self) -> bytes:
        return struct.pack(self.FORMAT, self.presentations, self.spikes, self.stored)

    @classmethod
    def unpack(cls, payload: bytes) -> RunReply:
        return cls(*struct.unpack(cls.FORMAT, payload))

    @classmethod
    def size(cls) -> int:
        return struct.calcsize(cls.FORMAT)


#: READ_COUNTERS reply, in order: u64 each (saturating counters), then presentations u16 and
#: alive connections u32 (the synapse count without pruning).
COUNTER_FIELDS = ("cycles", "busy_cycles", "synaptic_events", "input_events", "output_spikes",
                  "weight_updates")


@dataclass(frozen=True)
class Counters:
    cycles: int
    busy_cycles: int
    synaptic_events: int
    input_events: int
    output_spikes: int
    weight_updates: int
    presentations: int
    alive: int

    FORMAT = "<6QHI"

    def pack(self) -> bytes:
        return struct.pack(self.FORMAT, *dataclasses.astuple(self))

    @classmethod
    def unpack(cls, payload: bytes) -> Counters:
        return cls(*struct.unpack(cls.FORMAT, payload))

    @classmethod
    def size(cls) -> int:
        return struct.calcsize(cls.FORMAT)

