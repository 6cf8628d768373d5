"""The framed client: the host interface spoken over a byte link in the frames of
``docs/host-protocol.md`` (:mod:`snnhw.protocol`). The board (:mod:`.serialport`) and the
simulated SoC (:mod:`.rtl`) differ only in the :class:`Transport` under it."""

from __future__ import annotations

import abc
import logging
import struct
import time

import numpy as np

from .. import protocol
from ..errors import InputError, SnnhwError
from ..families import load
from ..ir import LayerIR
from ..protocol import (
    MEM_HEADER,
    SPIKE_BYTES,
    SYNC_REPLY,
    VERSION,
    Command,
    Info,
    Params,
    ProtocolError,
    RunReply,
    Space,
    SpaceIR,
    Status,
    config_hash,
    decode_reply,
    encode_request,
    max_payload,
)
from .backend import Backend, Counters, Result, check_image

__all__ = ["Transport", "LinkTimeout", "FramedBackend", "request", "read_reply"]

log = logging.getLogger(__name__)

MAX_REPLY = 0xFFFF  # a reply's payload length is a u16
MAX_NOISE = 4096  # bytes skipped while looking for a reply's sync byte before giving up


class LinkTimeout(SnnhwError):
    """No reply, or only part of one, came within the timeout."""


class Transport(abc.ABC):
    """A byte link to a SoC: a serial port, or a socket to a simulation."""

    name: str = "link"  #: how messages name the link (a port, "the RTL simulation")

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send all of ``data``."""

    @abc.abstractmethod
    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes: fewer only when ``timeout`` seconds passed first."""

    def discard_input(self) -> None:  # noqa: B027 - a link with nothing buffered keeps it
        """Drop bytes received and not read yet."""

    def close(self) -> None:  # noqa: B027
        """Close the link."""


def request(transport: Transport, cmd: Command, payload: bytes = b"", *,
            reply_size: int | None = None, timeout: float = 2.0) -> bytes:
    """Send one request over ``transport`` and return its reply's payload.

    Raises
    ------
    ProtocolError
        An error status (``status`` set), a corrupt reply, or a payload not of
        ``reply_size`` bytes.
    LinkTimeout
        No whole reply within ``timeout`` seconds.
    """
    transport.write(encode_request(cmd, payload))
    status, data = decode_reply(read_reply(transport, cmd, timeout))
    if status != Status.OK:
        raise ProtocolError(f"{_name(cmd)} failed: {status.name}", status)
    if reply_size is not None and len(data) != reply_size:
        raise ProtocolError(f"{_name(cmd)} reply of {len(data)} bytes, not {reply_size}")
    return data


def _name(cmd: Command | int) -> str:
    """How messages name a command (one no SoC knows by its code)."""
    return cmd.name if isinstance(cmd, Command) else f"command {int(cmd):#04x}"


def read_reply(transport: Transport, cmd: Command, timeout: float) -> bytes:
    """One whole reply frame (the request was ``cmd``), skipping noise before its sync."""
    deadline = time.monotonic() + timeout

    def read(n: int) -> bytes:
        data = b""
        while len(data) < n:
            left = deadline - time.monotonic()
            chunk = transport.read(n - len(data), left) if left > 0 else b""
            if not chunk:
                what = "no reply" if not data and n == 1 else "a truncated reply"
                raise LinkTimeout(f"{what} to {_name(cmd)} from {transport.name} "
                                  f"within {timeout:g} s")
            data += chunk
        return data

    skipped = 0  # bytes before the sync byte are noise
    while read(1)[0] != SYNC_REPLY:
        skipped += 1
        if skipped > MAX_NOISE:
            raise ProtocolError(f"no reply frame in {MAX_NOISE} bytes from {transport.name}")
    if skipped:
        log.warning("%d bytes of noise before the reply to %s", skipped, _name(cmd))
    head = read(3)
    (length,) = struct.unpack_from("<H", head, 1)
    return bytes([SYNC_REPLY]) + head + read(length + 2)


class FramedBackend(Backend):
    """The host interface over a :class:`Transport`, one request and its reply at a time.

    Connecting sends INFO and refuses a SoC whose version or config hash is not this layer's
    (:class:`InputError`). An error status raises :class:`~snnhw.protocol.ProtocolError` with
    ``status`` set; a corrupt or truncated reply raises :class:`~snnhw.protocol.ProtocolError`
    or :class:`LinkTimeout`.

    Parameters
    ----------
    layer : LayerIR
        The network the SoC was built from.
    transport : Transport
    timeout : float
        Seconds to wait for a reply.
    run_timeout : float, optional
        Seconds to wait for the reply of RUN (the core works before it answers); default
        ``timeout``.
    """

    def __init__(self, layer: LayerIR, transport: Transport, *, timeout: float = 2.0,
                 run_timeout: float | None = None) -> None:
        super().__init__(layer)
        self.transport = transport
        self.timeout = timeout
        self.run_timeout = timeout if run_timeout is None else run_timeout
        self.spaces = load(self._family.memory_spaces)(layer)  # the SoC's, as the registry says
        self._max_write = max_payload(layer) - MEM_HEADER  # payload bytes of one WRITE_MEM
        self._alive_offset = 0  # alive connections the SoC's count misses (host writes)
        self._info = self._hello()
        if self._info.weights_empty:
            # SPRAM comes out of configuration empty: the config's initial weights (and every
            # connection alive), as the golden model starts; the weights last, as their first
            # write clears the flag
            log.info("%s: weights in SPRAM, empty since configuration: loading the config's "
                     "initial weights", transport.name)
            if layer.pruning is not None:
                self.write_alive(np.ones((layer.n_in, layer.n_out), dtype=bool))
            self.write_weights(layer.weights)

    # -- frames -------------------------------------------------------------------------

    def request(self, cmd: Command, payload: bytes = b"", *, reply_size: int | None = None,
                timeout: float | None = None) -> bytes:
        """Send one request and return its reply's payload.

        Raises
        ------
        ProtocolError
            An error status (``status`` set), a corrupt reply, or a payload not of
            ``reply_size`` bytes.
        LinkTimeout
            No whole reply within ``timeout`` (default :attr:`timeout`) seconds.
        """
        return request(self.transport, cmd, payload, reply_size=reply_size,
                       timeout=self.timeout if timeout is None else timeout)

    def _hello(self) -> Info:
        self.transport.discard_input()
        try:
            info = Info.unpack(self.request(Command.INFO))
        except ProtocolError as e:
            if e.status != Status.TIMEOUT:  # a frame left half-sent by an earlier host
                raise
            info = Info.unpack(self.request(Command.INFO))
        L = self.layer
        if info.version != VERSION:
            raise InputError(f"{self.transport.name} speaks protocol version {info.version}, "
                             f"this host {VERSION}: update snnhw or rebuild the bitstream")
        if info.config_hash != config_hash(L):
            raise InputError(f"{self.transport.name} runs a bitstream of another config (hash "
                             f"{info.config_hash:#010x}, {L.name} has {config_hash(L):#010x}, "
                             f"{info.n_in} inputs and {info.n_out} neurons): load this "
                             "config's bitstream or give the config it was built from")
        return info

    # -- memories -----------------------------------------------------------------------

    def write_words(self, space: Space, bank: int, words: np.ndarray, addr: int = 0) -> None:
        """Write consecutive words of one bank, in as many WRITE_MEM frames as the SoC's frame
        buffer needs."""
        s = self.spaces[space]
        data = _pack(s, words)
        step = self._max_write // s.nbytes * s.nbytes
        for first in range(0, len(data), step):
            head = struct.pack("<BBI", space, bank, addr + first // s.nbytes)
            self.request(Command.WRITE_MEM, head + data[first:first + step], reply_size=0)

    def read_words(self, space: Space, bank: int, count: int, addr: int = 0) -> np.ndarray:
        """Read ``count`` consecutive words of one bank (int64), in as many READ_MEM frames as
        the reply's u16 length needs."""
        s = self.spaces[space]
        step = MAX_REPLY // s.nbytes
        parts = []
        for first in range(0, count, step):
            n = min(step, count - first)
            data = self.request(Command.READ_MEM,
                                struct.pack("<BBIH", space, bank, addr + first, n),
                                reply_size=n * s.nbytes)
            parts.append(np.frombuffer(data, dtype=f"<u{s.nbytes}"))
        words = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
        return words.astype(np.int64) & ((1 << s.width) - 1)

    def _read_space(self, space: Space) -> np.ndarray:
        s = self.spaces[space]
        return np.array([self.read_words(space, b, s.depth) for b in range(s.banks)])

    def _write_space(self, space: Space, banks: np.ndarray) -> None:
        for b, words in enumerate(banks):
            self.write_words(space, b, words)

    def _neuron_banks(self, values: np.ndarray) -> np.ndarray:
        """Per-neuron values as ``(lanes, npl)`` bank images: neuron ``k * P + b`` in bank
        ``b``, word ``k``; padding neurons 0."""
        L = self.layer
        padded = np.zeros(L.padded_out, dtype=np.int64)
        padded[:L.n_out] = values
        return padded.reshape(L.npl, L.lanes).T

    def _neurons(self, banks: np.ndarray) -> np.ndarray:
        return np.asarray(banks).T.reshape(-1)[:self.layer.n_out]

    def _slot_banks(self, values: np.ndarray) -> np.ndarray:
        """Per-input values (or list slots) as ``(lanes, ceil(n_in / P))`` bank images: ``k``
        in bank ``k % P``, word ``k // P``; padding slots hold 1 (a valid generator)."""
        L = self.layer
        nig = L.nig
        padded = np.ones(nig * L.lanes, dtype=np.int64)
        padded[:L.n_in] = values
        return padded.reshape(nig, L.lanes).T

    def _slots(self, banks: np.ndarray) -> np.ndarray:
        return np.asarray(banks).T.reshape(-1)[:self.layer.n_in]

    def _state_fields(self) -> dict[str, tuple[int, int]]:
        """Offset and width of each field of a STATE word."""
        fields, offset = {}, 0
        for name, bits, _ in self.layer.learning_state_fields():
            fields[name] = (offset, bits)
            offset += bits
        return fields

    def _state_field(self, words: np.ndarray, name: str) -> np.ndarray:
        offset, bits = self._state_fields()[name]
        return (np.asarray(words) >> offset) & ((1 << bits) - 1)

    # -- the interface --------------------------------------------------------------------

    def info(self) -> Info:
        return Info.unpack(self.request(Command.INFO, reply_size=Info.size()))

    @property
    def info_at_connection(self) -> Info:
        """The INFO reply the host got when it connected (before it loaded anything)."""
        return self._info

    def read_weights(self) -> np.ndarray:
        return self.layer.weights_from_banks(self._read_space(Space.WEIGHT))

    def write_weights(self, weights: np.ndarray) -> None:
        L = self.layer
        w = self._checked("weights", weights, (L.n_in, L.n_out), L.wmax)
        self._write_space(Space.WEIGHT, L.weight_banks(w))

    def read_thetas(self) -> np.ndarray:
        return self._neurons(self._read_space(Space.THETA))

    def write_thetas(self, theta: np.ndarray) -> None:
        L = self.layer
        t = self._checked("thetas", theta, (L.n_out,), L.theta_max)
        self._write_space(Space.THETA, self._neuron_banks(t))

    def read_generators(self) -> np.ndarray:
        L = self.layer
        states = np.array(L.encoder.generator_states, dtype=np.int64)
        states[:L.n_in] = self._slots(self._read_space(Space.ENC_GEN))
        states[L.n_in:2 * L.n_in] = self._slots(self._read_space(Space.IN_GEN))
        if "gen" in self._state_fields():  # pre-spike depression: one per neuron
            states[2 * L.n_in:] = self._neurons(self._state_field(
                self._read_space(Space.STATE), "gen"))
        return states

    def write_generators(self, states: np.ndarray) -> None:
        L = self.layer
        g = self._checked("generator states", states, (len(L.encoder.generator_states),),
                          0xFFFF, low=1)
        self._write_space(Space.ENC_GEN, self._slot_banks(g[:L.n_in]))
        self._write_space(Space.IN_GEN, self._slot_banks(g[L.n_in:2 * L.n_in]))
        if "gen" in self._state_fields():
            # a presentation clears v, ref and count (docs/semantics.md): only gen matters
            offset, _ = self._state_fields()["gen"]
            gens = np.ones(L.padded_out, dtype=np.int64)
            gens[:L.n_out] = g[2 * L.n_in:]
            self._write_space(Space.STATE, gens.reshape(L.npl, L.lanes).T << offset)

    def read_alive(self) -> np.ndarray:
        self._need_pruning()
        return self.layer.alive_from_banks(self._read_space(Space.ALIVE))

    def write_alive(self, alive: np.ndarray) -> None:
        self._need_pruning()
        L = self.layer
        a = self._checked("alive mask", alive, (L.n_in, L.n_out), 1).astype(bool)
        self._write_space(Space.ALIVE, L.alive_banks(a))
        # the SoC's count of connections alive only counts prunes down, not host writes
        self._alive_offset = 0
        self._alive_offset = int(a.sum()) - self.alive_count()

    def alive_count(self) -> int:
        return self._wire_counters().alive + self._alive_offset

    def read_labels(self) -> np.ndarray:
        return self.read_words(Space.LABELS, 0, self.layer.n_out)

    def write_labels(self, labels: np.ndarray) -> None:
        self.write_words(Space.LABELS, 0, self._check_labels(labels))

    def present(self, image: np.ndarray, *, learn: bool, eta: int = 0,
                prune: bool = False) -> Result:
        L = self.layer
        pixels = check_image(L, image)
        if not 0 <= eta <= 0xFFFF:
            raise InputError(f"eta = {eta}: must be in 0..65535")
        schedule = bool(L.pruning and L.pruning.target_permille)
        prune = prune and learn and L.pruning is not None
        params = Params(eta=eta if learn else 0, learn=learn, prune=prune,
                        prune_threshold=self.prune_threshold if schedule else 0)
        self.request(Command.SET_PARAMS, params.pack(), reply_size=0)
        self.request(Command.LOAD_SAMPLE, pixels.tobytes(), reply_size=0)
        run = RunReply.unpack(self.request(Command.RUN, reply_size=RunReply.size(),
                                           timeout=self.run_timeout))
        spikes = []
        step = MAX_REPLY // SPIKE_BYTES
        for first in range(0, run.stored, step):
            n = min(step, run.stored - first)
            data = self.request(Command.READ_SPIKES, struct.pack("<HH", first, n),
                                reply_size=n * SPIKE_BYTES)
            for neuron, t, attempt in struct.iter_unpack("<HHB", data):
                spikes.append((attempt, t, neuron))
        votes = np.array(struct.unpack("<10H", self.request(Command.READ_VOTES,
                                                            reply_size=20)), dtype=np.int64)
        counts = self._neurons(self._state_field(self._read_space(Space.STATE), "count"))
        return Result(presentations=run.presentations, spikes=spikes,
                      spikes_total=run.spikes, counts=counts, votes=votes)

    def _wire_counters(self) -> protocol.Counters:
        return protocol.Counters.unpack(self.request(Command.READ_COUNTERS,
                                                     reply_size=protocol.Counters.size()))

    def counters(self) -> Counters:
        c = self._wire_counters()
        return Counters(c.cycles, c.busy_cycles, c.synaptic_events, c.input_events,
                        c.output_spikes, c.weight_updates, c.presentations,
                        c.alive + self._alive_offset)

    def clear_counters(self) -> None:
        self.request(Command.CLEAR_COUNTERS, reply_size=0)

    def close(self) -> None:
        self.transport.close()

    def _need_pruning(self) -> None:
        if self.layer.pruning is None:
            raise ValueError("the network does not prune: it has no alive mask")


def _pack(space: SpaceIR, words: np.ndarray) -> bytes:
    """Words as they travel: ``nbytes`` little-endian bytes each, zero-extended."""
    w = np.asarray(words, dtype=np.int64) & ((1 << space.width) - 1)
    return w.astype(f"<u{space.nbytes}").tobytes()

