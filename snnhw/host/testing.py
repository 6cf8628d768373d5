"""A stand-in for the SoC at the byte level, for testing host code without hardware.

:class:`FakeSoC` is a :class:`~snnhw.host.framed.Transport` that parses each request frame and
answers with frames built by :func:`~snnhw.protocol.encode_reply`, as docs/host-protocol.md
says the SoC does: the same checks in the same order, the same statuses, the memory spaces laid
out bank by bank. A RUN is computed by the golden model on the state held in those memories.
It answers at once, so a missing reply shows as an immediate timeout.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from ..golden.blocks.rng import Generators
from ..golden.networks.diehl_cook import LearningState, Presentation, run_sample
from ..ir import LayerIR
from ..protocol import (
    DEFAULT_BAUD,
    DEFAULT_SPIKE_BUFFER,
    LABEL_NONE,
    MEM_HEADER,
    N_CLASSES,
    READ_HEADER,
    SYNC_REQUEST,
    Command,
    Counters,
    Info,
    Params,
    RunReply,
    Space,
    Status,
    crc16,
    encode_reply,
    max_payload,
    memory_spaces,
)
from .framed import Transport

__all__ = ["FakeSoC"]

#: request payload length of each fixed-size command
_FIXED = {Command.INFO: 0, Command.READ_MEM: READ_HEADER, Command.SET_PARAMS: Params.size(),
          Command.GET_PARAMS: 0, Command.RUN: 0, Command.READ_SPIKES: 4,
          Command.READ_VOTES: 0, Command.READ_COUNTERS: 0, Command.CLEAR_COUNTERS: 0}


class FakeSoC(Transport):
    """The SoC of ``layer`` behind a byte interface.

    Attributes
    ----------
    requests : list of (int, bytes)
        Every request received whole: command code and payload.
    hook : callable, optional
        ``hook(cmd, request, reply) -> bytes`` replaces each reply frame (``cmd`` is ``None``
        for a frame with a bad CRC): tests corrupt, delay or drop replies with it.
    mem : dict of Space to ndarray
        The memories, ``(banks, depth)`` int64 each.
    """

    name = "the fake SoC"

    def __init__(self, layer: LayerIR, *, spike_buffer: int = DEFAULT_SPIKE_BUFFER,
                 info: Info | None = None) -> None:
        from ..protocol import VERSION, config_hash

        L = self.layer = layer
        self.spaces = memory_spaces(layer)
        self.info = info or Info(
            version=VERSION, config_hash=config_hash(L), n_in=L.n_in, n_out=L.n_out,
            lanes=L.lanes, weight_bits=L.weight_bits, pruning=L.pruning is not None,
            schedule=bool(L.pruning and L.pruning.target_permille), spike_buffer=spike_buffer,
            clk_hz=12_000_000, baud=DEFAULT_BAUD)
        self.requests: list[tuple[int, bytes]] = []
        self.hook: Callable[[Command | None, bytes, bytes], bytes] | None = None
        self.mem = {s: np.zeros((sp.banks, sp.depth), dtype=np.int64)
                    for s, sp in self.spaces.items()}
        state = LearningState.initial(L)
        self._neuron_gens = state.gens.states[2 * L.n_in:].copy()  # without eta_pre: unseen
        self._store(state)
        self.mem[Space.LABELS][0] = LABEL_NONE
        self.params = Params()
        self.sample: bytes | None = None
        self.spikes: list[tuple[int, int, int]] = []  # (neuron, timestep, attempt) kept
        self.votes = np.zeros(N_CLASSES, dtype=np.int64)
        self.alive = L.n_in * L.n_out  # counts prunes down; host writes leave it alone
        self.clear_counters()
        self._out = bytearray()
        self._in = bytearray()

    # -- Transport ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self._in += data
        while True:
            while self._in and self._in[0] != SYNC_REQUEST:  # noise between frames
                del self._in[0]
            if len(self._in) < 4:
                return
            (length,) = struct.unpack_from("<H", self._in, 2)
            if len(self._in) < 6 + length:
                return
            frame = bytes(self._in[:6 + length])
            del self._in[:6 + length]
            (crc,) = struct.unpack_from("<H", frame, 4 + length)
            if crc != crc16(frame[1:4 + length]):
                reply, cmd = encode_reply(Status.BAD_CRC), None
            else:
                cmd_code, payload = frame[1], frame[4:4 + length]
                self.requests.append((cmd_code, payload))
                status, data_out = self._execute(cmd_code, payload)
                reply = encode_reply(status, data_out if status == Status.OK else b"")
                cmd = Command(cmd_code) if cmd_code in Command._value2member_map_ else None
            if self.hook is not None:
                reply = self.hook(cmd, frame, reply)
            self._out += reply

    def read(self, n: int, timeout: float) -> bytes:
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def discard_input(self) -> None:
        self._out.clear()

    # -- the SoC --------------------------------------------------------------------------

    def _execute(self, code: int, p: bytes) -> tuple[Status, bytes]:
        """Command, length, address and sample checks, in the SoC's order; then the work."""
        if code not in Command._value2member_map_:
            return Status.UNKNOWN_COMMAND, b""
        cmd = Command(code)
        L = self.layer
        if len(p) > max_payload(L):
            return Status.BAD_LENGTH, b""
        if cmd in _FIXED and len(p) != _FIXED[cmd]:
            return Status.BAD_LENGTH, b""
        if cmd == Command.INFO:
            return Status.OK, self.info.pack()
        if cmd in (Command.WRITE_MEM, Command.READ_MEM):
            return self._memory(cmd, p)
        if cmd == Command.SET_PARAMS:
            self.params = Params.unpack(p)
            return Status.OK, b""
        if cmd == Command.GET_PARAMS:
            return Status.OK, self.params.pack()
        if cmd == Command.LOAD_SAMPLE:
            if len(p) != L.n_in:
                return Status.BAD_LENGTH, b""
            if self.sample is not None:
                return Status.SAMPLE_LOADED, b""
            self.sample = p
            return Status.OK, b""
        if cmd == Command.RUN:
            if self.sample is None:
                return Status.NO_SAMPLE, b""
            return Status.OK, self._run()
        if cmd == Command.READ_SPIKES:
            first, count = struct.unpack("<HH", p)
            if first + count > len(self.spikes):
                return Status.BAD_ADDRESS, b""
            return Status.OK, b"".join(struct.pack("<HHB", *s)
                                       for s in self.spikes[first:first + count])
        if cmd == Command.READ_VOTES:
            return Status.OK, struct.pack("<10H", *self.votes.tolist())
        if cmd == Command.READ_COUNTERS:
            top = 2**L.counter_bits - 1
            c = self.counters
            return Status.OK, Counters(min(c["cycles"], top), min(c["busy_cycles"], top),
                                       min(c["synaptic_events"], top),
                                       min(c["input_events"], top),
                                       min(c["output_spikes"], top), 0,
                                       c["presentations"] % 65536, self.alive).pack()
        self.clear_counters()
        return Status.OK, b""

    def _memory(self, cmd: Command, p: bytes) -> tuple[Status, bytes]:
        """WRITE_MEM and READ_MEM, with their checks in the order of docs/host-protocol.md."""
        if cmd == Command.WRITE_MEM and len(p) <= MEM_HEADER:
            return Status.BAD_LENGTH, b""
        space, bank, addr = struct.unpack_from("<BBI", p)
        sp = self.spaces.get(Space(space)) if space in Space._value2member_map_ else None
        nbytes = sp.nbytes if sp else 1
        if cmd == Command.READ_MEM:
            (count,) = struct.unpack_from("<H", p, MEM_HEADER)
            if count * nbytes > 0xFFFF:
                return Status.BAD_LENGTH, b""
        if sp is None or bank >= sp.banks:
            return Status.BAD_ADDRESS, b""
        if cmd == Command.WRITE_MEM:
            data = p[MEM_HEADER:]
            if len(data) % nbytes:
                return Status.BAD_LENGTH, b""
            count = len(data) // nbytes
        if addr + count > sp.depth:
            return Status.BAD_ADDRESS, b""
        words = self.mem[sp.space][bank]
        if cmd == Command.READ_MEM:
            return Status.OK, words[addr:addr + count].astype(f"<u{nbytes}").tobytes()
        values = np.frombuffer(data, dtype=f"<u{nbytes}").astype(np.int64)
        words[addr:addr + count] = values & ((1 << sp.width) - 1)
        return Status.OK, b""

    def _run(self) -> bytes:
        L, params = self.layer, self.params
        state = self._load()
        alive_before = None if state.alive is None else int(state.alive.sum())
        record: list[Presentation] = []
        counts, tries = run_sample(L, state, np.frombuffer(self.sample, dtype=np.uint8),
                                   learn=params.learn, eta=params.eta, record=record,
                                   prune=params.prune)
        self.sample = None
        self._store(state, counts)
        if alive_before is not None:
            self.alive -= alive_before - int(state.alive.sum())
        spikes = [(j, t, p.attempt) for p in record for t, w in enumerate(p.winners)
                  for j in w]
        self.spikes = spikes[:self.info.spike_buffer]
        labels = self.mem[Space.LABELS][0]
        self.votes = np.array([counts[labels == c].sum() for c in range(N_CLASSES)])
        c = self.counters
        busy = sum(p.cycles(L) for p in record)
        events = sum(int(p.events.sum()) for p in record)
        c["cycles"] += busy + 1000
        c["busy_cycles"] += busy
        c["input_events"] += events
        c["synaptic_events"] += (events * L.n_out if L.pruning is None else
                                 sum(int(p.alive_events.sum()) for p in record))
        c["output_spikes"] += len(spikes)
        c["presentations"] += tries
        return RunReply(tries, len(spikes), len(self.spikes)).pack()

    def clear_counters(self) -> None:
        self.counters = dict.fromkeys(("cycles", "busy_cycles", "synaptic_events",
                                       "input_events", "output_spikes", "presentations"), 0)

    # -- the memories as a LearningState, by the layout of docs/host-protocol.md ----------

    def _fields(self) -> dict[str, tuple[int, int]]:
        out, offset = {}, 0
        for name, bits, _ in self.layer.learning_state_fields():
            out[name] = (offset, bits)
            offset += bits
        return out

    def _load(self) -> LearningState:
        L, P, m = self.layer, self.layer.lanes, self.mem
        gens = np.empty(2 * L.n_in + L.n_out, dtype=np.int64)
        for k in range(L.n_in):
            gens[k] = m[Space.ENC_GEN][k % P][k // P]
            gens[L.n_in + k] = m[Space.IN_GEN][k % P][k // P]
        fields = self._fields()
        for j in range(L.n_out):
            if "gen" in fields:
                offset, bits = fields["gen"]
                gens[2 * L.n_in + j] = (m[Space.STATE][j % P][j // P] >> offset) & 0xFFFF
            else:
                gens[2 * L.n_in + j] = self._neuron_gens[j]
        theta = np.array([m[Space.THETA][j % P][j // P] for j in range(L.n_out)])
        p = L.pruning
        threshold = 0 if p is None else (self.params.prune_threshold if p.target_permille
                                         else p.threshold)
        return LearningState(weights=L.weights_from_banks(m[Space.WEIGHT]), theta=theta,
                             gens=Generators(gens),
                             alive=L.alive_from_banks(m[Space.ALIVE]) if p else None,
                             prune_threshold=threshold)

    def _store(self, state: LearningState, counts: np.ndarray | None = None) -> None:
        L, P, m = self.layer, self.layer.lanes, self.mem
        m[Space.WEIGHT][:] = L.weight_banks(state.weights)
        if L.pruning:
            m[Space.ALIVE][:] = L.alive_banks(state.alive)
        gens = state.gens.states
        m[Space.ENC_GEN][:] = m[Space.IN_GEN][:] = 1
        for k in range(L.n_in):
            m[Space.ENC_GEN][k % P][k // P] = gens[k]
            m[Space.IN_GEN][k % P][k // P] = gens[L.n_in + k]
        fields = self._fields()
        for j in range(L.n_out):
            m[Space.THETA][j % P][j // P] = state.theta[j]
            word = 0
            if counts is not None:
                offset, _ = fields["count"]
                word |= int(counts[j]) << offset
            if "gen" in fields:
                offset, _ = fields["gen"]
                word |= int(gens[2 * L.n_in + j]) << offset
            m[Space.STATE][j % P][j // P] = word
